package com.vhost.cli;

import com.vhost.api.VhostBackend;
import com.vhost.api.backend.DeviceModel;
import com.vhost.api.backend.ServedBackend;
import com.vhost.api.backend.SocketOptions;
import com.vhost.api.net.NetDevice;
import com.vhost.api.registry.DeviceConfigKeys;
import com.vhost.spi.workload.SequencedStream;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/**
 * {@link NetTools} over services only: the virtio-net {@code DeviceModelFactory} and
 * {@code VirtioDriverFactory} of bundle {@code com.vhost.devices.net}, and the vhost-user
 * {@code BackendServer} of bundle {@code com.vhost.user} (see {@link DriverServices}). A missing
 * bundle is named in the {@link IllegalStateException} of the first call that needs it.
 */
final class ServiceNetTools implements NetTools {
    private final DriverServices net;

    ServiceNetTools(CliServices services) {
        this.net = new DriverServices(services, "net", "virtio-net", "com.vhost.devices.net");
    }

    @Override
    public Served serveLoopback(Path socket, SocketOptions access, int pairs, int queueSize, String mac, int mtu, boolean poll)
            throws Exception {
        return serve(socket, access, model(pairs, queueSize, mac, mtu, poll, null));
    }

    @Override
    public Served serveTap(Path socket, SocketOptions access, String tap, int queueSize, String mac, int mtu, boolean poll)
            throws Exception {
        return serve(socket, access, model(1, queueSize, mac, mtu, poll, tap));
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
        return net.model(config);
    }

    private Served serve(Path socket, SocketOptions access, DeviceModel model) throws Exception {
        ServedBackend served = net.serve(socket, access, model);
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
        return net.open(backend, pairs, queueSize, poll, NetDevice.class);
    }

    @Override
    public NetDevice openDevice(VhostBackend backend, int pairs, int queueSize, boolean poll, boolean packed) throws Exception {
        return net.open(backend, pairs, queueSize, poll,
                Map.of(DeviceConfigKeys.DETACH_ON_LOSS, false, DeviceConfigKeys.PACKED, packed), NetDevice.class);
    }

    @Override
    public NetDevice openDevice(VhostBackend backend, int pairs, int queueSize, boolean poll, boolean packed, boolean inOrder)
            throws Exception {
        return net.open(backend, pairs, queueSize, poll, Map.of(DeviceConfigKeys.DETACH_ON_LOSS, false, DeviceConfigKeys.PACKED, packed,
                DeviceConfigKeys.IN_ORDER, inOrder), NetDevice.class);
    }

    @Override
    public NetDevice openReconnectable(VhostBackend backend, int pairs, int queueSize, boolean poll, long swapWaitMs, boolean inOrder)
            throws Exception {
        return net.open(backend, pairs, queueSize, poll, Map.of(DeviceConfigKeys.DETACH_ON_LOSS, true, DeviceConfigKeys.SWAP_WAIT_MS,
                swapWaitMs, DeviceConfigKeys.IN_ORDER, inOrder), NetDevice.class);
    }

    @Override
    public NetDevice openReconnectable(VhostBackend backend, int pairs, int queueSize, boolean poll, long swapWaitMs)
            throws Exception {
        return net.openReconnectable(backend, pairs, queueSize, poll, swapWaitMs, NetDevice.class);
    }

    @Override
    public ReconnectView reconnectable(NetDevice device) {
        return net.reconnectView(device);
    }

    @Override
    public MeasuredSwap swappable(NetDevice device) {
        return net.measuredSwap(device);
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
