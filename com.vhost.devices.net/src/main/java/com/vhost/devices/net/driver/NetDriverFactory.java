package com.vhost.devices.net.driver;

import static com.vhost.spi.driver.ConfigValues.bool;
import static com.vhost.spi.driver.ConfigValues.number;

import com.vhost.api.registry.DeviceConfigKeys;
import com.vhost.api.registry.VirtioDriver;
import com.vhost.api.registry.VirtioDriverFactory;
import com.vhost.spi.driver.VhostDriverFactory;
import java.util.Map;
import org.osgi.service.component.annotations.Component;

/**
 * Makes virtio-net drivers for the registry. Configuration keys: {@code queues} (queue pairs,
 * default 1), {@code queue.size} (default 256), {@code rx.buffer.bytes} (default 2048),
 * {@code poll} (default false), {@code packed} (default false), {@code mrg.rxbuf} (default true), {@code mac} (default: the
 * device's, else random), {@code swap.wait.ms} (default 10000: how long data-path calls wait for a
 * swap, and a detached device for a new backend); values may be numbers, booleans or strings.
 * The drivers made support hot-swap ({@link VirtioDriver#rebind}, {@link VirtioDriver#detach})
 * and detach, rather than fail, when their backend goes away.
 */
@Component(service = VirtioDriverFactory.class, property = VirtioDriverFactory.DEVICE_TYPE + "=net")
public final class NetDriverFactory extends VhostDriverFactory<NetDriverOptions> {

    public NetDriverFactory() {
        super("net", NetDriverFactory::options, VirtioNetDriver.DEFAULT_SWAP_WAIT_NANOS, VirtioNetDriver::open);
    }

    /**
     * @return the options {@code config} asks for, defaults for absent keys; {@code mac} as
     *     {@code 52:54:00:12:34:56}
     * @throws IllegalArgumentException naming a key whose value is not a number, boolean or MAC
     */
    static NetDriverOptions options(Map<String, Object> config) {
        Object mac = config.get(DeviceConfigKeys.MAC);
        NetDriverOptions d = NetDriverOptions.defaults();
        return new NetDriverOptions(
                (int) number(config, DeviceConfigKeys.QUEUES, d.queuePairs()),
                (int) number(config, DeviceConfigKeys.QUEUE_SIZE, d.queueSize()),
                (int) number(config, DeviceConfigKeys.RX_BUFFER_BYTES, d.rxBufferBytes()),
                bool(config, DeviceConfigKeys.POLL, d.poll()),
                bool(config, DeviceConfigKeys.MRG_RXBUF, d.mergeableRxBuffers()),
                mac == null ? null : NetMacs.parse(mac.toString()),
                bool(config, DeviceConfigKeys.PACKED, d.packed()),
                bool(config, DeviceConfigKeys.IN_ORDER, d.inOrder()));
    }
}
