package com.vhost.spi.testing;

import com.vhost.api.virtio.SplitVirtqueueLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;

/**
 * The driver side of one split virtqueue (VIRTIO 1.2 section 2.7), laid out back to back in
 * {@code mem} at byte offset {@code base} (16-aligned): descriptor table, available ring, used ring
 * (4-aligned). Test code for driving a real back-end; descriptors are handed out in order and
 * never reused, which is enough for a few requests per test. Addresses in descriptors are device
 * addresses: guest-physical (vhost-net) or IOVA (vDPA), both {@code deviceBase + offset} here.
 */
public final class DriverRing {
    public static final ValueLayout.OfShort LE16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    public static final ValueLayout.OfInt LE32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    public static final ValueLayout.OfLong LE64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    public final MemorySegment mem;
    public final long base;
    public final int size;
    private final long deviceBase;
    private int nextDesc;
    private int availIdx;

    /**
     * @param mem the shared memory holding ring and buffers
     * @param base byte offset of the descriptor table in {@code mem}
     * @param size queue size (power of two)
     * @param deviceBase device address of {@code mem}'s first byte
     */
    public DriverRing(MemorySegment mem, long base, int size, long deviceBase) {
        if ((base & 15) != 0 || Integer.bitCount(size) != 1) {
            throw new IllegalArgumentException("ring at " + base + " size " + size);
        }
        this.mem = mem;
        this.base = base;
        this.size = size;
        this.deviceBase = deviceBase;
        mem.asSlice(base, SplitVirtqueueLayout.totalBytes(size)).fill((byte) 0);
    }

    public long descOffset() {
        return base;
    }

    public long availOffset() {
        return base + SplitVirtqueueLayout.availOffset(size);
    }

    public long usedOffset() {
        return base + SplitVirtqueueLayout.usedOffset(size);
    }

    /** @return the device address of byte {@code offset} of {@code mem} */
    public long dev(long offset) {
        return deviceBase + offset;
    }

    /**
     * Makes one descriptor chain of the buffers {@code (offset[i], len[i])} ({@code writable[i]}:
     * device writes), publishes its head in the available ring (release) and returns the head.
     */
    public int add(long[] offsets, int[] lens, boolean[] writable) {
        int head = nextDesc;
        for (int i = 0; i < offsets.length; i++) {
            int d = nextDesc++ % size;
            long at = base + 16L * d;
            short flags = (short) ((writable[i] ? SplitVirtqueueLayout.VIRTQ_DESC_F_WRITE : 0)
                    | (i + 1 < offsets.length ? SplitVirtqueueLayout.VIRTQ_DESC_F_NEXT : 0));
            mem.set(LE64, at, dev(offsets[i]));
            mem.set(LE32, at + 8, lens[i]);
            mem.set(LE16, at + 12, flags);
            mem.set(LE16, at + 14, (short) (nextDesc % size));
        }
        mem.set(LE16, availOffset() + 4 + 2L * (availIdx % size), (short) (head % size));
        availIdx++;
        VarHandle.releaseFence();
        mem.set(LE16, availOffset() + 2, (short) availIdx);
        VarHandle.fullFence();
        return head % size;
    }

    /** @return the used ring's idx (acquire) */
    public int usedIdx() {
        int v = Short.toUnsignedInt(mem.get(LE16, usedOffset() + 2));
        VarHandle.acquireFence();
        return v;
    }

    /** @return {id, len} of used element {@code i} (mod size) */
    public int[] used(int i) {
        long at = usedOffset() + 4 + 8L * (i % size);
        return new int[] {mem.get(LE32, at), mem.get(LE32, at + 4)};
    }

    /** Waits (bounded, sleeping) until the used idx reaches {@code idx}. @return true if it did */
    public boolean awaitUsed(int idx, long timeoutMs) throws InterruptedException {
        long end = System.nanoTime() + timeoutMs * 1_000_000L;
        while (((usedIdx() - idx) & 0xffff) >= 0x8000) {
            if (System.nanoTime() > end) {
                return false;
            }
            Thread.sleep(5);
        }
        return true;
    }
}
