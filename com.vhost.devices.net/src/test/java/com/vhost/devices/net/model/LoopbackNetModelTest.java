package com.vhost.devices.net.model;

import static org.assertj.core.api.Assertions.assertThat;

import com.vhost.api.net.VirtioNet;
import com.vhost.api.virtio.GuestMemoryRegion;
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
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The device side of the virtio-net data path on raw rings: the {@code virtio_net_hdr_v1} the
 * model writes (all zero but {@code num_buffers}), a frame spread over several receive buffers
 * with MRG_RXBUF (used lengths and {@code num_buffers} say how to join them), and the counters for
 * a buffer too small without MRG_RXBUF, a missing buffer and a transmit chain too short to be a frame.
 * The order of the two completions of a looped frame: {@link LoopedFrameFaultOrderTest}.
 */
class LoopbackNetModelTest {
    private static final long BASE = 0x100000;
    private static final long SPAN = 0x100000;
    private static final ValueLayout.OfShort LE16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

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
        shm = SharedMemory.create("net-model-test", 2 * SPAN);
        memory = GuestMemoryMap.of(List.of(new GuestMemoryRegion(BASE, shm.size(), shm.address(), shm.fd(), 0, shm.segment())));
        rxKick = EventFd.create();
        txKick = EventFd.create();
        model = LoopbackNetModel.withDefaults(1);
        rx = new TestRingDriver(memory, 0, 64, BASE, SPAN);
        tx = new TestRingDriver(memory, 1, 64, BASE + SPAN, SPAN);
    }

    @AfterEach
    void tearDown() {
        model.close();
        rxKick.close();
        txKick.close();
        shm.close();
    }

    private void start(long features) throws Exception {
        model.ackFeatures(features);
        model.activate(memory, irq, List.of(rx.config(rxKick.fd(), -1), tx.config(txKick.fd(), -1)));
    }

    private static long base() {
        return VirtioFeatures.bit(VirtioFeatures.F_VERSION_1);
    }

    /** Submits a transmit chain: header in its own descriptor, then the frame (as Linux may). */
    private byte[] send(int len) throws Exception {
        byte[] frame = new byte[len];
        for (int i = 0; i < len; i++) {
            frame[i] = (byte) (i * 7 + 1);
        }
        long hdr = tx.alloc(VirtioNet.HDR_SIZE);
        tx.at(hdr, VirtioNet.HDR_SIZE).fill((byte) 0);
        long data = tx.alloc(len);
        MemorySegment.copy(frame, 0, tx.at(data, len), ValueLayout.JAVA_BYTE, 0, len);
        int before = tx.usedIdx();
        tx.submit(new Buf(hdr, VirtioNet.HDR_SIZE, false), new Buf(data, len, false));
        txKick.signal();
        assertThat(tx.awaitUsed(before + 1, 5000)).as("transmit chain completed").isTrue();
        return frame;
    }

    @Test
    void mergeableBuffersCarryOneFrameWithNumBuffers() throws Exception {
        start(base() | VirtioFeatures.bit(VirtioNet.F_MRG_RXBUF));
        long[] bufs = new long[4];
        for (int i = 0; i < 4; i++) {
            bufs[i] = rx.alloc(256);
            rx.at(bufs[i], 256).fill((byte) 0x5A);
            rx.submit(new Buf(bufs[i], 256, true));
        }
        byte[] frame = send(600); // 12 + 600 = 612 bytes: 256 + 256 + 100
        assertThat(rx.awaitUsed(3, 5000)).isTrue();
        assertThat(new int[] {rx.usedLen(0), rx.usedLen(1), rx.usedLen(2)}).containsExactly(256, 256, 100);
        MemorySegment first = rx.at(bufs[0], 256);
        for (int i = 0; i < 10; i++) {
            assertThat(first.get(ValueLayout.JAVA_BYTE, i)).as("header byte %d", i).isZero();
        }
        assertThat(first.get(LE16, VirtioNet.HDR_NUM_BUFFERS)).isEqualTo((short) 3);
        byte[] joined = new byte[600];
        MemorySegment.copy(first, ValueLayout.JAVA_BYTE, VirtioNet.HDR_SIZE, joined, 0, 244);
        MemorySegment.copy(rx.at(bufs[1], 256), ValueLayout.JAVA_BYTE, 0, joined, 244, 256);
        MemorySegment.copy(rx.at(bufs[2], 100), ValueLayout.JAVA_BYTE, 0, joined, 500, 100);
        assertThat(joined).isEqualTo(frame);
        assertThat(model.counters(0).rxPackets()).isEqualTo(1);
        assertThat(model.counters(0).rxBytes()).isEqualTo(600);
        assertThat(irq.awaitUsedSignals(0, 1, 5000)).as("receive queue notified").isPositive();
    }

    /** Pages {@code [gpa, gpa + len)} touches, added to {@code into}. */
    private static void pages(java.util.BitSet into, long gpa, long len) {
        into.set((int) (gpa >>> 12), (int) ((gpa + len - 1) >>> 12) + 1);
    }

    @Test
    void withDirtyLoggingOnAReceivedFrameMarksTheBuffersItFilledAndTheLoggedUsedRing() throws Exception {
        // the session's write log, as a vhost-user back-end attaches it: LOG_ALL on, the receive
        // ring's used writes logged (VHOST_VRING_F_LOG), the transmit ring's not
        com.vhost.spi.memory.WriteLog log = new com.vhost.spi.memory.WriteLog(2);
        long logBytes = com.vhost.spi.memory.DirtyBitmap.bytesFor(BASE + 2 * SPAN);
        com.vhost.spi.memory.DirtyBitmap bitmap = new com.vhost.spi.memory.DirtyBitmap(
                java.lang.foreign.Arena.ofAuto().allocate(logBytes, 8), 0, logBytes);
        log.setBitmap(bitmap);
        log.setLogAll(true);
        VirtqueueConfig rxConfig = rx.config(rxKick.fd(), -1);
        log.setUsedLog(0, rxConfig.usedAddr());
        model.ackFeatures(base() | VirtioFeatures.bit(VirtioNet.F_MRG_RXBUF));
        model.activate(memory.withWriteLog(log), irq, List.of(rxConfig, tx.config(txKick.fd(), -1)));
        long[] bufs = new long[4];
        for (int i = 0; i < 4; i++) {
            bufs[i] = rx.alloc(3 * 4096); // a page or more apart, so each buffer's pages are its own
            rx.submit(new Buf(bufs[i], 256, true));
        }
        send(600); // 12 + 600 bytes: 256 + 256 + 100 into the first three buffers
        assertThat(rx.awaitUsed(3, 5000)).isTrue();
        java.util.BitSet expected = new java.util.BitSet();
        pages(expected, bufs[0], 256);
        pages(expected, bufs[1], 256);
        pages(expected, bufs[2], 100);
        pages(expected, rxConfig.usedAddr(), 4 + 8 * 3); // flags, idx, three elements
        assertThat(bitmap.syncAndClear()).isEqualTo(expected); // no EVENT_IDX: no avail_event written

        log.setLogAll(false); // off while the rings run: nothing more is marked
        send(100);
        assertThat(rx.awaitUsed(4, 5000)).isTrue();
        assertThat(bitmap.syncAndClear().isEmpty()).isTrue();
    }

    @Test
    void withoutMergeableBuffersOneChainPerFrameAndNumBuffersOne() throws Exception {
        start(base());
        long small = rx.alloc(256);
        rx.submit(new Buf(small, 256, true));
        send(600);
        assertThat(rx.awaitUsed(1, 5000)).isTrue();
        assertThat(rx.usedLen(0)).as("too small a buffer is returned empty").isZero();
        assertThat(model.counters(0).rxTooBig()).isEqualTo(1);

        send(100); // no buffer posted now
        assertThat(model.counters(0).rxNoBuffer()).isEqualTo(1);

        long big = rx.alloc(2048);
        rx.submit(new Buf(big, 2048, true));
        byte[] frame = send(1514);
        assertThat(rx.awaitUsed(2, 5000)).isTrue();
        assertThat(rx.usedLen(1)).isEqualTo(VirtioNet.HDR_SIZE + 1514);
        MemorySegment m = rx.at(big, 2048);
        assertThat(m.get(LE16, VirtioNet.HDR_NUM_BUFFERS)).isEqualTo((short) 1);
        assertThat(m.asSlice(VirtioNet.HDR_SIZE, 1514).toArray(ValueLayout.JAVA_BYTE)).isEqualTo(frame);
    }

    @Test
    void aTransmitChainShorterThanAnEthernetHeaderIsCountedNotDelivered() throws Exception {
        start(base());
        long b = rx.alloc(2048);
        rx.submit(new Buf(b, 2048, true));
        long hdr = tx.alloc(VirtioNet.HDR_SIZE + 10);
        tx.at(hdr, VirtioNet.HDR_SIZE + 10).fill((byte) 0);
        tx.submit(new Buf(hdr, VirtioNet.HDR_SIZE + 10, false));
        txKick.signal();
        assertThat(tx.awaitUsed(1, 5000)).isTrue();
        assertThat(model.counters(0).txErrors()).isEqualTo(1);
        assertThat(model.counters(0).rxPackets()).isZero();
        assertThat(rx.usedIdx()).isZero();
        assertThat(irq.needsReset()).isEmpty();
    }
}
