package com.vhost.user.testing;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;

/**
 * Test-only minimal split-ring driver (VIRTIO 1.2, 2.7) over one segment of guest memory whose
 * guest address is 0: descriptor table at {@code base}, avail ring at {@code base + 0x1000}, used
 * ring at {@code base + 0x2000}, request buffers from {@code base + 0x3000}. One chain in flight
 * at a time; no EVENT_IDX.
 */
public final class TestRing {
    public static final ValueLayout.OfShort LE16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    public static final ValueLayout.OfInt LE32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    public static final ValueLayout.OfLong LE64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final VarHandle U16 = ValueLayout.JAVA_SHORT.withOrder(ByteOrder.LITTLE_ENDIAN).varHandle();

    private final MemorySegment g;
    private final long base;
    private final int size;
    private int availIdx;

    public TestRing(MemorySegment guest, long base, int size, int firstAvail) {
        this.g = guest;
        this.base = base;
        this.size = size;
        this.availIdx = firstAvail;
    }

    public long desc() {
        return base;
    }

    public long avail() {
        return base + 0x1000;
    }

    public long used() {
        return base + 0x2000;
    }

    /** @return guest address of request scratch area {@code i} (4 KiB each, 4 areas) */
    public long buffer(int i) {
        return base + 0x3000 + 0x1000L * i;
    }

    public MemorySegment memory() {
        return g;
    }

    /** Writes descriptor {@code i}. */
    public void descriptor(int i, long addr, int len, int flags, int next) {
        long d = base + 16L * i;
        g.set(LE64, d, addr);
        g.set(LE32, d + 8, len);
        g.set(LE16, d + 12, (short) flags);
        g.set(LE16, d + 14, (short) next);
    }

    /** Makes chain {@code head} available and publishes the new avail index (release). */
    public void publish(int head) {
        g.set(LE16, avail() + 4 + 2L * (availIdx % size), (short) head);
        availIdx = (availIdx + 1) & 0xFFFF;
        U16.setRelease(g, avail() + 2, (short) availIdx);
        VarHandle.fullFence();
    }

    /** @return the used ring's idx (acquire) */
    public int usedIdx() {
        return Short.toUnsignedInt((short) U16.getAcquire(g, used() + 2));
    }
}
