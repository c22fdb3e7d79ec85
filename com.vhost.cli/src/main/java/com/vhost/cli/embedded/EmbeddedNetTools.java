package com.vhost.cli.embedded;

import com.vhost.api.VhostBackend;
import com.vhost.api.net.NetDevice;
import com.vhost.cli.NetTools;
import com.vhost.devices.net.driver.NetDriverOptions;
import com.vhost.devices.net.driver.NetMacs;
import com.vhost.devices.net.driver.SequencedStream;
import com.vhost.devices.net.driver.VirtioNetDriver;
import com.vhost.devices.net.model.AbstractNetModel;
import com.vhost.devices.net.model.LoopbackNetModel;
import com.vhost.devices.net.model.TapNetModel;
import com.vhost.user.backend.VhostUserServer;
import java.nio.file.Path;

/** {@link NetTools} over {@link LoopbackNetModel}, {@link TapNetModel}, {@link VhostUserServer} and {@link VirtioNetDriver}. */
public final class EmbeddedNetTools implements NetTools {
    @Override
    public Served serveLoopback(Path socket, int pairs, int queueSize, String mac, int mtu, boolean poll) throws Exception {
        return serve(socket, new LoopbackNetModel(pairs, queueSize, NetMacs.parse(mac), mtu), "loopback", pairs, queueSize, mac, mtu, poll);
    }

    @Override
    public Served serveTap(Path socket, String tap, int queueSize, String mac, int mtu, boolean poll) throws Exception {
        return serve(socket, new TapNetModel(tap, queueSize, NetMacs.parse(mac), mtu), "TAP " + tap, 1, queueSize, mac, mtu, poll);
    }

    private static Served serve(Path socket, AbstractNetModel model, String what, int pairs, int queueSize, String mac, int mtu,
            boolean poll) throws Exception {
        model.setPolling(poll);
        VhostUserServer server = new VhostUserServer(socket, model);
        try {
            server.start();
        } catch (Exception | Error e) {
            server.close();
            model.close();
            throw e;
        }
        return new Served() {
            @Override
            public String describe() {
                return "virtio-net " + what + ", " + pairs + " queue pair(s) of " + queueSize + ", MAC " + mac + ", MTU " + mtu
                        + (poll ? ", polling" : "") + ", on " + socket;
            }

            @Override
            public String counters() {
                StringBuilder b = new StringBuilder();
                for (int p = 0; p < pairs; p++) {
                    b.append("pair ").append(p).append(": ").append(model.counters(p)).append('\n');
                }
                return b.toString();
            }

            @Override
            public void close() {
                server.close();
                model.close();
            }
        };
    }

    @Override
    public NetDevice openDevice(VhostBackend backend, int pairs, int queueSize, boolean poll) throws Exception {
        return VirtioNetDriver.open(backend, NetDriverOptions.defaults().withQueuePairs(pairs).withQueueSize(queueSize).withPoll(poll));
    }

    @Override
    public NetSwap swappable(NetDevice device) {
        if (!(device instanceof VirtioNetDriver driver)) {
            return null;
        }
        return new NetSwap() {
            @Override
            public void rebind(VhostBackend newBackend) throws Exception {
                driver.rebind(newBackend);
            }

            @Override
            public long pausesMeasured() {
                return driver.pausesMeasured();
            }

            @Override
            public long lastPauseNanos() {
                return driver.lastPauseNanos();
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
