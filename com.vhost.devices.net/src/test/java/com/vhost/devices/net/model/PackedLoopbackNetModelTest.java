package com.vhost.devices.net.model;

import static org.assertj.core.api.Assertions.assertThat;

import com.vhost.api.net.VirtioNet;
import com.vhost.api.virtio.GuestMemoryRegion;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.spi.memory.GuestMemoryMap;
import com.vhost.spi.nativeio.EventFd;
import com.vhost.spi.nativeio.SharedMemory;
import com.vhost.spi.testing.RecordingInterrupt;
import com.vhost.spi.testing.TestPackedDriver;
import com.vhost.spi.testing.TestPackedDriver.Buf;
import com.vhost.spi.testing.TestPackedDriver.Used;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The loopback net model on packed rings (VIRTIO 1.2, 2.8) with MRG_RXBUF: frames of 60..1000
 * bytes spread over receive buffers of 256 bytes, one used descriptor per buffer in ring order
 * with {@code num_buffers} in the first, and the frame joined from them equals what was sent;
 * enough frames that both rings of 16 go round many times.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class PackedLoopbackNetModelTest {
    private static final long BASE = 0x100000;
    private static final long SPAN = 0x100000;
    private static final ValueLayout.OfShort LE16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final int RX_BUF = 256;

    @Test
    void mergeableFramesLoopBackOverPackedRingsForManyLaps() throws Exception {
        RecordingInterrupt irq = new RecordingInterrupt();
        try (SharedMemory shm = SharedMemory.create("packed-net-test", 2 * SPAN);
                EventFd rxKick = EventFd.create();
                EventFd txKick = EventFd.create();
                LoopbackNetModel model = LoopbackNetModel.withDefaults(1)) {
            GuestMemoryMap memory = GuestMemoryMap.of(List.of(new GuestMemoryRegion(BASE, shm.size(), shm.address(), shm.fd(), 0,
                    shm.segment())));
            TestPackedDriver rx = new TestPackedDriver(memory, 0, 16, BASE, SPAN);
            TestPackedDriver tx = new TestPackedDriver(memory, 1, 16, BASE + SPAN, SPAN);
            model.ackFeatures(VirtioFeatures.bit(VirtioFeatures.F_VERSION_1) | VirtioFeatures.bit(VirtioFeatures.F_RING_PACKED)
                    | VirtioFeatures.bit(VirtioFeatures.F_EVENT_IDX) | VirtioFeatures.bit(VirtioNet.F_MRG_RXBUF));
            model.activate(memory, irq, List.of(rx.config(rxKick.fd(), -1), tx.config(txKick.fd(), -1)));
            long[] rxBufOfId = new long[16];
            for (int i = 0; i < 16; i++) {
                long b = rx.alloc(RX_BUF);
                rxBufOfId[rx.submit(new Buf(b, RX_BUF, true))] = b;
            }
            long hdr = tx.alloc(VirtioNet.HDR_SIZE);
            tx.at(hdr, VirtioNet.HDR_SIZE).fill((byte) 0);
            long data = tx.alloc(1000);
            long rxBytes = 0;
            for (int n = 0; n < 60; n++) {
                int len = 60 + (n * 157) % 941;
                byte[] frame = new byte[len];
                for (int i = 0; i < len; i++) {
                    frame[i] = (byte) (i * 7 + n);
                }
                MemorySegment.copy(frame, 0, tx.at(data, len), ValueLayout.JAVA_BYTE, 0, len);
                int txId = tx.submit(new Buf(hdr, VirtioNet.HDR_SIZE, false), new Buf(data, len, false));
                txKick.signal();
                assertThat(await(tx).id()).isEqualTo(txId);

                int total = VirtioNet.HDR_SIZE + len;
                int expect = (total + RX_BUF - 1) / RX_BUF;
                List<Used> used = new ArrayList<>();
                for (int i = 0; i < expect; i++) {
                    used.add(await(rx));
                }
                MemorySegment first = rx.at(rxBufOfId[used.getFirst().id()], RX_BUF);
                assertThat(first.get(LE16, VirtioNet.HDR_NUM_BUFFERS)).as("frame %d num_buffers", n).isEqualTo((short) expect);
                byte[] joined = new byte[total];
                int at = 0;
                for (Used u : used) {
                    MemorySegment.copy(rx.at(rxBufOfId[u.id()], u.len()), ValueLayout.JAVA_BYTE, 0, joined, at, u.len());
                    at += u.len();
                }
                assertThat(at).isEqualTo(total);
                assertThat(java.util.Arrays.copyOfRange(joined, VirtioNet.HDR_SIZE, total)).as("frame %d", n).isEqualTo(frame);
                rxBytes += len;
                for (Used u : used) { // give the buffers back, as a driver refills its receive ring
                    long b = rxBufOfId[u.id()];
                    rxBufOfId[rx.submit(new Buf(b, RX_BUF, true))] = b;
                }
                rxKick.signal();
            }
            assertThat(model.counters(0).rxPackets()).isEqualTo(60);
            assertThat(model.counters(0).rxBytes()).isEqualTo(rxBytes);
            assertThat(model.counters(0).rxNoBuffer()).isZero();
        }
    }

    private static Used await(TestPackedDriver ring) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        Used u;
        while ((u = ring.pollUsed()) == null) {
            assertThat(System.nanoTime()).as("a used descriptor within 5 s").isLessThan(deadline);
            Thread.sleep(1);
        }
        return u;
    }
}
