package com.vhost.devices.net.driver;

import static com.vhost.user.testing.NetFrames.echo;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.vhost.api.VhostBackend;
import com.vhost.api.VhostDisconnectedException;
import com.vhost.api.VhostFeatureException;
import com.vhost.api.VhostTarget;
import com.vhost.api.net.NetDevice;
import com.vhost.api.net.VirtioNet;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.devices.net.model.LoopbackNetModel;
import com.vhost.devices.net.model.ServeNet;
import com.vhost.user.VhostUserOps;
import com.vhost.user.backend.VhostUserServer;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Hot-swap of a running {@link VirtioNetDriver} between two {@link VhostUserServer}s serving the
 * echo model ({@link LoopbackNetModel}) over real vhost-user sockets, the application's
 * {@link NetDevice} handle kept: a sequence-numbered stream through 24 swaps, refused swaps,
 * detach then rebind, control state replayed.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class NetHotSwapTest {
    private static final byte[] MAC_A = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
    private static final byte[] MAC_B = {0x52, 0x54, 0x00, 0x65, 0x43, 0x21};

    @TempDir
    Path dir;

    private static VhostBackend connect(Path sock) throws Exception {
        return new VhostUserOps().open(VhostTarget.of(sock.toString()));
    }

    @Test
    void aSequencedStreamSurvivesTwentyFourSwapsNothingCorruptedDuplicatedOrReordered() throws Exception {
        Path[] socks = {dir.resolve("a.sock"), dir.resolve("b.sock")};
        int swaps = 24;
        try (LoopbackNetModel ma = new LoopbackNetModel(1, 256, MAC_A, 1500);
                LoopbackNetModel mb = new LoopbackNetModel(1, 256, MAC_B, 1500);
                VhostUserServer a = new VhostUserServer(socks[0], ma);
                VhostUserServer b = new VhostUserServer(socks[1], mb)) {
            a.start();
            b.start();
            try (VirtioNetDriver net = VirtioNetDriver.open(connect(socks[0]), NetDriverOptions.defaults())) {
                NetDevice handle = net;
                String mac = NetMacs.format(net.mac());
                SequencedStream stream = new SequencedStream(handle, 0, 128, 32);
                stream.start();
                long[] pauses = new long[swaps];
                for (int i = 0; i < swaps; i++) {
                    long before = stream.received();
                    long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
                    while (stream.received() < before + 500 && System.nanoTime() < until && stream.firstError() == null) {
                        Thread.sleep(1);
                    }
                    assertThat(stream.firstError()).as("stream error before swap %d", i + 1).isNull();
                    assertThat(stream.received()).as("frames flow before swap %d", i + 1).isGreaterThanOrEqualTo(before + 500);
                    long measured = net.pausesMeasured();
                    net.rebind(connect(socks[(i + 1) % 2]));
                    while (net.pausesMeasured() == measured && System.nanoTime() < until + TimeUnit.SECONDS.toNanos(5)) {
                        Thread.sleep(1);
                    }
                    assertThat(net.pausesMeasured()).as("a frame on the new backend after swap %d", i + 1).isGreaterThan(measured);
                    pauses[i] = net.lastPauseNanos();
                    assertThat(net.info().backend()).contains(socks[(i + 1) % 2].getFileName().toString());
                }
                long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
                long before = stream.received();
                while (stream.received() < before + 500 && System.nanoTime() < until) {
                    Thread.sleep(1);
                }
                SequencedStream.Result r = stream.stop(2000);
                long dropsA = ma.counters(0).rxNoBuffer();
                long dropsB = mb.counters(0).rxNoBuffer();
                Arrays.sort(pauses);
                Map<String, Long> c = net.counters();
                System.out.printf("net hot-swap: %d swaps, %s; echo model drops (no receive buffer) a=%d b=%d;"
                        + " pause us p50 %d max %d; counters %s%n", swaps, r, dropsA, dropsB, pauses[swaps / 2] / 1000,
                        pauses[swaps - 1] / 1000, c);
                assertThat(stream.firstError()).isNull();
                assertThat(r.corrupted()).isZero();
                assertThat(r.duplicated()).isZero();
                assertThat(r.reordered()).isZero();
                // Loss is allowed only where virtio-net allows it: the echo model drops a frame
                // it has no receive buffer for. The window (128) stays below the ring (256) and
                // posted receive buffers stay posted across swaps, so none is expected.
                assertThat(r.lost()).isLessThanOrEqualTo(dropsA + dropsB).isLessThanOrEqualTo(swaps);
                assertThat(r.received()).isGreaterThan(500L * swaps);
                assertThat(c.get("swaps")).isEqualTo(swaps);
                assertThat(c.get("tx.frames")).isEqualTo(r.sent());
                assertThat(c.get("requests")).as("frames both ways").isEqualTo(c.get("tx.frames") + c.get("rx.frames"));
                assertThat(c.get("bytes")).isEqualTo(c.get("tx.bytes") + c.get("rx.bytes"));
                assertThat(c.get("rx.frames")).isEqualTo(r.received() + r.duplicated() + r.corrupted());
                assertThat(c.get("retaken")).isZero();
                assertThat(c.get("last.pause.us")).isGreaterThanOrEqualTo(0);
                assertThat(NetMacs.format(net.mac())).isEqualTo(mac);
                // every frame each model took was one the driver sent: nothing sent twice
                assertThat(ma.counters(0).txPackets() + mb.counters(0).txPackets()).isEqualTo(r.sent());
            }
        }
    }

    @Test
    void backendsLackingMrgRxbufOrPairsOrWithAnotherMtuAreRefusedAndTheDeviceKeepsItsOwn() throws Exception {
        Path sa = dir.resolve("a.sock");
        Path noMrg = dir.resolve("nomrg.sock");
        Path onePair = dir.resolve("one.sock");
        Path jumbo = dir.resolve("jumbo.sock");
        try (LoopbackNetModel ma = new LoopbackNetModel(2, 256, MAC_A, 1500);
                LoopbackNetModel mNoMrg = new LoopbackNetModel(2, 256, MAC_B, 1500);
                LoopbackNetModel mOne = new LoopbackNetModel(1, 256, MAC_B, 1500);
                LoopbackNetModel mJumbo = new LoopbackNetModel(2, 256, MAC_B, 9000);
                VhostUserServer a = new VhostUserServer(sa, ma);
                VhostUserServer b = new VhostUserServer(noMrg, mNoMrg);
                VhostUserServer c = new VhostUserServer(onePair, mOne);
                VhostUserServer d = new VhostUserServer(jumbo, mJumbo)) {
            mNoMrg.withholdFeatures(VirtioFeatures.bit(VirtioNet.F_MRG_RXBUF));
            a.start();
            b.start();
            c.start();
            d.start();
            try (VirtioNetDriver net = VirtioNetDriver.open(connect(sa), NetDriverOptions.defaults().withQueuePairs(2))) {
                assertThat(net.info().mergeableRxBuffers()).isTrue();
                echo(net, 1, 100, 16);
                assertThatThrownBy(() -> net.rebind(connect(noMrg))).isInstanceOf(VhostFeatureException.class)
                        .hasMessageContaining("VIRTIO_NET_F_MRG_RXBUF").hasMessageContaining("refused");
                assertThatThrownBy(() -> net.rebind(connect(onePair))).isInstanceOf(VhostFeatureException.class)
                        .hasMessageContaining("refused").hasMessageContaining("GET_QUEUE_NUM");
                assertThatThrownBy(() -> net.rebind(connect(jumbo))).isInstanceOf(VhostFeatureException.class)
                        .hasMessageContaining("MTU is 9000");
                assertThat(net.info().backend()).contains("a.sock");
                assertThat(net.counters().get("swaps")).isZero();
                echo(net, 0, 200, 16);
                echo(net, 1, 200, 16);
                assertThat(ma.counters(0).txPackets() + ma.counters(1).txPackets()).isEqualTo(500);
                // the refused backends serve others afterwards: their sessions were closed
                try (VirtioNetDriver other = VirtioNetDriver.open(connect(onePair), NetDriverOptions.defaults())) {
                    echo(other, 0, 10, 5);
                }
            }
        }
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
                net.rebind(connect(sb));
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
            }
        }
    }

    @Test
    void aDetachedDeviceKeepsFramesForTheNextBackendAndFailsAfterItsWait() throws Exception {
        Path sa = dir.resolve("a.sock");
        Path sb = dir.resolve("b.sock");
        try (LoopbackNetModel ma = new LoopbackNetModel(1, 256, MAC_A, 1500);
                LoopbackNetModel mb = new LoopbackNetModel(1, 256, MAC_B, 1500);
                VhostUserServer a = new VhostUserServer(sa, ma);
                VhostUserServer b = new VhostUserServer(sb, mb);
                Arena arena = Arena.ofConfined()) {
            a.start();
            b.start();
            try (VirtioNetDriver net = VirtioNetDriver.open(connect(sa), NetDriverOptions.defaults())) {
                echo(net, 0, 100, 16);
                net.detach();
                assertThat(net.isDetached()).isTrue();
                assertThat(net.counters().get("detached")).isEqualTo(1);
                assertThat(net.info().backend()).contains("a.sock");
                // frames transmitted while detached wait in the ring and go out on the next backend
                MemorySegment[] tx = new MemorySegment[8];
                int[] len = new int[8];
                for (int i = 0; i < 8; i++) {
                    tx[i] = arena.allocate(2048);
                    len[i] = SequencedStream.fill(tx[i], 1000 + i);
                }
                assertThat(net.transmit(0, tx, len, 8)).isEqualTo(8);
                assertThatThrownBy(() -> net.setPromiscuous(true)).isInstanceOf(VhostDisconnectedException.class)
                        .hasMessageContaining("detached");
                MemorySegment[] rx = new MemorySegment[8];
                for (int i = 0; i < 8; i++) {
                    rx[i] = arena.allocate(2048);
                }
                assertThat(net.receive(0, rx, len, 8)).isZero();
                net.rebind(connect(sb));
                assertThat(net.isDetached()).isFalse();
                int got = 0;
                long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
                while (got < 8 && System.nanoTime() < until) {
                    net.awaitReceive(0, 100_000_000L);
                    int r = net.receive(0, rx, len, 8 - got);
                    for (int i = 0; i < r; i++) {
                        assertThat(SequencedStream.check(rx[i], len[i])).isEqualTo(1000 + got + i);
                    }
                    got += r;
                }
                assertThat(got).as("frames transmitted while detached, echoed by the next backend").isEqualTo(8);
                assertThat(mb.counters(0).txPackets()).isEqualTo(8);
                echo(net, 0, 100, 16);

                // past swap.wait.ms without a backend the data path fails, typed; a rebind still helps
                net.setSwapWaitNanos(TimeUnit.MILLISECONDS.toNanos(100));
                net.detach();
                Thread.sleep(200);
                assertThatThrownBy(() -> net.receive(0, rx, len, 8)).isInstanceOf(VhostDisconnectedException.class)
                        .hasMessageContaining("swap.wait.ms");
                net.rebind(connect(sa));
                echo(net, 0, 100, 16);
                assertThat(net.counters().get("swaps")).isEqualTo(2);
            }
        }
    }

    /** Starts {@link ServeNet} in a JVM of its own and waits (bounded) until it listens. */
    private static Process serveInProcess(Path sock, Path log) throws Exception {
        Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"), ServeNet.class.getName(),
                sock.toString()).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!(Files.exists(log) && Files.readString(log).contains("serving"))) {
            if (!p.isAlive() || System.nanoTime() > until) {
                kill(p);
                throw new AssertionError("ServeNet on " + sock + " did not start: " + Files.readString(log));
            }
            Thread.sleep(20);
        }
        return p;
    }

    private static void kill(Process p) throws InterruptedException {
        ProcessHandle.of(p.pid()).ifPresent(ProcessHandle::destroyForcibly);
        p.waitFor(10, TimeUnit.SECONDS);
    }

    @Test
    void aBackendProcessThatDiesDetachesTheDeviceAndARebindResumesIt() throws Exception {
        Path sa = dir.resolve("a.sock");
        Path sb = dir.resolve("b.sock");
        Process pa = serveInProcess(sa, dir.resolve("a.log"));
        try (LoopbackNetModel mb = new LoopbackNetModel(1, 256, MAC_B, 1500);
                VhostUserServer b = new VhostUserServer(sb, mb)) {
            b.start();
            try (VirtioNetDriver net = VirtioNetDriver.open(connect(sa), NetDriverOptions.defaults())) {
                net.setDetachOnLoss(true);
                echo(net, 0, 100, 16);
                kill(pa); // SIGKILL: the back-end process dies, its socket closes
                assertThat(pa.isAlive()).isFalse();
                long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
                MemorySegment[] rx = {Arena.ofAuto().allocate(2048)};
                int[] len = new int[1];
                while (!net.isDetached() && System.nanoTime() < until) {
                    net.receive(0, rx, len, 1); // the data path notices (probe every 50 ms) and detaches
                    Thread.sleep(5);
                }
                assertThat(net.isDetached()).as("detached after the backend process died").isTrue();
                assertThat(net.linkUp()).isFalse();
                net.rebind(connect(sb));
                assertThat(net.linkUp()).isTrue();
                echo(net, 0, 200, 16);
                assertThat(mb.counters(0).txPackets()).isEqualTo(200);
            }
        } finally {
            kill(pa);
        }
    }
}
