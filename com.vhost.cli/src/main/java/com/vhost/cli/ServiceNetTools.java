package com.vhost.cli;

import com.vhost.api.VhostBackend;
import com.vhost.api.backend.BackendServer;
import com.vhost.api.backend.DeviceModel;
import com.vhost.api.backend.DeviceModelFactory;
import com.vhost.api.backend.ServedBackend;
import com.vhost.api.net.NetDevice;
import com.vhost.api.registry.DeviceConfigKeys;
import com.vhost.api.registry.VirtioDriver;
import com.vhost.api.registry.VirtioDriverFactory;
import com.vhost.spi.workload.SequencedStream;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/**
 * {@link NetTools} over services only: the virtio-net {@link DeviceModelFactory} and
 * {@link VirtioDriverFactory} of bundle {@code com.vhost.devices.net}, and the vhost-user
 * {@link BackendServer} of bundle {@code com.vhost.user}. A missing bundle is named in the
 * {@link IllegalStateException} of the first call that needs it.
 */
final class ServiceNetTools implements NetTools {
    private final CliServices services;
    private final Drivers drivers = new Drivers();

    ServiceNetTools(CliServices services) {
        this.services = services;
    }

    @Override
    public Served serveLoopback(Path socket, int pairs, int queueSize, String mac, int mtu, boolean poll) throws Exception {
        return serve(socket, model(pairs, queueSize, mac, mtu, poll, null));
    }

    @Override
    public Served serveTap(Path socket, String tap, int queueSize, String mac, int mtu, boolean poll) throws Exception {
        return serve(socket, model(1, queueSize, mac, mtu, poll, tap));
    }

    private DeviceModel model(int pairs, int queueSize, String mac, int mtu, boolean poll, String tap) throws Exception {
        Map<String, Object> config = new HashMap<>();
        config.put(DeviceConfigKeys.QUEUES, pairs);
        config.put(DeviceConfigKeys.QUEUE_SIZE, queueSize);
        config.put(DeviceConfigKeys.MAC, mac);
        config.put(DeviceConfigKeys.MTU, mtu);
        config.put(DeviceConfigKeys.POLL, poll);
        if (tap != null) {
            config.put(DeviceConfigKeys.TAP, tap);
        }
        DeviceModelFactory factory = services.service(DeviceModelFactory.class, "(" + DeviceModelFactory.DEVICE_TYPE + "=net)",
                "virtio-net device model factory", "com.vhost.devices.net");
        return factory.create(config);
    }

    private Served serve(Path socket, DeviceModel model) throws Exception {
        BackendServer server;
        try {
            server = services.service(BackendServer.class, null, "vhost-user back-end server", "com.vhost.user");
        } catch (RuntimeException | InterruptedException e) {
            model.close();
            throw e;
        }
        ServedBackend served = server.serve(socket, model);
        return new Served() {
            @Override
            public String describe() {
                return model.describe() + ", on " + socket;
            }

            @Override
            public String counters() {
                return model.report();
            }

            @Override
            public void close() {
                served.close();
            }
        };
    }

    @Override
    public NetDevice openDevice(VhostBackend backend, int pairs, int queueSize, boolean poll) throws Exception {
        VirtioDriverFactory factory;
        try {
            factory = services.service(VirtioDriverFactory.class, "(" + VirtioDriverFactory.DEVICE_TYPE + "=net)",
                    "virtio-net driver factory", "com.vhost.devices.net");
        } catch (RuntimeException | InterruptedException e) {
            backend.close();
            throw e;
        }
        // A one-shot command fails at once when its back-end goes away instead of waiting for a rebind.
        VirtioDriver driver = factory.create(backend, Map.of(DeviceConfigKeys.QUEUES, pairs, DeviceConfigKeys.QUEUE_SIZE, queueSize,
                DeviceConfigKeys.POLL, poll, DeviceConfigKeys.DETACH_ON_LOSS, false));
        NetDevice device = driver.api(NetDevice.class);
        if (device == null) {
            driver.close();
            throw new IllegalStateException("the virtio-net driver factory made a driver without a NetDevice: " + driver.summary());
        }
        drivers.put(device, driver);
        return device;
    }

    @Override
    public NetSwap swappable(NetDevice device) {
        VirtioDriver driver = drivers.get(device);
        if (driver == null) {
            return null;
        }
        return new NetSwap() {
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

    @Override
    public EchoStream startEchoStream(NetDevice device, int pair, int window, int burst) {
        SequencedStream s = new SequencedStream(device, pair, window, burst);
        s.start();
        return new EchoStream() {
            @Override
            public long received() {
                return s.received();
            }

            @Override
            public long[] stop(long drainMillis) throws InterruptedException {
                SequencedStream.Result r = s.stop(drainMillis);
                return new long[] {r.sent(), r.received(), r.lost(), r.duplicated(), r.reordered(), r.corrupted()};
            }

            @Override
            public String firstError() {
                Throwable e = s.firstError();
                return e == null ? null : e.toString();
            }
        };
    }
}
