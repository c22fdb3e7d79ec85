package com.vhost.devices.net.driver;

import static org.assertj.core.api.Assertions.assertThat;

import com.vhost.api.VhostException;
import com.vhost.api.VhostTarget;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.user.VhostUserOps;
import com.vhost.user.testing.NetFrames;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.assertj.core.api.Assertions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * This project's driver on packed virtqueues (VIRTIO 1.2, 2.8; {@link NetDriverOptions#packed()})
 * against DPDK 22.11 testpmd's vhost PMD in macswap mode, which offers VIRTIO_F_RING_PACKED:
 * both sides must have negotiated it (the driver's acked features and testpmd's own "negotiated
 * Virtio features" log line), and sequence-numbered frames of 60..1514 bytes all come back, in
 * order, intact, MACs swapped; on 1 and 2 queue pairs, with call-eventfd waits (driver event
 * suppression) and with busy polling, and with small mergeable receive buffers on a small ring so
 * a frame spans several used descriptors and the ring wraps hundreds of times. A packed driver
 * moves to a second testpmd (rebind, and detach then rebind: its rings restart fresh there), a
 * back-end without packed rings is refused naming the feature, and a snapshot is refused. A missing
 * testpmd skips (fails under CI=true); each process is stopped by PID within a bound.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class NetTestpmdPackedInteropTest {
    private static final Pattern NEGOTIATED = Pattern.compile("negotiated Virtio features: 0x([0-9a-fA-F]+)");

    @TempDir
    Path dir;

    private void echo(String name, NetDriverOptions options, int frames, int burst) throws Exception {
        int pairs = options.queuePairs();
        Path sock = dir.resolve(name + ".sock");
        try (Testpmd pmd = Testpmd.start(dir, name, "net_vhost0,iface=" + sock + ",queues=" + pairs, sock, "macswap", pairs,
                List.of()).awaitSocket(20_000)) {
            try (VirtioNetDriver net = VirtioNetDriver.open(new VhostUserOps().open(VhostTarget.of(sock.toString())),
                    options.withPacked(true))) {
                assertThat(VirtioFeatures.has(net.info().features(), VirtioFeatures.F_RING_PACKED))
                        .as("the driver acked RING_PACKED: 0x%x", net.info().features()).isTrue();
                pmd.awaitVhostReady(pairs, Testpmd.READY_MS);
                long negotiated = negotiated(pmd.log());
                assertThat(VirtioFeatures.has(negotiated, VirtioFeatures.F_RING_PACKED))
                        .as("testpmd negotiated RING_PACKED: 0x%x", negotiated).isTrue();
                for (int p = 0; p < pairs; p++) {
                    NetFrames.echo(net, p, frames, burst, true);
                    assertThat(net.stats(p).rxPackets()).isEqualTo(frames);
                    assertThat(net.stats(p).txPackets()).isEqualTo(frames);
                    assertThat(net.stats(p).rxErrors()).isZero();
                }
                Assertions.assertThatThrownBy(net::snapshot).isInstanceOf(VhostException.class)
                        .hasMessageContaining("packed virtqueues (VIRTIO_F_RING_PACKED)").hasMessageContaining("without --packed");
                NetFrames.echo(net, 0, 64, burst, true); // a refused snapshot leaves the device serving
            } catch (AssertionError | Exception e) {
                throw new AssertionError(e.getMessage() + "\ntestpmd log:\n" + pmd.log(), e);
            }
        }
    }

    /** @return the last "negotiated Virtio features" testpmd's vhost library logged */
    private static long negotiated(String log) {
        Matcher m = NEGOTIATED.matcher(log);
        String last = null;
        while (m.find()) {
            last = m.group(1);
        }
        assertThat(last).as("testpmd logs the negotiated features").isNotNull();
        return Long.parseUnsignedLong(last, 16);
    }

    @Test
    void packedDriverEchoesThroughTestpmdMacswapOnOnePair() throws Exception {
        echo("pk1", NetDriverOptions.defaults(), 3000, 32);
    }

    @Test
    void packedDriverEchoesThroughTestpmdMacswapOnTwoPairs() throws Exception {
        echo("pk2", NetDriverOptions.defaults().withQueuePairs(2), 2000, 32);
    }

    @Test
    void packedDriverBusyPollsWithSmallMergeableBuffersOnASmallRing() throws Exception {
        // 64 descriptors, 256-byte buffers: a 1514-byte frame takes 7 used descriptors; bursts of 4
        // frames so that testpmd always finds receive buffers (it drops a frame it cannot place)
        echo("pk3", NetDriverOptions.defaults().withQueueSize(64).withRxBufferBytes(256).withPoll(true), 5000, 4);
    }

    @Test
    void packedDriverMovesBetweenTwoTestpmdsAndRefusesASplitOnlyBackend() throws Exception {
        Path a = dir.resolve("a.sock");
        Path b = dir.resolve("b.sock");
        try (Testpmd pa = Testpmd.start(dir, "pka", "net_vhost0,iface=" + a + ",queues=1", a, "macswap", 1, List.of())
                        .awaitSocket(20_000);
                Testpmd pb = Testpmd.start(dir, "pkb", "net_vhost0,iface=" + b + ",queues=1", b, "macswap", 1, List.of())
                        .awaitSocket(20_000)) {
            try (VirtioNetDriver net = VirtioNetDriver.open(new VhostUserOps().open(VhostTarget.of(a.toString())),
                    NetDriverOptions.defaults().withPacked(true))) {
                pa.awaitVhostReady(1, Testpmd.READY_MS);
                NetFrames.echo(net, 0, 500, 32, true);
                net.rebind(new VhostUserOps().open(VhostTarget.of(b.toString())));
                assertThat(net.info().backend()).contains(b.toString());
                pb.awaitVhostReady(1, Testpmd.READY_MS);
                NetFrames.echo(net, 0, 500, 32, true);
                assertThat(VirtioFeatures.has(negotiated(pb.log()), VirtioFeatures.F_RING_PACKED)).isTrue();
                Matcher base = Pattern.compile("last_avail_idx:(\\d+)").matcher(pb.log());
                while (base.find()) {
                    assertThat(base.group(1)).as("testpmd b starts the rings fresh (SET_VRING_BASE 0x8000)").isEqualTo("0");
                }

                net.detach();
                assertThat(net.isDetached()).isTrue();
                net.rebind(new VhostUserOps().open(VhostTarget.of(a.toString())));
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
                while (pa.log().split("virtio is now ready for processing", -1).length < 3 && System.nanoTime() < deadline) {
                    Thread.sleep(20);
                }
                pa.awaitVhostReady(1, Testpmd.READY_MS);
                NetFrames.echo(net, 0, 500, 32, true);
                assertThat(net.stats(0).rxErrors()).isZero();

                // a back-end that offers split rings only (this project's loopback model with the
                // packed bit hidden, as a back-end without packed rings would be)
                Path c = dir.resolve("c.sock");
                try (var model = com.vhost.devices.net.model.LoopbackNetModel.withDefaults(1);
                        var server = new com.vhost.user.backend.VhostUserServer(c, new com.vhost.spi.backend.ForwardingVirtioDevice(model) {
                            @Override
                            public long features() {
                                return super.features() & ~(1L << VirtioFeatures.F_RING_PACKED);
                            }
                        })) {
                    server.start();
                    Assertions.assertThatThrownBy(() -> net.rebind(new VhostUserOps().open(VhostTarget.of(c.toString()))))
                            .isInstanceOf(VhostException.class).hasMessageContaining("VIRTIO_F_RING_PACKED")
                            .hasMessageContaining("the device stays on");
                }
                NetFrames.echo(net, 0, 200, 32, true);
            } catch (AssertionError | Exception e) {
                throw new AssertionError(e.getMessage() + "\ntestpmd a log:\n" + pa.log() + "\ntestpmd b log:\n" + pb.log(), e);
            }
        }
    }
}
