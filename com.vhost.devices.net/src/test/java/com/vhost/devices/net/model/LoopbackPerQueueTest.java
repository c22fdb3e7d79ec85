package com.vhost.devices.net.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.vhost.api.VirtioDeviceException;
import com.vhost.api.net.VirtioNet;
import com.vhost.api.virtio.GuestMemoryRegion;
import com.vhost.api.virtio.VirtioDeviceState;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.api.virtio.VirtqueueConfig;
import com.vhost.spi.memory.GuestMemoryMap;
import com.vhost.spi.nativeio.EventFd;
import com.vhost.spi.nativeio.SharedMemory;
import com.vhost.spi.testing.RecordingInterrupt;
import com.vhost.spi.testing.TestRingDriver;
import com.vhost.spi.testing.TestRingDriver.Buf;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The loopback model stops and starts one ring at a time ({@code PerQueueDevice}, vhost-user
 * "Ring states") under a running sequence-numbered frame stream on raw rings: no frame is lost,
 * duplicated or reordered, each stop returns the exact next avail index (every chain taken was
 * completed into the used ring), a stopped ring is not written while it is stopped, and a frame
 * for a stopped receive queue (from the transmit queue or from the port thread) is held back, not
 * dropped.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class LoopbackPerQueueTest {
    private static final long BASE = 0x100000;
    private static final long SPAN = 0x100000;
    private static final int RING = 64;
    private static final int BUF = 2048;
    private static final int RX = VirtioNet.rxQueue(0);
    private static final int TX = VirtioNet.txQueue(0);
    private static final ValueLayout.OfInt BE32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);

    private SharedMemory shm;
    private GuestMemoryMap memory;
    private EventFd rxKick;
    private EventFd txKick;
    private LoopbackNetModel model;
    private TestRingDriver rx;
    private TestRingDriver tx;
    private final RecordingInterrupt irq = new RecordingInterrupt();

    @BeforeEach
    void setUp() throws Exception {
        shm = SharedMemory.create("net-perqueue-test", 2 * SPAN);
        memory = GuestMemoryMap.of(List.of(new GuestMemoryRegion(BASE, shm.size(), shm.address(), shm.fd(), 0, shm.segment())));
        rxKick = EventFd.create();
        txKick = EventFd.create();
        model = LoopbackNetModel.withDefaults(1);
        rx = new TestRingDriver(memory, RX, RING, BASE, SPAN);
        tx = new TestRingDriver(memory, TX, RING, BASE + SPAN, SPAN);
    }

    @AfterEach
    void tearDown() {
        model.close();
        rxKick.close();
        txKick.close();
        shm.close();
    }

    private void start() throws Exception {
        model.ackFeatures(VirtioFeatures.bit(VirtioFeatures.F_VERSION_1) | VirtioFeatures.bit(VirtioFeatures.F_EVENT_IDX));
        model.activate(memory, irq, List.of(rx.config(rxKick.fd(), -1), tx.config(txKick.fd(), -1)));
    }

    /** Frame {@code seq}: 60..259 bytes, broadcast, ethertype 0x88b5, {@code seq} big-endian at 14, then a pattern. */
    private static int frameLen(int seq) {
        return 60 + seq % 200;
    }

    private static void writeFrame(MemorySegment at, int seq) {
        int len = frameLen(seq);
        for (int i = 0; i < 6; i++) {
            at.set(ValueLayout.JAVA_BYTE, i, (byte) 0xFF);
            at.set(ValueLayout.JAVA_BYTE, 6 + i, (byte) (2 + i));
        }
        at.set(ValueLayout.JAVA_BYTE, 12, (byte) 0x88);
        at.set(ValueLayout.JAVA_BYTE, 13, (byte) 0xB5);
        at.set(BE32, 14, seq);
        for (int i = 18; i < len; i++) {
            at.set(ValueLayout.JAVA_BYTE, i, (byte) (seq * 31 + i));
        }
    }

    /** @return null when {@code at} holds frame {@code seq} of {@code len} bytes, else what differs */
    private static String checkFrame(MemorySegment at, int len, int seq) {
        int got = at.get(BE32, 14);
        if (got != seq) {
            return "frame " + got + " where " + seq + " was expected";
        }
        if (len != frameLen(seq)) {
            return "frame " + seq + " of " + len + " bytes, not " + frameLen(seq);
        }
        for (int i = 18; i < len; i++) {
            if (at.get(ValueLayout.JAVA_BYTE, i) != (byte) (seq * 31 + i)) {
                return "frame " + seq + " corrupted at byte " + i;
            }
        }
        return null;
    }

    /**
     * The driver side of the stream, on its own thread: keeps every receive buffer posted, sends
     * frames {@code 0, 1, ...} with at most {@code WINDOW} unanswered (below the receive ring, so a
     * held-back frame always finds a buffer), and checks each frame received is the next in order.
     */
    private final class Stream implements Runnable {
        static final int WINDOW = 40;
        private final long[] rxBufs = new long[RING];
        private final long[] txBufs = new long[RING];
        volatile boolean stopping;
        volatile int sent;
        volatile int received;
        final AtomicReference<String> error = new AtomicReference<>();
        private int rxPosted;

        Stream() {
            for (int i = 0; i < RING; i++) {
                rxBufs[i] = rx.alloc(BUF);
                txBufs[i] = tx.alloc(BUF);
            }
        }

        @Override
        public void run() {
            try {
                int txDone = 0;
                while (!(stopping && received == sent) && error.get() == null) {
                    boolean progress = false;
                    while ((rx.usedIdx() - received & 0xFFFF) != 0) {
                        int head = rx.usedId(received);
                        int len = rx.usedLen(received) - VirtioNet.HDR_SIZE;
                        if (head != received % RING) {
                            error.compareAndSet(null, "receive buffer " + head + " used out of order, " + received % RING + " expected");
                            return;
                        }
                        String bad = checkFrame(rx.at(rxBufs[head] + VirtioNet.HDR_SIZE, BUF - VirtioNet.HDR_SIZE), len, received);
                        if (bad != null) {
                            error.compareAndSet(null, bad);
                            return;
                        }
                        received++;
                        progress = true;
                    }
                    while (rxPosted - received < RING) { // before sending: every frame in flight has a buffer
                        rx.submit(new Buf(rxBufs[rxPosted % RING], BUF, true));
                        rxPosted++;
                        progress = true;
                    }
                    txDone += (tx.usedIdx() - txDone) & 0xFFFF;
                    while (!stopping && sent - received < WINDOW && sent - txDone < RING) {
                        long b = txBufs[sent % RING];
                        int len = frameLen(sent);
                        tx.at(b, VirtioNet.HDR_SIZE).fill((byte) 0);
                        writeFrame(tx.at(b + VirtioNet.HDR_SIZE, len), sent);
                        tx.submit(new Buf(b, VirtioNet.HDR_SIZE + len, false));
                        sent++;
                        txKick.signal();
                        progress = true;
                    }
                    if (!progress) {
                        LockSupport.parkNanos(20_000);
                    }
                }
            } catch (Exception | AssertionError e) {
                error.compareAndSet(null, e.toString());
            }
        }

        void awaitReceived(int n) throws InterruptedException {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (received < n && error.get() == null) {
                assertThat(System.nanoTime()).as("stream stuck at %d of %d frames received", received, sent).isLessThan(deadline);
                Thread.sleep(1);
            }
            assertThat(error.get()).as("counters %s", model.counters(0)).isNull();
        }
    }

    /**
     * Stops {@code index}; checks the returned state against the ring (nextAvail = used idx, fds
     * as given) and that neither that ring nor, for the receive queue, the transmit ring moves
     * while it is stopped (the loopback holds transmitted frames back).
     */
    private VirtqueueConfig stopAndCheck(int index, TestRingDriver ring, EventFd kick) throws Exception {
        VirtqueueConfig c = model.stopQueue(index);
        assertThat(c).isNotNull();
        assertThat(c.index()).isEqualTo(index);
        assertThat(c.kickFd()).isEqualTo(kick.fd());
        assertThat(c.enabled()).isTrue();
        int used = ring.usedIdx();
        assertThat(c.nextAvail()).as("queue %d: nextAvail is its used idx (every chain taken completed)", index).isEqualTo(used);
        int txUsed = tx.usedIdx();
        Thread.sleep(15);
        assertThat(ring.usedIdx()).as("queue %d not written while stopped", index).isEqualTo(used);
        if (index == RX) {
            assertThat(tx.usedIdx()).as("transmit frames held while the receive queue is stopped").isEqualTo(txUsed);
        }
        assertThat(model.stopQueue(index)).as("a stopped queue is not running").isNull();
        return c;
    }

    @Test
    void ringsStopAndStartOneAtATimeUnderAFrameStreamWithoutLosingOrReorderingAFrame() throws Exception {
        start();
        Stream s = new Stream();
        Thread t = Thread.ofPlatform().daemon().name("stream").start(s);
        try {
            s.awaitReceived(500);
            for (int round = 0; round < 24; round++) {
                switch (round % 4) {
                    case 0 -> { // the receive ring alone
                        VirtqueueConfig r = stopAndCheck(RX, rx, rxKick);
                        model.startQueue(r);
                    }
                    case 1 -> { // the transmit ring alone
                        VirtqueueConfig w = stopAndCheck(TX, tx, txKick);
                        model.startQueue(w);
                    }
                    case 2 -> { // receive, then transmit (held at the time); transmit starts first (held again)
                        VirtqueueConfig r = stopAndCheck(RX, rx, rxKick);
                        VirtqueueConfig w = stopAndCheck(TX, tx, txKick);
                        model.startQueue(w);
                        Thread.sleep(5);
                        assertThat(tx.usedIdx()).as("transmit started without its receive queue: held").isEqualTo(w.nextAvail());
                        model.startQueue(r);
                    }
                    default -> { // transmit, then receive (a vhost-user swap's order reversed); receive starts first
                        VirtqueueConfig w = stopAndCheck(TX, tx, txKick);
                        VirtqueueConfig r = stopAndCheck(RX, rx, rxKick);
                        model.startQueue(r);
                        model.startQueue(w);
                    }
                }
                assertThat(model.state()).isEqualTo(VirtioDeviceState.ACTIVE);
                s.awaitReceived(s.received + 200); // the stream goes on after each restart
            }
        } finally {
            s.stopping = true;
            t.join(20_000);
        }
        assertThat(s.error.get()).isNull();
        assertThat(s.received).as("every frame sent came back, in order").isEqualTo(s.sent).isGreaterThan(5000);
        assertThat(model.counters(0).rxNoBuffer()).as("no frame dropped for a stopped receive queue").isZero();
        assertThat(model.counters(0).rxPackets()).isEqualTo(s.sent);
        assertThat(irq.needsReset()).isEmpty();
    }

    @Test
    void framesFromThePortForAStoppedReceiveQueueAreHeldNotWrittenAndFollowInOrder() throws Exception {
        start();
        long[] bufs = new long[4];
        for (int i = 0; i < bufs.length; i++) {
            bufs[i] = rx.alloc(BUF);
            rx.at(bufs[i], BUF).fill((byte) 0x5A);
            rx.submit(new Buf(bufs[i], BUF, true));
        }
        VirtqueueConfig r = model.stopQueue(RX);
        assertThat(r.nextAvail()).isZero();
        for (int seq = 0; seq < 3; seq++) {
            byte[] f = new byte[frameLen(seq)];
            writeFrame(MemorySegment.ofArray(f), seq);
            assertThat(model.inject(0, f)).isTrue();
        }
        Thread.sleep(100);
        assertThat(rx.usedIdx()).as("the port wrote nothing into the stopped ring").isZero();
        for (long b : bufs) {
            assertThat(rx.at(b, BUF).toArray(ValueLayout.JAVA_BYTE)).as("buffer untouched").containsOnly((byte) 0x5A);
        }
        assertThat(model.counters(0).rxNoBuffer()).as("held, not dropped").isZero();
        assertThat(model.counters(0).rxPackets()).isZero();

        model.startQueue(r);
        assertThat(rx.awaitUsed(3, 5000)).isTrue();
        for (int seq = 0; seq < 3; seq++) {
            assertThat(rx.usedId(seq)).isEqualTo(seq);
            assertThat(checkFrame(rx.at(bufs[seq] + VirtioNet.HDR_SIZE, BUF - VirtioNet.HDR_SIZE),
                    rx.usedLen(seq) - VirtioNet.HDR_SIZE, seq)).isNull();
        }
        assertThat(model.counters(0).rxPackets()).isEqualTo(3);
    }

    /**
     * A port thread delivering all the time while the receive ring stops and starts over and
     * over: each stop returns the used idx as nextAvail and the ring stays still until the start,
     * so no delivery raced past the stop; every injected frame arrives once, in order.
     */
    @Test
    void portDeliveriesNeverWriteAReceiveRingAfterItsStopReturned() throws Exception {
        start();
        int total = 3000;
        long[] bufs = new long[RING];
        for (int i = 0; i < RING; i++) {
            bufs[i] = rx.alloc(BUF);
        }
        AtomicReference<String> error = new AtomicReference<>();
        Thread injector = Thread.ofPlatform().daemon().name("inject").start(() -> {
            for (int seq = 0; seq < total && error.get() == null; ) {
                byte[] f = new byte[frameLen(seq)];
                writeFrame(MemorySegment.ofArray(f), seq);
                if (model.inject(0, f)) {
                    seq++;
                } else {
                    LockSupport.parkNanos(100_000);
                }
            }
        });
        // the ring is driven by this thread only: stop, check, start, then post and consume
        int posted = 0;
        int received = 0;
        int stops = 0;
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (received < total) {
            assertThat(System.nanoTime()).as("stuck at %d frames", received).isLessThan(deadline);
            while (posted - received < RING) {
                rx.submit(new Buf(bufs[posted % RING], BUF, true));
                posted++;
            }
            while ((rx.usedIdx() - received & 0xFFFF) != 0) {
                int head = rx.usedId(received);
                assertThat(head).isEqualTo(received % RING);
                assertThat(checkFrame(rx.at(bufs[head] + VirtioNet.HDR_SIZE, BUF - VirtioNet.HDR_SIZE),
                        rx.usedLen(received) - VirtioNet.HDR_SIZE, received)).isNull();
                received++;
            }
            if (received > stops * 40 && stops < 60) {
                VirtqueueConfig c = model.stopQueue(RX);
                int used = rx.usedIdx();
                assertThat(c.nextAvail()).isEqualTo(used);
                LockSupport.parkNanos(2_000_000);
                assertThat(rx.usedIdx()).as("stop %d: ring written after the stop returned", stops).isEqualTo(used);
                model.startQueue(c);
                stops++;
            } else {
                LockSupport.parkNanos(50_000);
            }
        }
        injector.join(5000);
        assertThat(error.get()).isNull();
        assertThat(stops).isEqualTo(60);
        assertThat(model.counters(0).rxPackets()).isEqualTo(total);
        assertThat(model.counters(0).rxNoBuffer()).isZero();
    }

    @Test
    void perQueueCallsKeepTheLifeCycleRules() throws Exception {
        assertThatThrownBy(() -> model.stopQueue(RX)).isInstanceOf(VirtioDeviceException.class);
        assertThatThrownBy(() -> model.startQueue(rx.config(rxKick.fd(), -1))).isInstanceOf(VirtioDeviceException.class);
        start();
        assertThatThrownBy(() -> model.startQueue(rx.config(rxKick.fd(), -1))).as("already running")
                .isInstanceOf(VirtioDeviceException.class);
        assertThat(model.stopQueue(7)).as("a queue the device does not have").isNull();

        // every ring stopped: a sleep keeps the idle worker, returns no queue, and the wake with both resumes them
        VirtqueueConfig w = model.stopQueue(TX);
        VirtqueueConfig r = model.stopQueue(RX);
        assertThat(model.sleep()).isEmpty();
        byte[] snap = model.snapshot();
        model.restore(snap);
        model.wake(List.of(r, w));
        long b = rx.alloc(BUF);
        rx.submit(new Buf(b, BUF, true));
        long f = tx.alloc(VirtioNet.HDR_SIZE + 60);
        tx.at(f, VirtioNet.HDR_SIZE).fill((byte) 0);
        writeFrame(tx.at(f + VirtioNet.HDR_SIZE, 60), 0);
        tx.submit(new Buf(f, VirtioNet.HDR_SIZE + 60, false));
        txKick.signal();
        assertThat(rx.awaitUsed(1, 5000)).as("looped after the wake").isTrue();

        // a sleep with a queue stopped reports only the running one
        VirtqueueConfig r2 = model.stopQueue(RX);
        assertThat(r2.nextAvail()).isEqualTo(1);
        List<VirtqueueConfig> slept = model.sleep();
        assertThat(slept).extracting(VirtqueueConfig::index).containsExactly(TX);
        assertThat(slept.get(0).nextAvail()).isEqualTo(1);
        model.wake(List.of(r2, slept.get(0)));
        model.reset();
        assertThat(model.state()).isEqualTo(VirtioDeviceState.INACTIVE);
    }
}
