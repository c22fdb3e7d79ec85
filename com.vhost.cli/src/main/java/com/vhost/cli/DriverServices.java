package com.vhost.cli;

import com.vhost.api.VhostBackend;
import com.vhost.api.backend.BackendServer;
import com.vhost.api.backend.DeviceModel;
import com.vhost.api.backend.DeviceModelFactory;
import com.vhost.api.backend.ServedBackend;
import com.vhost.api.backend.SocketOptions;
import com.vhost.api.registry.DeviceConfigKeys;
import com.vhost.api.registry.VirtioDriver;
import com.vhost.api.registry.VirtioDriverFactory;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/**
 * What the blk and net tools share: the services of one device type's bundle (its
 * {@link DeviceModelFactory} and {@link VirtioDriverFactory}) and of {@code com.vhost.user} (the
 * {@link BackendServer}), and the {@link VirtioDriver} behind each handle the CLI opened.
 */
final class DriverServices {
    private final CliServices services;
    private final String type;
    private final String what;
    private final String bundle;
    private final Drivers drivers = new Drivers();

    /**
     * @param type the device type ({@code blk}, {@code net}), as in {@code vhost.device.type}
     * @param what the device for messages ({@code virtio-blk})
     * @param bundle the bundle that registers its factories, named when they are missing
     */
    DriverServices(CliServices services, String type, String what, String bundle) {
        this.services = services;
        this.type = type;
        this.what = what;
        this.bundle = bundle;
    }

    /** @return a new model of this type made from {@code config} ({@link DeviceConfigKeys}) */
    DeviceModel model(Map<String, Object> config) throws Exception {
        DeviceModelFactory factory = services.service(DeviceModelFactory.class, "(" + DeviceModelFactory.DEVICE_TYPE + "=" + type + ")",
                what + " device model factory", bundle);
        return factory.create(config);
    }

    /**
     * Serves {@code model} on {@code socket} with the socket file's mode and group from
     * {@code access}; the model is closed when that fails.
     */
    ServedBackend serve(Path socket, SocketOptions access, DeviceModel model) throws Exception {
        BackendServer server;
        try {
            server = services.service(BackendServer.class, null, "vhost-user back-end server", "com.vhost.user");
        } catch (RuntimeException | InterruptedException e) {
            model.close();
            throw e;
        }
        return server.serve(socket, model, access);
    }

    /**
     * Starts a driver of this type on {@code backend} for a one-shot command: its requests fail at
     * once when the back-end goes away ({@code detach.on.loss=false}) instead of waiting for a
     * rebind.
     *
     * @param backend owned from now on (closed on failure)
     * @param api the application handle wanted ({@code BlockDevice.class})
     * @return the handle; {@link #driver} finds its driver
     */
    <T> T open(VhostBackend backend, int queues, int queueSize, boolean poll, Class<T> api) throws Exception {
        return open(backend, queues, queueSize, poll, Map.of(DeviceConfigKeys.DETACH_ON_LOSS, false), api);
    }

    /**
     * Starts a driver of this type on {@code backend} with {@code extra} configuration keys
     * ({@link DeviceConfigKeys}, e.g. {@code detach.on.loss=true} and {@code swap.wait.ms} for a
     * driver that waits for a reconnect) over the queues, queue size and poll given.
     *
     * @param backend owned from now on (closed on failure)
     * @param extra keys added to (and overriding) the queue keys
     * @param api the application handle wanted ({@code BlockDevice.class})
     * @return the handle; {@link #driver} finds its driver
     * @throws IllegalStateException when the driver factory is missing or makes no {@code api}
     * @throws Exception from the driver factory (negotiation, setup)
     */
    <T> T open(VhostBackend backend, int queues, int queueSize, boolean poll, Map<String, Object> extra, Class<T> api)
            throws Exception {
        VirtioDriverFactory factory;
        try {
            factory = services.service(VirtioDriverFactory.class, "(" + VirtioDriverFactory.DEVICE_TYPE + "=" + type + ")",
                    what + " driver factory", bundle);
        } catch (RuntimeException | InterruptedException e) {
            backend.close();
            throw e;
        }
        Map<String, Object> config = new HashMap<>();
        config.put(DeviceConfigKeys.QUEUES, queues);
        config.put(DeviceConfigKeys.QUEUE_SIZE, queueSize);
        config.put(DeviceConfigKeys.POLL, poll);
        config.put(DeviceConfigKeys.DETACH_ON_LOSS, false);
        config.putAll(extra);
        VirtioDriver driver = factory.create(backend, config);
        T handle = driver.api(api);
        if (handle == null) {
            driver.close();
            throw new IllegalStateException("the " + what + " driver factory made a driver without a " + api.getSimpleName() + ": "
                    + driver.summary());
        }
        drivers.put(handle, driver);
        return handle;
    }

    /**
     * Starts a driver of this type that, when its back-end goes away, detaches and holds its
     * requests (blk) or frames (net) for up to {@code swapWaitMs} for a rebind instead of failing
     * ({@code detach.on.loss=true}, {@code swap.wait.ms}); {@link #reconnectView} gives the view
     * that rebinds it.
     *
     * @param backend owned from now on (closed on failure)
     * @param swapWaitMs how long held work waits for a new back-end, in milliseconds (then it
     *     fails with {@link com.vhost.api.VhostDisconnectedException})
     * @throws IllegalStateException when the driver factory is missing or makes no {@code api}
     * @throws Exception from the driver factory (negotiation, setup)
     */
    <T> T openReconnectable(VhostBackend backend, int queues, int queueSize, boolean poll, long swapWaitMs, Class<T> api)
            throws Exception {
        return open(backend, queues, queueSize, poll,
                Map.of(DeviceConfigKeys.DETACH_ON_LOSS, true, DeviceConfigKeys.SWAP_WAIT_MS, swapWaitMs), api);
    }

    /**
     * The reconnect view of a handle from {@link #open}: its driver's {@code detached} counter
     * (VirtioDriver#counters, 0/1) and {@code rebind}.
     *
     * @return null for another object
     */
    ReconnectView reconnectView(Object handle) {
        VirtioDriver driver = drivers.get(handle);
        if (driver == null) {
            return null;
        }
        return new ReconnectView() {
            @Override
            public boolean detached() {
                return driver.counters().getOrDefault("detached", 0L) != 0;
            }

            @Override
            public void rebind(VhostBackend newBackend) throws Exception {
                driver.rebind(newBackend);
            }
        };
    }

    /** @return the driver behind a handle from {@link #open}, or null for another object */
    VirtioDriver driver(Object handle) {
        return drivers.get(handle);
    }

    /**
     * The hot-swap view of a handle from {@link #open}: {@code rebind} and the pause counters
     * ({@code pauses.measured}, {@code last.pause.ns}) of its driver.
     *
     * @return null for another object
     */
    MeasuredSwap measuredSwap(Object handle) {
        VirtioDriver driver = drivers.get(handle);
        if (driver == null) {
            return null;
        }
        return new MeasuredSwap() {
            @Override
            public void rebind(VhostBackend newBackend) throws Exception {
                driver.rebind(newBackend);
            }

            @Override
            public long pausesMeasured() {
                return driver.counters().getOrDefault("pauses.measured", 0L);
            }

            @Override
            public long lastPauseNanos() {
                return driver.counters().getOrDefault("last.pause.ns", -1L);
            }
        };
    }
}
