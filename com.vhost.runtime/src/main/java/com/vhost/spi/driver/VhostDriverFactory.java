package com.vhost.spi.driver;

import com.vhost.api.VhostBackend;
import com.vhost.api.VhostException;
import com.vhost.api.registry.VirtioDriver;
import com.vhost.api.registry.VirtioDriverFactory;
import java.util.Map;
import java.util.Objects;
import java.util.function.Function;

/**
 * A device bundle's {@link VirtioDriverFactory} for a {@link VhostDriver}: reads the driver's
 * options and {@code swap.wait.ms} ({@link DriverConfigs#read}), opens the driver on the backend
 * and sets detach-on-loss ({@code detach.on.loss}, default on: the registry rebinds the device
 * when a backend is back; one-shot tools turn it off to fail at once). A
 * subclass is the DS component and gives the device type, its options reader and its opener.
 *
 * @param <O> the driver's options
 */
public abstract class VhostDriverFactory<O> implements VirtioDriverFactory {
    /** Opens a driver on a backend it owns from then on (closed on failure). */
    @FunctionalInterface
    public interface Opener<O> {
        VhostDriver<?, ?> open(VhostBackend backend, O options) throws VhostException;
    }

    private final String deviceType;
    private final Function<Map<String, Object>, O> options;
    private final long defaultSwapWaitNanos;
    private final Opener<O> opener;

    /**
     * @param deviceType the registry's device type, e.g. {@code blk}
     * @param options reads the options from a configuration, throwing
     *     {@link IllegalArgumentException} naming a bad key
     * @param defaultSwapWaitNanos {@code swap.wait.ms} when absent, ns
     * @param opener opens the driver
     */
    protected VhostDriverFactory(String deviceType, Function<Map<String, Object>, O> options, long defaultSwapWaitNanos,
            Opener<O> opener) {
        this.deviceType = Objects.requireNonNull(deviceType, "deviceType");
        this.options = Objects.requireNonNull(options, "options");
        this.defaultSwapWaitNanos = defaultSwapWaitNanos;
        this.opener = Objects.requireNonNull(opener, "opener");
    }

    @Override
    public final String deviceType() {
        return deviceType;
    }

    /**
     * @throws com.vhost.api.VirtioDeviceException "TYPE device configuration: ..." for a bad
     *     option ({@code backend} closed)
     * @throws VhostException from opening the driver ({@code backend} closed)
     */
    @Override
    public final VirtioDriver create(VhostBackend backend, Map<String, Object> config) throws VhostException {
        DriverConfigs.DriverConfig<O> c = DriverConfigs.read(backend, config, deviceType, options, defaultSwapWaitNanos);
        VhostDriver<?, ?> driver = opener.open(backend, c.options());
        driver.setSwapWaitNanos(c.swapWaitNanos());
        driver.setDetachOnLoss(c.detachOnLoss());
        return driver;
    }
}
