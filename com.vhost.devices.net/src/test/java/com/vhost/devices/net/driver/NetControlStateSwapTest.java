package com.vhost.devices.net.driver;

import static com.vhost.user.testing.NetFrames.echo;
import static org.assertj.core.api.Assertions.assertThat;

import com.vhost.api.VhostBackend;
import com.vhost.api.VhostTarget;
import com.vhost.devices.net.model.LoopbackNetModel;
import com.vhost.user.VhostUserOps;
import com.vhost.user.backend.VhostUserServer;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * What a hot-swap of a running {@link VirtioNetDriver} between two {@link VhostUserServer}s
 * serving the echo model ({@link LoopbackNetModel}) replays besides the rings: the control state
 * (MAC, RX mode, active queue pairs) on the new back-end. Rebinds under load, detach, refusals and a
 * dying back-end are the driver contract's ({@link NetDriverContractTest}).
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class NetControlStateSwapTest {
    private static final byte[] MAC_A = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
    private static final byte[] MAC_B = {0x52, 0x54, 0x00, 0x65, 0x43, 0x21};

    @TempDir
    Path dir;

    private static VhostBackend connect(Path sock) throws Exception {
        return new VhostUserOps().open(VhostTarget.of(sock.toString()));
    }

    @Test
    void controlStateIsReplayedOnTheNewBackend() throws Exception {
        Path sa = dir.resolve("a.sock");
        Path sb = dir.resolve("b.sock");
        try (LoopbackNetModel ma = new LoopbackNetModel(2, 256, MAC_A, 1500);
                LoopbackNetModel mb = new LoopbackNetModel(2, 256, MAC_B, 1500);
                VhostUserServer a = new VhostUserServer(sa, ma);
                VhostUserServer b = new VhostUserServer(sb, mb)) {
            a.start();
            b.start();
            try (VirtioNetDriver net = VirtioNetDriver.open(connect(sa), NetDriverOptions.defaults().withQueuePairs(2))) {
                net.setMac(NetMacs.parse("02:00:00:00:00:42"));
                net.setPromiscuous(true);
                net.setAllMulticast(true);
                java.util.Set<Thread> ctrl = controlWorkers();
                assertThat(ctrl).hasSize(1);
                net.rebind(connect(sb));
                assertThat(controlWorkers()).as("the same control worker serves the new front-end: no thread started in the pause")
                        .isEqualTo(ctrl);
                assertThat(net.queuePairs()).isEqualTo(2);
                assertThat(NetMacs.format(net.mac())).isEqualTo("02:00:00:00:00:42");
                assertThat(net.frontend().promiscuous()).isTrue();
                assertThat(net.frontend().allMulticast()).isTrue();
                echo(net, 1, 300, 16); // pair 1's rings were started enabled on b
                assertThat(mb.counters(1).txPackets()).isEqualTo(300);
                net.setQueuePairs(1);
                net.rebind(connect(sa));
                assertThat(net.queuePairs()).isEqualTo(1);
                echo(net, 0, 100, 16);
                net.setQueuePairs(2); // the control queue works on the new backend too
                echo(net, 1, 100, 16);
                assertThat(ma.counters(1).txPackets()).isEqualTo(100);
                assertThat(controlWorkers()).isEqualTo(ctrl);
            }
            assertThat(controlWorkers()).as("stopped with the driver").isEmpty();
        }
    }

    /** @return the live control-queue worker threads (this class's driver is the only one running) */
    private static java.util.Set<Thread> controlWorkers() {
        java.util.Set<Thread> out = new java.util.HashSet<>();
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            if (t.getName().equals("vhost-net-ctrl") && t.isAlive()) {
                out.add(t);
            }
        }
        return out;
    }

}
