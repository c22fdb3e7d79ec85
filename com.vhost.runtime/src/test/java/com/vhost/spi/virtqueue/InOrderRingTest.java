package com.vhost.spi.virtqueue;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.vhost.api.VirtqueueException;
import com.vhost.api.virtio.SplitVirtqueueLayout;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.api.virtio.VirtqueueConfig;
import com.vhost.spi.testing.TestGuestMemory;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * VIRTIO_F_IN_ORDER (VIRTIO 1.2, 2.7.9 split, 2.8.8 packed) with this project's two ring sides
 * over one guest memory: the device ({@link DeviceQueue#addUsedBatched}) writes one used
 * element per batch and the driver ({@link DriverQueue#pollUsed}) recovers every buffer of the
 * batch, in the order made available, with the right lengths; a device naming a buffer that is
 * not outstanding (or, split, not covered by the used idx) is a typed error naming the id.
 */
class InOrderRingTest {
    private static final ValueLayout.OfShort S = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt I = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final long RING_GPA = 0x10000;
    private static final long BUF_GPA = 0x40000;
    private static final int SIZE = 16;
    private static final long IN_ORDER = VirtioFeatures.bit(VirtioFeatures.F_IN_ORDER) | VirtioFeatures.bit(VirtioFeatures.F_VERSION_1);

    /** Both sides of one queue over the same memory. */
    private static final class Pair implements AutoCloseable {
        final TestGuestMemory mem = new TestGuestMemory(RING_GPA, 0x30000, BUF_GPA, 0x100000);
        final DriverQueue drv;
        final DeviceQueue dev;
        final DescriptorChain chain;
        final List<long[]> used = new ArrayList<>();
        final DriverQueue.UsedHandler handler = (token, len) -> used.add(new long[] {token, len});

        Pair(boolean packed, long features) throws VirtqueueException {
            long f = features | (packed ? VirtioFeatures.bit(VirtioFeatures.F_RING_PACKED) : 0);
            MemorySegment ring = mem.slice(RING_GPA, DriverQueue.layoutBytes(SIZE, 0));
            drv = new DriverQueue(0, SIZE, ring, RING_GPA, f, 0);
            dev = new DeviceQueue(mem, new VirtqueueConfig(0, SIZE, drv.descGpa(), drv.availGpa(), drv.usedGpa(), drv.freshIdx(), -1, -1,
                    true), f);
            chain = dev.newChain();
        }

        /** Adds a chain of {@code out} readable 64-byte and {@code in} writable 100-byte buffers; token {@code token}. */
        int add(int out, int in, long token) {
            long[] addrs = new long[out + in];
            int[] lens = new int[out + in];
            for (int i = 0; i < out + in; i++) {
                addrs[i] = BUF_GPA + 0x1000 * (token % 64) + 128L * i;
                lens[i] = i < out ? 64 : 100;
            }
            int head = drv.add(addrs, lens, out, in, token);
            assertThat(head).as("room for chain %d", token).isNotNegative();
            return head;
        }

        int pop() throws VirtqueueException {
            assertThat(dev.pop(chain)).isTrue();
            return chain.head();
        }

        @Override
        public void close() {
            mem.close();
        }
    }

    private static int writable(int in) {
        return 100 * in;
    }

    @ParameterizedTest(name = "packed={0}")
    @ValueSource(booleans = {false, true})
    void oneUsedElementPerBatchReturnsEveryBufferInOrder(boolean packed) throws Exception {
        try (Pair p = new Pair(packed, IN_ORDER)) {
            assertThat(p.dev.inOrder()).isTrue();
            assertThat(p.drv.inOrder()).isTrue();
            long token = 0;
            long expect = 0;
            // batches of 1..5 chains of 1..3 descriptors, many laps of a 16-entry ring
            for (int round = 0; round < 60; round++) {
                int batch = 1 + round % 5;
                int[] ins = new int[batch];
                int[] heads = new int[batch];
                for (int b = 0; b < batch; b++) {
                    ins[b] = (round + b) % 3; // 0, 1 or 2 writable buffers after one readable
                    p.add(1, ins[b], token++);
                }
                for (int b = 0; b < batch; b++) {
                    heads[b] = p.pop();
                }
                int usedBefore = p.dev.nextUsed();
                for (int b = 0; b < batch; b++) {
                    p.dev.addUsedBatched(heads[b], writable(ins[b]));
                }
                assertThat(p.dev.nextUsed()).as("nothing published before the flush").isEqualTo(usedBefore);
                assertThat(p.drv.hasUsed()).isFalse();
                p.dev.flushUsed();
                p.used.clear();
                assertThat(p.drv.pollUsed(p.handler)).isEqualTo(batch);
                for (int b = 0; b < batch; b++) {
                    assertThat(p.used.get(b)[0]).as("token of buffer %d of round %d", b, round).isEqualTo(expect++);
                    assertThat(p.used.get(b)[1]).as("length of buffer %d of round %d", b, round).isEqualTo(writable(ins[b]));
                }
                assertThat(p.drv.inFlight()).isZero();
                assertThat(p.drv.numFree()).isEqualTo(SIZE);
                assertThat(p.dev.nextUsed()).isEqualTo(p.drv.lastUsedIdx());
            }
            if (!packed) {
                // the split driver takes descriptors in ring order: the next head follows the last chain
                int head = p.add(1, 1, token);
                assertThat(head).isEqualTo(p.pop());
                int next = p.add(1, 0, token + 1);
                assertThat(next).isEqualTo((head + 2) % SIZE);
            }
        }
    }

    @ParameterizedTest(name = "packed={0}")
    @ValueSource(booleans = {false, true})
    void batchedAndSingleCompletionsMix(boolean packed) throws Exception {
        try (Pair p = new Pair(packed, IN_ORDER)) {
            int[] heads = new int[7];
            for (int i = 0; i < 7; i++) {
                p.add(1, 1, 100 + i);
            }
            for (int i = 0; i < 7; i++) {
                heads[i] = p.pop();
            }
            p.dev.addUsedBatched(heads[0], 100);
            p.dev.addUsedBatched(heads[1], 100);
            p.dev.addUsed(heads[2], 7); // ends the batch: one element for 0..2, naming 2 with its own length
            p.dev.addUsed(heads[3], 9);
            p.dev.addUsedBatched(heads[4], 100);
            p.dev.addUsedBatched(heads[5], 5); // the batch's last buffer reports its own length
            assertThat(p.dev.needsNotification()).as("needsNotification publishes the pending batch").isTrue();
            p.dev.addUsed(heads[6], 3);
            assertThat(p.drv.pollUsed(p.handler)).isEqualTo(7);
            assertThat(p.used).extracting(u -> u[0]).containsExactly(100L, 101L, 102L, 103L, 104L, 105L, 106L);
            assertThat(p.used).extracting(u -> u[1]).containsExactly(100L, 100L, 7L, 9L, 100L, 5L, 3L);
            assertThat(p.drv.inFlight()).isZero();
        }
    }

    @ParameterizedTest(name = "packed={0}")
    @ValueSource(booleans = {false, true})
    void withoutInOrderBatchingPublishesAtOnce(boolean packed) throws Exception {
        try (Pair p = new Pair(packed, VirtioFeatures.bit(VirtioFeatures.F_VERSION_1))) {
            assertThat(p.dev.inOrder()).isFalse();
            p.add(1, 1, 1);
            p.add(1, 1, 2);
            int a = p.pop();
            int b = p.pop();
            p.dev.addUsedBatched(b, 11);
            p.dev.addUsedBatched(a, 12);
            assertThat(p.drv.pollUsed(p.handler)).isEqualTo(2);
            assertThat(p.used).extracting(u -> u[0]).containsExactly(2L, 1L);
            assertThat(p.used).extracting(u -> u[1]).containsExactly(11L, 12L);
        }
    }

    @ParameterizedTest(name = "packed={0}")
    @ValueSource(booleans = {false, true})
    void deviceRefusesOutOfOrderCompletionOnPackedRings(boolean packed) throws Exception {
        try (Pair p = new Pair(packed, IN_ORDER)) {
            p.add(1, 1, 1);
            p.add(1, 1, 2);
            int a = p.pop();
            int b = p.pop();
            if (packed) {
                assertThatThrownBy(() -> p.dev.addUsedBatched(b, 100)).isInstanceOf(VirtqueueException.class)
                        .hasMessageContaining("IN_ORDER").hasMessageContaining("buffer id " + b);
            }
            p.dev.addUsedBatched(a, 100);
            p.dev.addUsed(b, 1);
            assertThat(p.drv.pollUsed(p.handler)).isEqualTo(2);
        }
    }

    /** Split: a device names a head that is not outstanding, or one beyond what its used idx covers. */
    @org.junit.jupiter.api.Test
    void splitHostileBatchIdsAreTypedErrors() throws Exception {
        try (Pair p = new Pair(false, IN_ORDER)) {
            int h0 = p.add(1, 1, 1);
            int h1 = p.add(1, 1, 2);
            int h2 = p.add(1, 1, 3);
            long usedOff = RING_GPA + SplitVirtqueueLayout.usedOffset(SIZE);
            MemorySegment used = p.mem.slice(usedOff, SplitVirtqueueLayout.usedRingBytes(SIZE));
            // an id never made available
            int stranger = 9;
            assertThat(stranger).isNotIn(h0, h1, h2);
            used.set(I, 4, stranger);
            used.set(I, 8, 0);
            used.set(S, 2, (short) 1);
            assertThatThrownBy(() -> p.drv.pollUsed(p.handler)).isInstanceOf(VirtqueueException.class)
                    .hasMessageContaining("descriptor " + stranger);
            // an outstanding id the used idx does not reach: idx moved by 2, element names the third chain
            used.set(I, 4, h2);
            used.set(S, 2, (short) 2);
            assertThatThrownBy(() -> p.drv.pollUsed(p.handler)).isInstanceOf(VirtqueueException.class)
                    .hasMessageContaining("IN_ORDER").hasMessageContaining("descriptor " + h2);
            assertThat(p.used).isEmpty();
            // a well-formed batch still works: idx by 3, element names the last
            used.set(S, 2, (short) 3);
            assertThat(p.drv.pollUsed(p.handler)).isEqualTo(3);
            assertThat(p.used).extracting(u -> u[0]).containsExactly(1L, 2L, 3L);
        }
    }

    /** Packed: a used descriptor naming an id that is not outstanding is a typed error naming it. */
    @org.junit.jupiter.api.Test
    void packedHostileBatchIdIsATypedError() throws Exception {
        try (Pair p = new Pair(true, IN_ORDER)) {
            int a = p.add(1, 1, 1);
            p.add(1, 1, 2);
            MemorySegment ring = p.mem.slice(RING_GPA, 16L * SIZE);
            int stranger = 7;
            assertThat(stranger).isNotEqualTo(a);
            ring.set(I, 8, 0);
            ring.set(S, 12, (short) stranger);
            ring.set(S, 14, (short) (1 << 7 | 1 << 15)); // used with wrap counter 1
            assertThatThrownBy(() -> p.drv.pollUsed(p.handler)).isInstanceOf(VirtqueueException.class)
                    .hasMessageContaining("buffer id " + stranger);
            assertThat(p.used).isEmpty();
            assertThat(p.drv.inFlight()).isEqualTo(2);
        }
    }

    /**
     * Packed: DPDK 22.11's vhost writes only the id and flags of a used descriptor that ends an
     * IN_ORDER batch, so its len is what the driver wrote in the batch's first descriptor; that is
     * accepted (cut to the named buffer's bytes), a len beyond both buffers is not.
     */
    @org.junit.jupiter.api.Test
    void packedBatchKeepsTheFirstDescriptorsLength() throws Exception {
        try (Pair p = new Pair(true, IN_ORDER)) {
            int first = p.drv.add(new long[] {BUF_GPA}, new int[] {1000}, 1, 0, 1);
            int second = p.drv.add(new long[] {BUF_GPA + 0x1000}, new int[] {60}, 1, 0, 2);
            MemorySegment ring = p.mem.slice(RING_GPA, 16L * SIZE);
            assertThat(ring.get(I, 8)).as("the driver's len in the first descriptor").isEqualTo(1000);
            ring.set(S, 12, (short) second); // id of the batch's last buffer, len and addr left alone
            ring.set(S, 14, (short) (1 << 7 | 1 << 15));
            assertThat(p.drv.pollUsed(p.handler)).isEqualTo(2);
            assertThat(p.used).extracting(u -> u[0]).containsExactly(1L, 2L);
            assertThat(p.used).extracting(u -> u[1]).containsExactly(0L, 60L);
            assertThat(first).isNotEqualTo(second);
            // a len larger than both buffers is refused
            p.used.clear();
            p.drv.add(new long[] {BUF_GPA}, new int[] {100}, 1, 0, 3);
            int b = p.drv.add(new long[] {BUF_GPA + 0x1000}, new int[] {50}, 1, 0, 4);
            ring.set(I, 2 * 16L + 8, 101);
            ring.set(S, 2 * 16L + 12, (short) b);
            ring.set(S, 2 * 16L + 14, (short) (1 << 7 | 1 << 15));
            assertThatThrownBy(() -> p.drv.pollUsed(p.handler)).isInstanceOf(VirtqueueException.class)
                    .hasMessageContaining("reports 101 bytes").hasMessageContaining("buffer id " + b);
            assertThat(p.used).isEmpty();
        }
    }

    /** Batching on the device and taking batches apart on the driver allocate nothing per buffer, split and packed. */
    @ParameterizedTest(name = "packed={0}")
    @ValueSource(booleans = {false, true})
    void batchedPathAllocatesNothing(boolean packed) throws Exception {
        var mx = (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
        try (Pair p = new Pair(packed, IN_ORDER)) {
            long[] addrs = {BUF_GPA, BUF_GPA + 0x100};
            int[] lens = {64, 100};
            int[] heads = new int[4];
            long[] sum = new long[1];
            DriverQueue.UsedHandler count = (token, len) -> sum[0] += token + len;
            long allocated = Long.MAX_VALUE;
            for (int round = 0; round < 30 && allocated >= 1024; round++) {
                long before = mx.getCurrentThreadAllocatedBytes();
                for (int i = 0; i < 5000; i++) {
                    for (int b = 0; b < 4; b++) {
                        p.drv.add(addrs, lens, 1, 1, b + 1);
                    }
                    for (int b = 0; b < 4; b++) {
                        p.dev.pop(p.chain);
                        heads[b] = p.chain.head();
                    }
                    for (int b = 0; b < 4; b++) {
                        p.dev.addUsedBatched(heads[b], 100);
                    }
                    p.dev.flushUsed();
                    if (p.drv.pollUsed(count) != 4) {
                        throw new AssertionError("round " + i + ": the batch of 4 did not come back whole");
                    }
                }
                allocated = mx.getCurrentThreadAllocatedBytes() - before;
            }
            assertThat(sum[0]).isPositive();
            assertThat(allocated).as("bytes allocated by 20000 batched buffers").isLessThan(1024);
        }
    }
}
