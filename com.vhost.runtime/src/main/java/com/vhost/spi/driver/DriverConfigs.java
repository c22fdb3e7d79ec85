package com.vhost.spi.driver;

import com.vhost.api.VhostBackend;
import com.vhost.api.VirtioDeviceException;
import com.vhost.api.registry.DeviceConfigKeys;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/**
 * What the device bundles' driver factories read from a device's configuration before they open
 * a driver on a backend: the driver's own options and {@code swap.wait.ms} ({@link DeviceConfigKeys#SWAP_WAIT_MS}).
 */
public final class DriverConfigs {
    private DriverConfigs() {}

    /**
     * A driver's configuration.
     *
     * @param options the driver's options
     * @param swapWaitNanos {@code swap.wait.ms} in nanoseconds
     * @param detachOnLoss {@code detach.on.loss} ({@link DeviceConfigKeys#DETACH_ON_LOSS}; default true)
     */
    public record DriverConfig<O>(O options, long swapWaitNanos, boolean detachOnLoss) {}

    /**
     * Reads a driver's configuration; when it is invalid, closes {@code backend} (which the
     * factory owns) and throws.
     *
     * @param device the device type for messages ("blk")
     * @param options reads the driver's options, throwing {@link IllegalArgumentException} naming a bad key
     * @param defaultSwapWaitNanos {@code swap.wait.ms} when absent, nanoseconds (used in whole milliseconds)
     * @throws VirtioDeviceException "&lt;device&gt; device configuration: &lt;what is wrong&gt;"
     */
    public static <O> DriverConfig<O> read(VhostBackend backend, Map<String, Object> config, String device,
            Function<Map<String, Object>, O> options, long defaultSwapWaitNanos) throws VirtioDeviceException {
        try {
            O o = options.apply(config);
            long swapWaitMs = ConfigValues.number(config, DeviceConfigKeys.SWAP_WAIT_MS, defaultSwapWaitNanos / 1_000_000L);
            if (swapWaitMs < 0) {
                throw new IllegalArgumentException("'" + DeviceConfigKeys.SWAP_WAIT_MS + "' = " + swapWaitMs + " is negative");
            }
            boolean detachOnLoss = ConfigValues.bool(config, DeviceConfigKeys.DETACH_ON_LOSS, true);
            return new DriverConfig<>(o, TimeUnit.MILLISECONDS.toNanos(swapWaitMs), detachOnLoss);
        } catch (IllegalArgumentException e) {
            backend.close();
            throw new VirtioDeviceException(device + " device configuration: " + e.getMessage(), e);
        }
    }
}
