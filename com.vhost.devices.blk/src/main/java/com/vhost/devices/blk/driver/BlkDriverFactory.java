package com.vhost.devices.blk.driver;

import static com.vhost.spi.driver.ConfigValues.bool;
import static com.vhost.spi.driver.ConfigValues.number;

import com.vhost.api.registry.DeviceConfigKeys;
import com.vhost.api.registry.VirtioDriverFactory;
import com.vhost.spi.driver.VhostDriverFactory;
import java.util.Map;
import org.osgi.service.component.annotations.Component;

/**
 * Makes virtio-blk drivers for the registry. Configuration keys: {@code queues} (default 1),
 * {@code queue.size} (default 128), {@code poll} (default false), {@code packed} (default false), {@code buffer.pool.bytes}
 * (default 16 MiB), {@code swap.wait.ms} (default 10000); values may be numbers, booleans or strings.
 */
@Component(service = VirtioDriverFactory.class, property = VirtioDriverFactory.DEVICE_TYPE + "=blk")
public final class BlkDriverFactory extends VhostDriverFactory<BlkDriverOptions> {

    public BlkDriverFactory() {
        super("blk", BlkDriverFactory::options, VirtioBlkDriver.DEFAULT_SWAP_WAIT_NANOS, VirtioBlkDriver::open);
    }

    /** @return the options {@code config} asks for, defaults for absent keys */
    static BlkDriverOptions options(Map<String, Object> config) {
        BlkDriverOptions d = BlkDriverOptions.defaults();
        return new BlkDriverOptions(
                (int) number(config, DeviceConfigKeys.QUEUES, d.queues()),
                (int) number(config, DeviceConfigKeys.QUEUE_SIZE, d.queueSize()),
                bool(config, DeviceConfigKeys.POLL, d.poll()),
                number(config, DeviceConfigKeys.BUFFER_POOL_BYTES, d.bufferPoolBytes()),
                bool(config, DeviceConfigKeys.PACKED, d.packed()),
                bool(config, DeviceConfigKeys.IN_ORDER, d.inOrder()));
    }
}
