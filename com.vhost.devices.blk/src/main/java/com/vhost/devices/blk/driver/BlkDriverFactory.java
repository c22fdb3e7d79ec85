package com.vhost.devices.blk.driver;

import static com.vhost.runtime.vhost.ConfigValues.bool;
import static com.vhost.runtime.vhost.ConfigValues.number;

import com.vhost.api.VhostBackend;
import com.vhost.api.VhostException;
import com.vhost.api.blk.BlockDevice;
import com.vhost.api.registry.VirtioDriver;
import com.vhost.api.registry.VirtioDriverFactory;
import com.vhost.api.virtio.VirtioDevice;
import java.util.Map;
import org.osgi.service.component.annotations.Component;

/**
 * Makes virtio-blk drivers for the registry. Configuration keys: {@code queues} (default 1),
 * {@code queue.size} (default 128), {@code poll} (default false), {@code buffer.pool.bytes}
 * (default 16 MiB), {@code swap.wait.ms} (default 10000); values may be numbers, booleans or strings.
 */
@Component(service = VirtioDriverFactory.class, property = VirtioDriverFactory.DEVICE_TYPE + "=blk")
public final class BlkDriverFactory implements VirtioDriverFactory {
    public static final String QUEUES = "queues";
    public static final String QUEUE_SIZE = "queue.size";
    public static final String POLL = "poll";
    public static final String BUFFER_POOL_BYTES = "buffer.pool.bytes";
    /** How long requests wait, in milliseconds, while the device has no backend (hot-swap); default 10000. */
    public static final String SWAP_WAIT_MS = "swap.wait.ms";

    @Override
    public String deviceType() {
        return "blk";
    }

    @Override
    public VirtioDriver create(VhostBackend backend, Map<String, Object> config) throws VhostException {
        BlkDriverOptions options;
        long swapWaitMs;
        try {
            options = options(config);
            swapWaitMs = number(config, SWAP_WAIT_MS, VirtioBlkDriver.DEFAULT_SWAP_WAIT_NANOS / 1_000_000L);
            if (swapWaitMs < 0) {
                throw new IllegalArgumentException("'" + SWAP_WAIT_MS + "' = " + swapWaitMs + " is negative");
            }
        } catch (IllegalArgumentException e) {
            backend.close();
            throw new com.vhost.api.VirtioDeviceException("blk device configuration: " + e.getMessage(), e);
        }
        VirtioBlkDriver driver = VirtioBlkDriver.open(backend, options);
        driver.setSwapWaitNanos(java.util.concurrent.TimeUnit.MILLISECONDS.toNanos(swapWaitMs));
        driver.setDetachOnLoss(true); // the registry rebinds it when a backend is back
        return new BlkVirtioDriver(driver);
    }

    /** @return the options {@code config} asks for, defaults for absent keys */
    static BlkDriverOptions options(Map<String, Object> config) {
        BlkDriverOptions d = BlkDriverOptions.defaults();
        return new BlkDriverOptions(
                (int) number(config, QUEUES, d.queues()),
                (int) number(config, QUEUE_SIZE, d.queueSize()),
                bool(config, POLL, d.poll()),
                number(config, BUFFER_POOL_BYTES, d.bufferPoolBytes()));
    }

    /** The running driver as the registry sees it. */
    static final class BlkVirtioDriver implements VirtioDriver {
        private final VirtioBlkDriver driver;

        BlkVirtioDriver(VirtioBlkDriver driver) {
            this.driver = driver;
        }

        @Override
        public VirtioDevice device() {
            return driver.frontend();
        }

        @Override
        public <T> T api(Class<T> type) {
            return type == BlockDevice.class || type == VirtioBlkDriver.class ? type.cast(driver) : null;
        }

        @Override
        public String summary() {
            var i = driver.info();
            return String.format("blk %d MiB, block %d, %d queue(s) of %d, features 0x%x%s, %s",
                    i.capacityBytes() >> 20, i.blockSize(), i.numQueues(), i.queueSize(), i.features(),
                    i.readOnly() ? ", read-only" : "", i.backend());
        }

        @Override
        public void rebind(VhostBackend newBackend) throws VhostException {
            driver.rebind(newBackend);
        }

        @Override
        public void detach() throws VhostException {
            driver.detach();
        }

        @Override
        public byte[] snapshot() throws VhostException {
            return driver.snapshot();
        }

        @Override
        public String restore(byte[] snapshot) throws VhostException {
            return driver.restore(snapshot);
        }

        @Override
        public Map<String, Long> counters() {
            return driver.counters();
        }

        @Override
        public void close() {
            driver.close();
        }
    }
}
