package com.vhost.spi.virtqueue;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.vhost.api.VirtqueueException;
import com.vhost.api.virtio.SplitVirtqueueLayout;
import com.vhost.api.virtio.VirtioFeatures;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class DriverQueueTest {
    private static final ValueLayout.OfShort S = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt I = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong L = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final long GPA = 0x10000;

    private final Arena arena = Arena.ofConfined();

    @AfterEach
    void close() {
        arena.close();
    }

    /** A device emulated by reading the rings directly: the test's independent view of the layout. */
    static final class TestDevice {
        final MemorySegment mem;
        final int size;
        final long availOff;
        final long usedOff;
        int lastAvail;
        int usedIdx;

        TestDevice(MemorySegment mem, int size, int start) {
            this.mem = mem;
            this.size = size;
            this.availOff = SplitVirtqueueLayout.availOffset(size);
            this.usedOff = SplitVirtqueueLayout.usedOffset(size);
            this.lastAvail = start;
            this.usedIdx = start;
        }

        int availIdx() {
            return Short.toUnsignedInt(mem.get(S, availOff + 2));
        }

        int availFlags() {
            return mem.get(S, availOff);
        }

        int usedEvent() {
            return Short.toUnsignedInt(mem.get(S, availOff + 4 + 2L * size));
        }

        void setAvailEvent(int v) {
            mem.set(S, usedOff + 4 + 8L * size, (short) v);
        }

        void setUsedFlags(int v) {
            mem.set(S, usedOff, (short) v);
        }

        /** Pops the next avail chain: list of {gpa, len, flags} of its buffers (following indirect). */
        record Buf(long gpa, int len, int flags) {}

        record Chain(int head, List<Buf> bufs, boolean indirect) {}

        Chain pop() {
            if (lastAvail == availIdx()) {
                return null;
            }
            int head = Short.toUnsignedInt(mem.get(S, availOff + 4 + 2L * (lastAvail % size)));
            lastAvail = (lastAvail + 1) & 0xFFFF;
            List<Buf> bufs = new ArrayList<>();
            long d = 16L * head;
            int flags = mem.get(S, d + 12);
            if ((flags & SplitVirtqueueLayout.VIRTQ_DESC_F_INDIRECT) != 0) {
                long tbl = mem.get(L, d) - GPA;
                int n = mem.get(I, d + 8) / 16;
                int i = 0;
                for (int k = 0; k < n; k++) {
                    long e = tbl + 16L * i;
                    int f = mem.get(S, e + 12);
                    bufs.add(new Buf(mem.get(L, e), mem.get(I, e + 8), f));
                    if ((f & 1) == 0) {
                        break;
                    }
                    i = mem.get(S, e + 14);
                }
                return new Chain(head, bufs, true);
            }
            int idx = head;
            for (int k = 0; k < size; k++) {
                long e = 16L * idx;
                int f = mem.get(S, e + 12);
                bufs.add(new Buf(mem.get(L, e), mem.get(I, e + 8), f));
                if ((f & 1) == 0) {
                    break;
                }
                idx = Short.toUnsignedInt(mem.get(S, e + 14));
            }
            return new Chain(head, bufs, false);
        }

        void push(int head, int len) {
            long e = usedOff + 4 + 8L * (usedIdx % size);
            mem.set(I, e, head);
            mem.set(I, e + 4, len);
            usedIdx = (usedIdx + 1) & 0xFFFF;
            mem.set(S, usedOff + 2, (short) usedIdx);
        }
    }

    private MemorySegment mem(int size, int indirect) {
        return arena.allocate(DriverQueue.layoutBytes(size, indirect), 4096);
    }

    @Test
    void chainOfReadableThenWritableBuffersIsPublishedAndFreed() throws Exception {
        MemorySegment m = mem(8, 0);
        DriverQueue q = new DriverQueue(0, 8, m, GPA, VirtioFeatures.bit(VirtioFeatures.F_VERSION_1), 0);
        TestDevice dev = new TestDevice(m, 8, 0);
        long[] a = {0x1000, 0x2000, 0x3000};
        int[] l = {16, 4096, 1};
        int head = q.add(a, l, 1, 2, 42L);
        assertThat(head).isZero();
        assertThat(q.numFree()).isEqualTo(5);
        assertThat(dev.availIdx()).isEqualTo(1);
        TestDevice.Chain c = dev.pop();
        assertThat(c.bufs()).extracting(TestDevice.Buf::gpa).containsExactly(0x1000L, 0x2000L, 0x3000L);
        assertThat(c.bufs()).extracting(TestDevice.Buf::len).containsExactly(16, 4096, 1);
        assertThat(c.bufs()).extracting(TestDevice.Buf::flags).containsExactly(1, 3, 2);
        assertThat(q.kickNeeded()).isTrue();
        dev.push(c.head(), 4097);
        List<long[]> seen = new ArrayList<>();
        assertThat(q.pollUsed((t, len) -> seen.add(new long[] {t, len}))).isEqualTo(1);
        assertThat(seen).hasSize(1);
        assertThat(seen.get(0)).containsExactly(42L, 4097L);
        assertThat(q.numFree()).isEqualTo(8);
        assertThat(q.inFlight()).isZero();
        assertThat(q.pollUsed((t, len) -> seen.add(null))).isZero();
    }

    @Test
    void deferredChainsBecomeVisibleAtPublish() throws Exception {
        MemorySegment m = mem(8, 0);
        DriverQueue q = new DriverQueue(0, 8, m, GPA, VirtioFeatures.bit(VirtioFeatures.F_VERSION_1), 0);
        TestDevice dev = new TestDevice(m, 8, 0);
        long[] a = {0x1000};
        int[] l = {64};
        assertThat(q.addDeferred(a, l, 1, 0, 1L)).isGreaterThanOrEqualTo(0);
        assertThat(q.addDeferred(a, l, 1, 0, 2L)).isGreaterThanOrEqualTo(0);
        assertThat(dev.availIdx()).as("not published yet").isZero();
        assertThat(q.availIdx()).isEqualTo(2);
        q.publish();
        assertThat(dev.availIdx()).isEqualTo(2);
        assertThat(q.kickNeeded()).isTrue();
    }

    @Test
    void indicesWrapAt65535() throws Exception {
        MemorySegment m = mem(4, 0);
        DriverQueue q = new DriverQueue(1, 4, m, GPA, 0, 0);
        q.reset(65533);
        TestDevice dev = new TestDevice(m, 4, 65533);
        long[] a = {0x1000};
        int[] l = {512};
        long[] got = new long[1];
        for (int i = 0; i < 10; i++) {
            assertThat(q.add(a, l, 0, 1, 100 + i)).isNotNegative();
            TestDevice.Chain c = dev.pop();
            assertThat(c).isNotNull();
            dev.push(c.head(), 512);
            assertThat(q.pollUsed((t, len) -> got[0] = t)).isEqualTo(1);
            assertThat(got[0]).isEqualTo(100 + i);
        }
        assertThat(q.availIdx()).isEqualTo((65533 + 10) & 0xFFFF).isEqualTo(7);
        assertThat(dev.availIdx()).isEqualTo(7);
        assertThat(q.lastUsedIdx()).isEqualTo(7);
        assertThat(q.numFree()).isEqualTo(4);
    }

    @Test
    void freeListExhaustionReturnsMinusOneAndRecovers() throws Exception {
        MemorySegment m = mem(4, 0);
        DriverQueue q = new DriverQueue(0, 4, m, GPA, 0, 0);
        TestDevice dev = new TestDevice(m, 4, 0);
        long[] a = {0x1000, 0x2000, 0x3000};
        int[] l = {1, 2, 3};
        assertThat(q.add(a, l, 2, 1, 1)).isNotNegative();
        assertThat(q.add(a, l, 2, 1, 2)).isEqualTo(-1); // 1 free, 3 needed
        assertThat(q.numFree()).isEqualTo(1);
        assertThat(q.add(a, l, 0, 1, 3)).isNotNegative();
        assertThat(q.add(a, l, 0, 1, 4)).isEqualTo(-1);
        assertThat(dev.availIdx()).isEqualTo(2);
        TestDevice.Chain c1 = dev.pop();
        TestDevice.Chain c2 = dev.pop();
        dev.push(c2.head(), 0); // out of order completion
        dev.push(c1.head(), 3);
        List<Long> tokens = new ArrayList<>();
        q.pollUsed((t, len) -> tokens.add(t));
        assertThat(tokens).containsExactly(3L, 1L);
        assertThat(q.numFree()).isEqualTo(4);
        assertThat(q.add(a, l, 2, 1, 5)).isNotNegative();
        assertThat(q.add(a, l, 0, 1, 6)).isNotNegative();
        assertThat(q.numFree()).isZero();
    }

    @Test
    void randomOutOfOrderCompletionsAcrossTheWrapKeepEveryToken() throws Exception {
        int n = 16;
        for (boolean indirect : new boolean[] {false, true}) {
            MemorySegment m = mem(n, indirect ? 4 : 0);
            long f = VirtioFeatures.bit(VirtioFeatures.F_EVENT_IDX) | (indirect ? VirtioFeatures.bit(VirtioFeatures.F_INDIRECT_DESC) : 0);
            DriverQueue q = new DriverQueue(0, n, m, GPA, f, indirect ? 4 : 0);
            q.reset(65000);
            TestDevice dev = new TestDevice(m, n, 65000);
            java.util.Random rnd = new java.util.Random(7);
            java.util.ArrayDeque<TestDevice.Chain> taken = new java.util.ArrayDeque<>();
            java.util.Map<Integer, Long> tokenOfHead = new java.util.HashMap<>();
            java.util.Set<Long> outstanding = new java.util.HashSet<>();
            long[] addrs = {0x1000, 0x2000, 0x3000, 0x4000};
            int[] lens = {1, 2, 3, 4};
            long next = 0;
            List<Long> seen = new ArrayList<>();
            for (int step = 0; step < 3000; step++) {
                int segs = 1 + rnd.nextInt(4);
                int head = q.add(addrs, lens, 1, segs - 1, next);
                if (head >= 0) {
                    assertThat(tokenOfHead.put(head, next)).as("head %d reused while outstanding", head).isNull();
                    outstanding.add(next++);
                }
                TestDevice.Chain c;
                while ((c = dev.pop()) != null) {
                    assertThat(c.bufs().get(0).gpa()).isEqualTo(0x1000L);
                    assertThat(c.bufs().get(0).flags() & SplitVirtqueueLayout.VIRTQ_DESC_F_WRITE).isZero();
                    taken.add(c);
                }
                // Complete a random number of taken chains, in random order.
                int k = rnd.nextInt(taken.size() + 1);
                List<TestDevice.Chain> list = new ArrayList<>(taken);
                java.util.Collections.shuffle(list, rnd);
                for (int i = 0; i < k; i++) {
                    TestDevice.Chain done = list.get(i);
                    taken.remove(done);
                    dev.push(done.head(), done.head());
                }
                seen.clear();
                q.pollUsed((t, len) -> seen.add(t));
                for (long t : seen) {
                    assertThat(outstanding.remove(t)).as("token %d completed once", t).isTrue();
                }
                tokenOfHead.values().removeAll(seen);
                assertThat(q.inFlight()).isEqualTo(outstanding.size());
            }
            assertThat(next).as("chains added").isGreaterThan(1000);
            assertThat(q.availIdx()).as("wrapped past 65535").isLessThan(65000);
        }
    }

    @Test
    void chainLongerThanQueueIsRejected() {
        DriverQueue q = new DriverQueue(3, 2, mem(2, 0), GPA, 0, 0);
        assertThatThrownBy(() -> q.add(new long[3], new int[3], 1, 2, 0))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("queue 3").hasMessageContaining("exceeds queue size 2");
        assertThatThrownBy(() -> q.add(new long[1], new int[1], 0, 0, 0)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void badSizeAndAlignmentAreRejected() {
        assertThatThrownBy(() -> new DriverQueue(0, 6, mem(8, 0), GPA, 0, 0)).hasMessageContaining("size 6");
        assertThatThrownBy(() -> new DriverQueue(0, 8, mem(8, 0), GPA + 8, 0, 0)).hasMessageContaining("16-byte");
        assertThatThrownBy(() -> new DriverQueue(0, 8, mem(4, 0), GPA, 0, 0)).hasMessageContaining("smaller");
    }

    @Test
    void deviceNamingAFreeDescriptorIsAVirtqueueException() {
        MemorySegment m = mem(4, 0);
        DriverQueue q = new DriverQueue(2, 4, m, GPA, 0, 0);
        TestDevice dev = new TestDevice(m, 4, 0);
        q.add(new long[] {1}, new int[] {1}, 1, 0, 0);
        dev.pop();
        dev.push(3, 0);
        assertThatThrownBy(() -> q.pollUsed((t, len) -> {})).isInstanceOf(VirtqueueException.class)
                .hasMessageContaining("queue 2").hasMessageContaining("descriptor 3");
    }

    @Test
    void usedIdxRunningAheadIsAVirtqueueException() {
        MemorySegment m = mem(4, 0);
        DriverQueue q = new DriverQueue(0, 4, m, GPA, 0, 0);
        m.set(S, SplitVirtqueueLayout.usedOffset(4) + 2, (short) 3);
        assertThatThrownBy(() -> q.pollUsed((t, len) -> {})).isInstanceOf(VirtqueueException.class)
                .hasMessageContaining("only 0 chains");
    }

    @Test
    void vringNeedEventInequality() {
        // event inside (old, new]: published entries old..new-1 include event
        assertThat(DriverQueue.needEvent(5, 6, 5)).isTrue();
        assertThat(DriverQueue.needEvent(5, 10, 3)).isTrue();
        assertThat(DriverQueue.needEvent(10, 10, 3)).isFalse(); // device wants entry 10, not yet published
        assertThat(DriverQueue.needEvent(2, 10, 3)).isFalse(); // already passed before old
        // across the wrap: old 65534, new 2 published 65534, 65535, 0, 1
        assertThat(DriverQueue.needEvent(65535, 2, 65534)).isTrue();
        assertThat(DriverQueue.needEvent(0, 2, 65534)).isTrue();
        assertThat(DriverQueue.needEvent(1, 2, 65534)).isTrue();
        assertThat(DriverQueue.needEvent(2, 2, 65534)).isFalse();
        assertThat(DriverQueue.needEvent(65533, 2, 65534)).isFalse();
        assertThat(DriverQueue.needEvent(0, 0, 0)).isFalse(); // nothing published
    }

    @Test
    void eventIdxKickAndUsedEvent() throws Exception {
        int n = 8;
        MemorySegment m = mem(n, 0);
        long f = VirtioFeatures.bit(VirtioFeatures.F_EVENT_IDX);
        DriverQueue q = new DriverQueue(0, n, m, GPA, f, 0);
        TestDevice dev = new TestDevice(m, n, 0);
        long[] a = {0x1000};
        int[] l = {8};
        dev.setAvailEvent(0); // device: notify me when entry 0 is published
        q.add(a, l, 1, 0, 1);
        assertThat(q.kickNeeded()).isTrue();
        q.add(a, l, 1, 0, 2);
        assertThat(q.kickNeeded()).isFalse(); // device did not move avail_event: still processing
        dev.setAvailEvent(3);
        q.add(a, l, 1, 0, 3); // entry 2
        assertThat(q.kickNeeded()).isFalse();
        q.add(a, l, 1, 0, 4); // entry 3
        q.add(a, l, 1, 0, 5); // entry 4: batch 3..4 contains event 3
        assertThat(q.kickNeeded()).isTrue();
        assertThat(q.kickNeeded()).isFalse(); // nothing new since
        // Flags are ignored with EVENT_IDX.
        dev.setUsedFlags(SplitVirtqueueLayout.VIRTQ_USED_F_NO_NOTIFY);
        dev.setAvailEvent(5);
        q.add(a, l, 1, 0, 6);
        assertThat(q.kickNeeded()).isTrue();
        // used_event follows the driver's last used index.
        for (int i = 0; i < 3; i++) {
            dev.push(dev.pop().head(), 0);
        }
        assertThat(q.pollUsed((t, len) -> {})).isEqualTo(3);
        assertThat(dev.usedEvent()).isEqualTo(3);
        q.disableNotifications();
        assertThat(dev.usedEvent()).isEqualTo((3 - 0x8000) & 0xFFFF);
        dev.push(dev.pop().head(), 0);
        assertThat(q.enableNotifications()).isTrue(); // one already pending
        assertThat(dev.usedEvent()).isEqualTo(3);
    }

    @Test
    void noNotifyFlagSuppressesKickWithoutEventIdx() {
        MemorySegment m = mem(4, 0);
        DriverQueue q = new DriverQueue(0, 4, m, GPA, 0, 0);
        TestDevice dev = new TestDevice(m, 4, 0);
        q.add(new long[] {1}, new int[] {1}, 1, 0, 0);
        dev.setUsedFlags(SplitVirtqueueLayout.VIRTQ_USED_F_NO_NOTIFY);
        assertThat(q.kickNeeded()).isFalse();
        dev.setUsedFlags(0);
        q.add(new long[] {1}, new int[] {1}, 1, 0, 0);
        assertThat(q.kickNeeded()).isTrue();
        q.disableNotifications();
        assertThat(dev.availFlags()).isEqualTo(SplitVirtqueueLayout.VIRTQ_AVAIL_F_NO_INTERRUPT);
        q.enableNotifications();
        assertThat(dev.availFlags()).isZero();
    }

    @Test
    void indirectChainTakesOneRingDescriptor() throws Exception {
        int n = 4;
        MemorySegment m = mem(n, 8);
        long f = VirtioFeatures.bit(VirtioFeatures.F_INDIRECT_DESC);
        DriverQueue q = new DriverQueue(0, n, m, GPA, f, 8);
        TestDevice dev = new TestDevice(m, n, 0);
        long[] a = {0x1000, 0x2000, 0x3000, 0x4000, 0x5000, 0x6000};
        int[] l = {16, 512, 512, 512, 512, 1};
        for (int i = 0; i < 4; i++) {
            assertThat(q.add(a, l, 1, 5, i)).isNotNegative();
        }
        assertThat(q.numFree()).isZero();
        for (int i = 0; i < 4; i++) {
            TestDevice.Chain c = dev.pop();
            assertThat(c.indirect()).isTrue();
            assertThat(m.get(L, 16L * c.head())).isEqualTo(GPA + q.indirectOffset(c.head()));
            assertThat(c.bufs()).extracting(TestDevice.Buf::gpa).containsExactly(0x1000L, 0x2000L, 0x3000L, 0x4000L, 0x5000L, 0x6000L);
            assertThat(c.bufs()).extracting(TestDevice.Buf::flags).containsExactly(1, 3, 3, 3, 3, 2);
            dev.push(c.head(), 2049);
        }
        List<Long> tokens = new ArrayList<>();
        q.pollUsed((t, len) -> tokens.add(t));
        assertThat(tokens).containsExactly(0L, 1L, 2L, 3L);
        assertThat(q.numFree()).isEqualTo(4);
        // More buffers than an indirect table holds but within the ring: direct chain.
        long[] big = new long[9];
        int[] bl = new int[9];
        assertThat(q.fits(9)).isFalse();
        assertThatThrownBy(() -> q.add(big, bl, 1, 8, 0)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("indirect table size 8");
        // Indirect is off when the feature is not negotiated.
        DriverQueue plain = new DriverQueue(0, n, mem(n, 8), GPA, 0, 8);
        assertThat(plain.indirectMax()).isZero();
    }
}
