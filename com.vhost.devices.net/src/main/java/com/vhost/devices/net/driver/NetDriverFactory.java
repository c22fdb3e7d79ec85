package com.vhost.devices.net.driver;

import static com.vhost.runtime.vhost.ConfigValues.bool;
import static com.vhost.runtime.vhost.ConfigValues.number;

import com.vhost.api.VhostBackend;
import com.vhost.api.VhostException;
import com.vhost.api.VirtioDeviceException;
import com.vhost.api.net.NetDevice;
import com.vhost.api.registry.VirtioDriver;
import com.vhost.api.registry.VirtioDriverFactory;
import com.vhost.api.virtio.VirtioDevice;
import java.util.Map;
import org.osgi.service.component.annotations.Component;

/**
 * Makes virtio-net drivers for the registry. Configuration keys: {@code queues} (queue pairs,
 * default 1), {@code queue.size} (default 256), {@code rx.buffer.bytes} (default 2048),
 * {@code poll} (default false), {@code mrg.rxbuf} (default true), {@code mac} (default: the
 * device's, else random); values may be numbers, booleans or strings.
 */
@Component(service = VirtioDriverFactory.class, property = VirtioDriverFactory.DEVICE_TYPE + "=net")
public final class NetDriverFactory implements VirtioDriverFactory {
    public static final String QUEUES = "queues";
    public static final String QUEUE_SIZE = "queue.size";
    public static final String RX_BUFFER_BYTES = "rx.buffer.bytes";
    public static final String POLL = "poll";
    public static final String MRG_RXBUF = "mrg.rxbuf";
    public static final String MAC = "mac";

    @Override
    public String deviceType() {
        return "net";
    }

    @Override
    public VirtioDriver create(VhostBackend backend, Map<String, Object> config) throws VhostException {
        NetDriverOptions options;
        try {
            options = options(config);
        } catch (IllegalArgumentException e) {
            backend.close();
            throw new VirtioDeviceException("net device configuration: " + e.getMessage(), e);
        }
        return new NetVirtioDriver(VirtioNetDriver.open(backend, options));
    }

    /** @return the options {@code config} asks for, defaults for absent keys */
    static NetDriverOptions options(Map<String, Object> config) {
        NetDriverOptions d = NetDriverOptions.defaults();
        Object mac = config.get(MAC);
        return new NetDriverOptions(
                (int) number(config, QUEUES, d.queuePairs()),
                (int) number(config, QUEUE_SIZE, d.queueSize()),
                (int) number(config, RX_BUFFER_BYTES, d.rxBufferBytes()),
                bool(config, POLL, d.poll()),
                bool(config, MRG_RXBUF, d.mergeableRxBuffers()),
                mac == null ? null : NetMacs.parse(mac.toString()));
    }

    /** The running driver as the registry sees it. */
    static final class NetVirtioDriver implements VirtioDriver {
        private final VirtioNetDriver driver;

        NetVirtioDriver(VirtioNetDriver driver) {
            this.driver = driver;
        }

        @Override
        public VirtioDevice device() {
            return driver.frontend();
        }

        @Override
        public <T> T api(Class<T> type) {
            return type == NetDevice.class || type == VirtioNetDriver.class ? type.cast(driver) : null;
        }

        @Override
        public String summary() {
            var i = driver.info();
            return String.format("net %s, mtu %d, %d/%d queue pair(s) of %d, features 0x%x%s, link %s, %s", i.mac(), i.mtu(),
                    driver.queuePairs(), i.maxQueuePairs(), i.queueSize(), i.features(), i.mergeableRxBuffers() ? ", mrg_rxbuf" : "",
                    driver.linkUp() ? "up" : "down", i.backend());
        }

        @Override
        public void close() {
            driver.close();
        }
    }
}
