package com.vhost.spi.virtqueue;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import com.vhost.api.VirtqueueException;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.api.virtio.VirtqueueConfig;
import com.vhost.spi.testing.TestGuestMemory;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Fuzz target 3 of issue #10 ("hostile front-ends"): descriptor-chain parsing of the split
 * virtqueue (VIRTIO 1.2, 2.7.5, 2.7.5.3) against guest memory. The fuzzer writes the descriptor
 * table, the avail ring (its {@code idx} and entries), an indirect table and picks the queue size,
 * the start index and whether INDIRECT_DESC / EVENT_IDX were negotiated; descriptor addresses are
 * either raw 64-bit values or offsets into one of two guest memory regions (so chains that
 * straddle, leave or just fit a region are common).
 *
 * <p>Oracle: {@link DeviceQueue#pop} returns a chain or throws {@link VirtqueueException} with a
 * message, nothing else ({@link IndexOutOfBoundsException}, {@link ArithmeticException},
 * {@link InternalError} are findings); a popped chain holds at most the queue size of buffers,
 * its readable and writable byte counts are the sums of its segments, every segment lies inside
 * guest memory, and the device can read all its readable bytes and zero all its writable bytes;
 * at most {@code size} chains are popped per avail {@code idx} (no hang).
 */
class DescriptorChainFuzzTest {
    static final ValueLayout.OfShort LE16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfInt LE32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfLong LE64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    /** Region 0: rings, indirect table and buffers. */
    static final long R0 = 0x10000;
    static final long R0_SIZE = 0x10000;
    /** Region 1: a small region with a hole below it. */
    static final long R1 = 0x40000;
    static final long R1_SIZE = 0x2000;
    static final long DESC = R0;
    static final long AVAIL = R0 + 0x1000;
    static final long USED = R0 + 0x2000;
    static final long INDIRECT = R0 + 0x3000;
    static final int MAX_SIZE = 256;
    static final TestGuestMemory MEM = new TestGuestMemory(R0, R0_SIZE, R1, R1_SIZE);
    static final MemorySegment SCRATCH = Arena.global().allocate(R0_SIZE);

    @FuzzTest(maxDuration = "5m", maxExecutions = 100_000)
    void popFuzzedChains(FuzzedDataProvider data) throws Exception {
        popChains(data);
    }

    /** The target's body. */
    static void popChains(FuzzedDataProvider data) throws Exception {
        MemorySegment r0 = MEM.slice(R0, R0_SIZE);
        r0.fill((byte) 0);
        int size = 1 << data.consumeInt(0, 8);
        long features = (data.consumeBoolean() ? VirtioFeatures.bit(VirtioFeatures.F_INDIRECT_DESC) : 0)
                | (data.consumeBoolean() ? VirtioFeatures.bit(VirtioFeatures.F_EVENT_IDX) : 0);
        int nextAvail = data.consumeInt(0, 0xFFFF);
        int descriptors = data.consumeInt(0, size);
        for (int i = 0; i < descriptors; i++) {
            long d = DESC + 16L * data.consumeInt(0, size - 1);
            MEM.slice(d, 16).set(LE64, 0, address(data));
            MEM.slice(d, 16).set(LE32, 8, length(data));
            MEM.slice(d, 16).set(LE16, 12, (short) data.consumeInt(0, data.consumeBoolean() ? 7 : 0xFFFF));
            MEM.slice(d, 16).set(LE16, 14, (short) data.consumeInt(0, data.consumeBoolean() ? size : 0xFFFF));
        }
        int indirect = data.consumeInt(0, MAX_SIZE);
        for (int i = 0; i < indirect; i++) {
            long d = INDIRECT + 16L * i;
            MEM.slice(d, 16).set(LE64, 0, address(data));
            MEM.slice(d, 16).set(LE32, 8, length(data));
            MEM.slice(d, 16).set(LE16, 12, (short) data.consumeInt(0, data.consumeBoolean() ? 7 : 0xFFFF));
            MEM.slice(d, 16).set(LE16, 14, (short) data.consumeInt(0, data.consumeBoolean() ? indirect : 0xFFFF));
        }
        int entries = data.consumeInt(0, size);
        for (int i = 0; i < entries; i++) {
            int head = data.consumeBoolean() ? data.consumeInt(0, size - 1) : data.consumeInt(0, 0xFFFF);
            MEM.slice(AVAIL, 4 + 2L * size).set(LE16, 4 + 2L * ((nextAvail + i) & (size - 1)), (short) head);
        }
        int availIdx = data.consumeBoolean() ? (nextAvail + entries) & 0xFFFF : data.consumeInt(0, 0xFFFF);
        MEM.slice(AVAIL, 4).set(LE16, 2, (short) availIdx);
        MEM.slice(USED, 4).set(LE16, 2, (short) data.consumeInt(0, 0xFFFF));
        VirtqueueConfig cfg = new VirtqueueConfig(0, size, DESC, AVAIL, USED, nextAvail, -1, -1, true);
        DeviceQueue q = new DeviceQueue(MEM, cfg, features);
        DescriptorChain c = q.newChain();
        for (int popped = 0; ; popped++) {
            try {
                if (!q.pop(c)) {
                    assertThat(popped).isLessThanOrEqualTo(size);
                    return;
                }
            } catch (VirtqueueException e) {
                assertThat(e.getMessage()).startsWith("queue 0").isNotBlank();
                return;
            }
            assertThat(popped).as("chains popped for one avail idx").isLessThan(size);
            checkChain(c, size);
            q.addUsed(c.head(), (int) Math.min(c.writableBytes(), Integer.MAX_VALUE));
            q.needsNotification();
        }
    }

    static long address(FuzzedDataProvider data) {
        return switch (data.consumeInt(0, 3)) {
            case 0 -> data.consumeLong();
            case 1 -> R1 + data.consumeLong(-16, R1_SIZE + 16);
            default -> R0 + data.consumeLong(0, R0_SIZE + 16);
        };
    }

    static int length(FuzzedDataProvider data) {
        return data.consumeBoolean() ? data.consumeInt() : data.consumeInt(0, 0x1010);
    }

    static void checkChain(DescriptorChain c, int size) throws VirtqueueException {
        assertThat(c.head()).isBetween(0, size - 1);
        int segments = c.readableSegmentCount() + c.writableSegmentCount();
        assertThat(segments).isLessThanOrEqualTo(size);
        long readable = 0;
        for (int i = 0; i < c.readableSegmentCount(); i++) {
            assertThat(MEM.contains(c.readableAddress(i), Integer.toUnsignedLong(c.readableLength(i)))).isTrue();
            readable += Integer.toUnsignedLong(c.readableLength(i));
        }
        long writable = 0;
        for (int i = 0; i < c.writableSegmentCount(); i++) {
            assertThat(MEM.contains(c.writableAddress(i), Integer.toUnsignedLong(c.writableLength(i)))).isTrue();
            writable += Integer.toUnsignedLong(c.writableLength(i));
        }
        assertThat(c.readableBytes()).isEqualTo(readable);
        assertThat(c.writableBytes()).isEqualTo(writable);
        for (long off = 0; off < readable; off += SCRATCH.byteSize()) {
            c.copyReadable(off, SCRATCH, 0, Math.min(SCRATCH.byteSize(), readable - off));
        }
        if (readable >= 8) {
            c.readLong(readable - 8);
        }
        c.zeroWritable(0, writable);
    }
}
