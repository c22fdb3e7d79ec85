package com.vhost.devices.net.driver;

import static com.vhost.user.testing.NetFrames.echo;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.vhost.api.VhostException;
import com.vhost.api.VhostFeatureException;
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
 * {@link VirtioNetDriver#snapshot()} / {@link VirtioNetDriver#restore(byte[])} of a running
 * virtio-net device over a real vhost-user socket to the echo model: a snapshot stops and
 * restarts the rings in place (a sequenced stream through it loses nothing); a restore resets the
 * rings at the snapshot's indices with the snapshot's control state, so a snapshot right after
 * equals the one restored; bad snapshots are refused by name and change nothing.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class NetDriverSnapshotTest {
    private static final byte[] MAC = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};

    @TempDir
    Path dir;

    private static VirtioNetDriver open(Path sock, int pairs) throws VhostException {
        NetDriverOptions d = NetDriverOptions.defaults();
        return VirtioNetDriver.open(new VhostUserOps().open(VhostTarget.of(sock.toString())),
                new NetDriverOptions(pairs, d.queueSize(), d.rxBufferBytes(), d.poll(), d.mergeableRxBuffers(), null));
    }

    @Test
    void snapshotAfterRestoreEqualsTheSnapshotAndControlStateComesBack() throws Exception {
        Path sock = dir.resolve("echo.sock");
        try (LoopbackNetModel model = new LoopbackNetModel(2, 256, MAC, 1500);
                VhostUserServer server = new VhostUserServer(sock, model)) {
            server.start();
            try (VirtioNetDriver net = open(sock, 2)) {
                net.setQueuePairs(2);
                echo(net, 0, 100, 16);
                echo(net, 1, 50, 16);
                byte[] s1 = net.snapshot();
                net.setPromiscuous(true);
                net.setQueuePairs(1);
                echo(net, 0, 300, 32); // moves pair 0's indices away from the snapshot's
                assertThat(net.snapshot()).as("indices and control state moved").isNotEqualTo(s1);
                String r = net.restore(s1);
                assertThat(r).contains("restored on").contains("0 frame(s) waiting to be sent dropped");
                assertThat(net.queuePairs()).as("active pairs from the snapshot").isEqualTo(2);
                assertThat(net.frontend().promiscuous()).as("RX mode from the snapshot").isFalse();
                byte[] s2 = net.snapshot();
                assertThat(s2).as("snapshot after restore equals the snapshot restored").isEqualTo(s1);
                echo(net, 0, 200, 32); // the restored device still echoes, intact and in order
                echo(net, 1, 200, 32);
            }
        }
    }

    @Test
    void aSnapshotOfOtherAckedFeaturesIsRefusedByNameAndTheDeviceKeepsWorking() throws Exception {
        // garbage, truncation and a snapshot of another geometry: the driver contract
        Path sockA = dir.resolve("a.sock");
        try (LoopbackNetModel a = new LoopbackNetModel(2, 256, MAC, 1500);
                VhostUserServer sa = new VhostUserServer(sockA, a)) {
            sa.start();
            try (VirtioNetDriver net = open(sockA, 2)) {
                byte[] good = net.snapshot();
                byte[] flipped = good.clone();
                flipped[15] ^= 0x20; // a bit of ackedFeatures
                assertThatThrownBy(() -> net.restore(flipped))
                        .isInstanceOf(VhostFeatureException.class).hasMessageContaining("acked features");
                echo(net, 0, 100, 16);
                assertThat(net.restore(good)).contains("restored on");
                echo(net, 0, 100, 16);
            }
        }
    }
}
