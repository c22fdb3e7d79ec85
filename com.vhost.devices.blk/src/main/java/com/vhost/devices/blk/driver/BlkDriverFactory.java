package com.vhost.devices.blk.driver;

import static com.vhost.spi.driver.ConfigValues.bool;
import static com.vhost.spi.driver.ConfigValues.number;

import com.vhost.api.VhostBackend;
import com.vhost.api.VhostException;
import com.vhost.api.blk.BlockDevice;
import com.vhost.api.blk.BlockQueues;
import com.vhost.api.registry.DeviceConfigKeys;
import com.vhost.api.registry.VirtioDriver;
import com.vhost.api.registry.VirtioDriverFactory;
import com.vhost.spi.driver.DelegatingVirtioDriver;
import com.vhost.spi.driver.DriverConfigs;
import com.vhost.spi.driver.DriverConfigs.DriverConfig;
import java.util.Map;
import java.util.Set;
import org.osgi.service.component.annotations.Component;

/**
 * Makes virtio-blk drivers for the registry. Configuration keys: {@code queues} (default 1),
 * {@code queue.size} (default 128), {@code poll} (default false), {@code buffer.pool.bytes}
 * (default 16 MiB), {@code swap.wait.ms} (default 10000); values may be numbers, booleans or strings.
 */
@Component(service = VirtioDriverFactory.class, property = VirtioDriverFactory.DEVICE_TYPE + "=blk")
public final class BlkDriverFactory implements VirtioDriverFactory {

    @Override
    public String deviceType() {
        return "blk";
    }

    @Override
    public VirtioDriver create(VhostBackend backend, Map<String, Object> config) throws VhostException {
        DriverConfig<BlkDriverOptions> c = DriverConfigs.read(backend, config, "blk", BlkDriverFactory::options,
                VirtioBlkDriver.DEFAULT_SWAP_WAIT_NANOS);
        VirtioBlkDriver driver = VirtioBlkDriver.open(backend, c.options());
        driver.setSwapWaitNanos(c.swapWaitNanos());
        // The registry rebinds a detached driver when a backend is back; one-shot tools ask to fail at once.
        driver.setDetachOnLoss(bool(config, DeviceConfigKeys.DETACH_ON_LOSS, true));
        return new DelegatingVirtioDriver(driver, Set.of(BlockDevice.class, BlockQueues.class, VirtioBlkDriver.class),
                new DelegatingVirtioDriver.Ops(driver::frontend, () -> summary(driver), driver::rebind, driver::detach,
                        driver::snapshot, driver::restore, driver::counters, driver::close));
    }

    /** @return the options {@code config} asks for, defaults for absent keys */
    static BlkDriverOptions options(Map<String, Object> config) {
        BlkDriverOptions d = BlkDriverOptions.defaults();
        return new BlkDriverOptions(
                (int) number(config, DeviceConfigKeys.QUEUES, d.queues()),
                (int) number(config, DeviceConfigKeys.QUEUE_SIZE, d.queueSize()),
                bool(config, DeviceConfigKeys.POLL, d.poll()),
                number(config, DeviceConfigKeys.BUFFER_POOL_BYTES, d.bufferPoolBytes()));
    }

    /** @return the driver's one-line description for the registry */
    private static String summary(VirtioBlkDriver driver) {
        var i = driver.info();
        return String.format("blk %d MiB, block %d, %d queue(s) of %d, features 0x%x%s, %s",
                i.capacityBytes() >> 20, i.blockSize(), i.numQueues(), i.queueSize(), i.features(),
                i.readOnly() ? ", read-only" : "", i.backend());
    }
}
