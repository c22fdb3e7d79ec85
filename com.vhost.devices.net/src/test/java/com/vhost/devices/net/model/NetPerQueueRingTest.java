package com.vhost.devices.net.model;

import static org.assertj.core.api.Assertions.assertThat;

import com.vhost.api.MemoryRegion;
import com.vhost.api.VhostException;
import com.vhost.api.VhostTarget;
import com.vhost.api.VringAddr;
import com.vhost.api.net.VirtioNet;
import com.vhost.api.user.VhostUserBackend;
import com.vhost.api.virtio.VirtioDeviceState;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.api.virtio.VirtqueueConfig;
import com.vhost.devices.net.driver.NetDriverOptions;
import com.vhost.devices.net.driver.VirtioNetDriver;
import com.vhost.spi.nativeio.EventFd;
import com.vhost.spi.nativeio.SharedMemory;
import com.vhost.spi.workload.SequencedStream;
import com.vhost.user.VhostUserOps;
import com.vhost.user.backend.VhostUserServer;
import com.vhost.user.testing.TestRing;
import com.vhost.spi.testing.RecordingPerQueueDevice;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Ring stop/start per queue (vhost-user spec, "Ring states") over a real socket against the
 * loopback net model: the session starts rx then tx as a swap's new back-end does (one activation
 * and one ring start, no sleep and wake of the whole model, so one queue-worker start), a stopped
 * receive ring holds the frames transmitted meanwhile on the transmit ring, bases are exact, and
 * the model is never put to sleep while rings stop and start.
 */
@Timeout(60)
class NetPerQueueRingTest {
    private static final int RX = VirtioNet.rxQueue(0);
    private static final int TX = VirtioNet.txQueue(0);
    private static final int FRAME = 60;

    @TempDir
    Path dir;

    @Test
    void netRingsStopAndStartOneAtATimeOverASessionWithoutPuttingTheModelToSleep() throws Exception {
        Path sock = dir.resolve("net.sock");
        try (LoopbackNetModel net = LoopbackNetModel.withDefaults(1)) {
            RecordingPerQueueDevice model = new RecordingPerQueueDevice(net);
            try (VhostUserServer server = new VhostUserServer(sock, model)) {
                server.start();
                try (VhostUserBackend fe = new VhostUserOps().open(VhostTarget.of(sock.toString()));
                        SharedMemory mem = SharedMemory.create("guest", 1 << 20);
                        EventFd kick0 = EventFd.create(); EventFd call0 = EventFd.create();
                        EventFd kick1 = EventFd.create(); EventFd call1 = EventFd.create()) {
                    fe.getFeatures();
                    fe.setOwner();
                    fe.setProtocolFeatures(fe.getProtocolFeatures());
                    fe.setFeatures(VirtioFeatures.bit(VirtioFeatures.F_VERSION_1));
                    long ua = mem.address();
                    fe.setMemTable(List.of(new MemoryRegion(0, 1 << 20, ua, 0, mem.fd())));
                    TestRing rx = new TestRing(mem.segment(), 0, 16, 0);
                    TestRing tx = new TestRing(mem.segment(), 0x10000, 16, 0);
                    for (int i = 0; i < 4; i++) { // four receive buffers, descriptors 0..3
                        rx.descriptor(i, rx.buffer(i), 2048, 2, 0);
                        rx.publish(i);
                    }
                    // a swap's new back-end: SET_VRING_ENABLE rx, then tx
                    startRing(fe, ua, RX, rx, 0, kick0, call0);
                    startRing(fe, ua, TX, tx, 0, kick1, call1);
                    assertThat(model.calls).as("one activation and one ring start, no sleep/wake")
                            .containsExactly("activate[" + RX + "]", "startQueue(" + TX + ")");

                    send(tx, 0, kick1);
                    awaitUsed(tx, call1, 1);
                    awaitUsed(rx, call0, 1);
                    assertFrame(rx, 0, 0);

                    // stop the receive ring (QEMU vhost_virtqueue_stop: disable, then GET_VRING_BASE)
                    fe.setVringEnable(RX, false);
                    assertThat(fe.getVringBase(RX)).isEqualTo(1);
                    send(tx, 1, kick1);
                    Thread.sleep(50);
                    assertThat(tx.usedIdx()).as("a frame for the stopped receive ring waits on the transmit ring").isEqualTo(1);
                    assertThat(rx.usedIdx()).as("nothing written into the stopped receive ring").isEqualTo(1);

                    // restart it at its base: the held frame is looped now, nothing was dropped
                    startRing(fe, ua, RX, rx, 1, kick0, call0);
                    awaitUsed(tx, call1, 2);
                    awaitUsed(rx, call0, 2);
                    assertFrame(rx, 1, 1);

                    // the transmit ring alone: a frame made available while it is stopped goes after its restart
                    fe.setVringEnable(TX, false);
                    assertThat(fe.getVringBase(TX)).isEqualTo(2);
                    send(tx, 2, kick1);
                    Thread.sleep(50);
                    assertThat(tx.usedIdx()).isEqualTo(2);
                    startRing(fe, ua, TX, tx, 2, kick1, call1);
                    awaitUsed(tx, call1, 3);
                    awaitUsed(rx, call0, 3);
                    assertFrame(rx, 2, 2);

                    // a swap's old back-end: both rings stop; the model stays ACTIVE, nothing runs
                    fe.setVringEnable(RX, false);
                    assertThat(fe.getVringBase(RX)).isEqualTo(3);
                    fe.setVringEnable(TX, false);
                    assertThat(fe.getVringBase(TX)).isEqualTo(3);
                    assertThat(model.calls).as("no whole-model sleep or wake").doesNotContain("sleep", "wake")
                            .containsSubsequence("stopQueue(" + RX + ")", "startQueue(" + RX + ")", "stopQueue(" + TX + ")",
                                    "startQueue(" + TX + ")", "stopQueue(" + RX + ")", "stopQueue(" + TX + ")");
                    assertThat(net.state()).isEqualTo(VirtioDeviceState.ACTIVE);
                    assertThat(net.counters(0).rxPackets()).isEqualTo(3);
                    assertThat(net.counters(0).rxNoBuffer()).as("no frame dropped for a stopped ring").isZero();
                }
                assertThat(server.awaitSessionsEnded(1, 5000)).isTrue();
                assertThat(net.state()).isIn(VirtioDeviceState.INACTIVE, VirtioDeviceState.NEW);
            }
        }
    }

    /**
     * This project's net driver streams sequence-numbered frames through the served loopback
     * model on two pairs while pair 0's rings stop and start one at a time (rx, tx, rx then tx, tx
     * then rx): nothing is lost, duplicated, reordered or corrupted, and the other pair is never
     * stopped.
     */
    @Test
    void aSequencedStreamGoesOnWhileRingsStopAndStartOneAtATime() throws Exception {
        Path sock = dir.resolve("net-stream.sock");
        try (LoopbackNetModel net = LoopbackNetModel.withDefaults(2);
                VhostUserServer server = new VhostUserServer(sock, net)) {
            server.start();
            try (VirtioNetDriver driver = VirtioNetDriver.open(new VhostUserOps().open(VhostTarget.of(sock.toString())),
                    NetDriverOptions.defaults().withQueuePairs(2))) {
                SequencedStream s0 = new SequencedStream(driver, 0, 32, 8);
                SequencedStream s1 = new SequencedStream(driver, 1, 32, 8);
                s0.start();
                s1.start();
                try {
                    awaitReceived(s0, 1000);
                    for (int round = 0; round < 20; round++) {
                        int[] order = switch (round % 4) {
                            case 0 -> new int[] {RX};
                            case 1 -> new int[] {TX};
                            case 2 -> new int[] {RX, TX};
                            default -> new int[] {TX, RX};
                        };
                        VirtqueueConfig[] stopped = new VirtqueueConfig[order.length];
                        for (int i = 0; i < order.length; i++) {
                            stopped[i] = net.stopQueue(order[i]);
                            assertThat(stopped[i]).isNotNull();
                        }
                        Thread.sleep(3);
                        for (int i = order.length - 1; i >= 0; i--) {
                            net.startQueue(stopped[i]);
                        }
                        awaitReceived(s0, s0.received() + 300);
                    }
                } finally {
                    SequencedStream.Result r0 = s0.stop(2000);
                    SequencedStream.Result r1 = s1.stop(2000);
                    assertThat(r0.lost() + r0.duplicated() + r0.reordered() + r0.corrupted()).as("pair 0: %s", r0).isZero();
                    assertThat(r1.lost() + r1.duplicated() + r1.reordered() + r1.corrupted()).as("pair 1: %s", r1).isZero();
                    assertThat(r0.received()).isGreaterThan(6000);
                    assertThat(r1.received()).as("the other pair streamed on").isPositive();
                }
                assertThat(net.counters(0).rxNoBuffer()).as("no frame dropped for a stopped ring").isZero();
            }
        }
    }

    private static void awaitReceived(SequencedStream s, long n) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (s.received() < n) {
            assertThat(System.nanoTime()).as("stream stuck at %d frames (%s)", s.received(), s.firstError()).isLessThan(deadline);
            Thread.sleep(1);
        }
    }

    private static void startRing(VhostUserBackend fe, long ua, int index, TestRing r, int base, EventFd kick, EventFd call)
            throws VhostException {
        fe.setVringNum(index, 16);
        fe.setVringBase(index, base);
        fe.setVringAddr(new VringAddr(index, 0, ua + r.desc(), ua + r.used(), ua + r.avail(), 0));
        fe.setVringCall(index, call.fd());
        fe.setVringKick(index, kick.fd());
        fe.setVringEnable(index, true);
    }

    /** Transmits frame {@code seq} (zero header, 60 bytes whose byte 14 is {@code seq}) in descriptor {@code seq}. */
    private static void send(TestRing tx, int seq, EventFd kick) throws Exception {
        MemorySegment g = tx.memory();
        long b = tx.buffer(seq % 4);
        g.asSlice(b, VirtioNet.HDR_SIZE + FRAME).fill((byte) 0);
        for (int i = 0; i < 6; i++) {
            g.set(ValueLayout.JAVA_BYTE, b + VirtioNet.HDR_SIZE + i, (byte) 0xFF);
        }
        g.set(ValueLayout.JAVA_BYTE, b + VirtioNet.HDR_SIZE + 12, (byte) 0x88);
        g.set(ValueLayout.JAVA_BYTE, b + VirtioNet.HDR_SIZE + 13, (byte) 0xB5);
        g.set(ValueLayout.JAVA_BYTE, b + VirtioNet.HDR_SIZE + 14, (byte) (seq + 1));
        tx.descriptor(seq, b, VirtioNet.HDR_SIZE + FRAME, 0, 0);
        tx.publish(seq);
        kick.signal();
    }

    /** The {@code n}th used element of {@code rx} is receive buffer {@code n}, holding frame {@code seq}. */
    private static void assertFrame(TestRing rx, int n, int seq) {
        MemorySegment g = rx.memory();
        long elem = rx.used() + 4 + 8L * n;
        assertThat(g.get(TestRing.LE32, elem)).as("used id").isEqualTo(n);
        assertThat(g.get(TestRing.LE32, elem + 4)).as("used len").isEqualTo(VirtioNet.HDR_SIZE + FRAME);
        assertThat(g.get(ValueLayout.JAVA_BYTE, rx.buffer(n) + VirtioNet.HDR_SIZE + 14)).as("frame").isEqualTo((byte) (seq + 1));
    }

    /** Waits on {@code call} (so a missing used-buffer notification fails the test) until used idx reaches {@code idx}. */
    private static void awaitUsed(TestRing ring, EventFd call, int idx) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        boolean signalled = false;
        while (ring.usedIdx() != (idx & 0xFFFF)) {
            long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
            assertThat(left).as("used idx %d reached in time", idx).isPositive();
            signalled |= call.await((int) Math.min(left, 1000));
        }
        if (!signalled) {
            signalled = call.await(5000); // the notification follows the used idx update
        }
        assertThat(signalled).as("call eventfd signalled").isTrue();
    }
}
