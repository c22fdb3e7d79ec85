package com.vhost.devices.net.driver;

import static org.assertj.core.api.Assertions.assertThat;

import com.vhost.api.VhostTarget;
import com.vhost.api.net.NetDevice;
import com.vhost.api.net.VirtioNet;
import com.vhost.api.registry.DeviceConfigKeys;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.devices.net.model.LoopbackNetModel;
import com.vhost.kernel.VhostKernelOps;
import com.vhost.spi.testing.KGuest;
import com.vhost.spi.workload.SequencedStream;
import com.vhost.user.VhostUserOps;
import com.vhost.user.backend.VhostUserServer;
import com.vhost.vdpa.VhostVdpaOps;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Hot-swap of a running net device across backend types, the application's {@link NetDevice}
 * handle kept: vhost-user (this project's echo back-end) → vhost-net (the kernel's, into the
 * guest's TAP {@code ktap0}) → vhost-vdpa (vdpa_sim_net, which loops frames back) → vhost-user.
 * Frames are counted per leg: echoed and checked on the echoing legs, counted by the TAP's
 * {@code rx_packets} on the kernel leg. The vdpa → vhost-user swap happens mid-stream.
 *
 * <p>The device is opened on an echo back-end that offers only what all three types offer
 * (vdpa_sim_net has neither MRG_RXBUF nor EVENT_IDX, vhost-net has no MTU feature, neither has
 * IN_ORDER), as a VM
 * meant to migrate is started with the common feature set. Runs inside the 6.12 kernel guest
 * ({@code scripts/kguest/kguest-test.sh}); skipped elsewhere unless {@code CI=true} and
 * {@code KGUEST=1}.
 */
@Timeout(value = 600, unit = TimeUnit.SECONDS)
class CrossTypeNetSwapIT {
    private static final byte[] MAC = {0x52, 0x54, 0x00, (byte) 0xaa, (byte) 0xbb, (byte) 0xcc};
    private static final int FRAMES = 300;

    @TempDir
    Path dir;

    private static long tapRx() throws Exception {
        return Long.parseLong(Files.readString(Path.of("/sys/class/net/ktap0/statistics/rx_packets")).trim());
    }

    /** Runs a stream of about {@code frames} through an echoing backend and checks it. */
    private static SequencedStream.Result echoLeg(NetDevice net, String leg, int frames) throws Exception {
        SequencedStream s = new SequencedStream(net, 0, 32, 8);
        s.start();
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (s.received() < frames && s.firstError() == null && System.nanoTime() < until) {
            Thread.sleep(10);
        }
        SequencedStream.Result r = s.stop(5000);
        System.out.printf("cross-type swap, leg %s: %s%n", leg, r);
        assertThat(s.firstError()).as("%s: stream error", leg).isNull();
        assertThat(r.received()).as("%s: frames echoed", leg).isGreaterThanOrEqualTo(frames);
        assertThat(r.duplicated() + r.reordered() + r.corrupted()).as("%s: %s", leg, r).isZero();
        return r;
    }

    @Test
    void aRunningNetDeviceMovesFromVhostUserToVhostNetToVdpaAndBack() throws Exception {
        KGuest.require("vhost_net, tun, TAP ktap0, vhost_vdpa + vdpa_sim_net with vdpa0 (scripts/kguest)",
                "/dev/vhost-net", "/dev/vhost-vdpa-0", "/sys/class/net/ktap0");
        Path sock = dir.resolve("echo.sock");
        try (LoopbackNetModel echo = new LoopbackNetModel(1, 256, MAC, VirtioNet.DEFAULT_MTU);
                VhostUserServer server = new VhostUserServer(sock, echo);
                Arena arena = Arena.ofConfined()) {
            echo.withholdFeatures(VirtioFeatures.bit(VirtioNet.F_MRG_RXBUF) | VirtioFeatures.bit(VirtioFeatures.F_EVENT_IDX)
                    | VirtioFeatures.bit(VirtioNet.F_MTU) | VirtioFeatures.bit(VirtioFeatures.F_INDIRECT_DESC)
                    | VirtioFeatures.bit(VirtioFeatures.F_IN_ORDER)); // 6.12's vhost-net and vdpa_sim_net lack it
            server.start();
            try (VirtioNetDriver net = VirtioNetDriver.open(new VhostUserOps().open(VhostTarget.of(sock.toString())),
                    NetDriverOptions.defaults())) {
                NetDevice handle = net;
                // 1. vhost-user echo
                SequencedStream.Result user1 = echoLeg(handle, "vhost-user", FRAMES);

                // 2. vhost-net: frames go to the TAP, which counts them
                net.rebind(new VhostKernelOps().open(new VhostTarget("/dev/vhost-net", Map.of(DeviceConfigKeys.OPTION_TAP, "ktap0"))));
                assertThat(net.info().backend()).contains("vhost-net");
                long before = tapRx();
                MemorySegment[] tx = new MemorySegment[8];
                MemorySegment[] rx = new MemorySegment[8];
                int[] len = new int[8];
                int[] rlen = new int[8];
                for (int i = 0; i < tx.length; i++) {
                    tx[i] = arena.allocate(2048);
                    rx[i] = arena.allocate(2048);
                }
                long fromKernel = 0;
                int sent = 0;
                long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
                while (sent < FRAMES && System.nanoTime() < until) {
                    int b = Math.min(tx.length, FRAMES - sent);
                    for (int i = 0; i < b; i++) {
                        len[i] = SequencedStream.fill(tx[i], sent + i);
                    }
                    int t = net.transmit(0, tx, len, b);
                    sent += t;
                    int r = net.receive(0, rx, rlen, rx.length); // whatever the kernel sends through the TAP
                    fromKernel += r;
                    if (t < b && r == 0) {
                        Thread.sleep(1);
                    }
                }
                long tapGot = 0;
                while (System.nanoTime() < until && (tapGot = tapRx() - before) < sent) {
                    Thread.sleep(10);
                }
                System.out.printf("cross-type swap, leg vhost-net: sent %d, the TAP counted %d (rx_packets), %d frame(s) came"
                        + " from the kernel%n", sent, tapGot, fromKernel);
                assertThat(sent).isEqualTo(FRAMES);
                assertThat(tapGot).as("frames ktap0 received from vhost-net").isGreaterThanOrEqualTo(FRAMES);

                // 3. vhost-vdpa (vdpa_sim_net loops frames back)
                net.rebind(new VhostVdpaOps().open(VhostTarget.of("/dev/vhost-vdpa-0")));
                assertThat(net.info().backend()).contains("vhost-vdpa");
                int late;
                while ((late = net.receive(0, rx, rlen, rx.length)) > 0) {
                    fromKernel += late; // received on the kernel leg, reaped by the swap
                }
                SequencedStream.Result vdpa = echoLeg(handle, "vhost-vdpa", FRAMES);

                // 4. back to vhost-user, mid-stream
                SequencedStream s = new SequencedStream(handle, 0, 32, 8);
                s.start();
                until = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
                while (s.received() < FRAMES / 2 && s.firstError() == null && System.nanoTime() < until) {
                    Thread.sleep(10);
                }
                long beforeSwap = s.received();
                net.rebind(new VhostUserOps().open(VhostTarget.of(sock.toString())));
                while (s.received() < beforeSwap + FRAMES && s.firstError() == null && System.nanoTime() < until) {
                    Thread.sleep(10);
                }
                SequencedStream.Result mid = s.stop(5000);
                System.out.printf("cross-type swap, leg vhost-vdpa -> vhost-user mid-stream: %s (%d before the swap)%n", mid,
                        beforeSwap);
                assertThat(s.firstError()).isNull();
                assertThat(mid.duplicated() + mid.reordered() + mid.corrupted()).as(mid.toString()).isZero();
                assertThat(mid.received()).isGreaterThanOrEqualTo(beforeSwap + FRAMES);
                assertThat(mid.lost()).as("frames lost across the vdpa -> vhost-user swap").isLessThanOrEqualTo(32);

                var c = net.counters();
                System.out.printf("cross-type swap: counters %s%n", c);
                assertThat(c.get("swaps")).isEqualTo(3);
                assertThat(user1.lost() + vdpa.lost()).isZero();
                long byUser = echo.counters(0).txPackets() - user1.sent();
                System.out.printf("cross-type swap, mid-stream leg: %d frame(s) echoed by vdpa_sim_net, %d by the vhost-user"
                        + " echo back-end%n", mid.sent() - byUser, byUser);
                // the stream runs on while the new backend is negotiated, so the split is not fixed
                assertThat(byUser).as("frames the echo back-end took after the swap back").isPositive();
                assertThat(mid.sent() - byUser).as("frames vdpa_sim_net took before it").isGreaterThanOrEqualTo(beforeSwap);
            }
        }
    }
}
