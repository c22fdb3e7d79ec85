package com.vhost.spi.testing;

import com.vhost.api.virtio.GuestMemory;
import com.vhost.api.virtio.SplitVirtqueueLayout;
import com.vhost.api.virtio.VirtqueueConfig;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;

/**
 * Test-only driver side of a split virtqueue: lays out the descriptor table, avail ring and used
 * ring back to back at a guest address and lets a test write descriptors, make chains
 * available and read the used ring. Descriptors are handed out round-robin; a bump allocator
 * hands out buffer space after the rings.
 *
 * <p>{@link #writeChain} refuses to overwrite a descriptor of a chain that was made available and
 * that the device has not used yet (read from the used ring): a test that submits more
 * descriptors than the table holds fails with that message rather than with the device's answer
 * to a chain rewritten under it. {@link #startAt} forgets what was outstanding.
 */
public final class TestRingDriver {
    private static final ValueLayout.OfShort LE16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt LE32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong LE64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** One buffer of a chain. */
    public record Buf(long gpa, int len, boolean writable) {}

    private final GuestMemory memory;
    private final int queueIndex;
    private final int size;
    private final long descGpa;
    private final long availGpa;
    private final long usedGpa;
    private final MemorySegment desc;
    private final MemorySegment avail;
    private final MemorySegment used;
    private int availIdx;
    private int startIdx;
    private int nextDesc;
    private long heap;
    private final long heapEnd;
    private int lastUsedSeen;
    /** Per descriptor: the head of the chain {@link #writeChain} last wrote it into, or -1. */
    private final int[] owner;
    /** Per descriptor: the number of that chain ({@link #chains} when written). */
    private final int[] ownerChain;
    /** Per head: the number of the chain last written with that head. */
    private final int[] headChain;
    private int chains;
    /** Per head: made available and not seen in the used ring yet. */
    private final boolean[] outstanding;
    /** Free-running used index up to which used ids were read into {@link #outstanding}. */
    private int usedScanned;

    /**
     * @param memory guest memory
     * @param queueIndex queue index reported in the config
     * @param size queue size
     * @param base guest address (16-aligned) of the rings; buffers are allocated after them up to
     *     {@code base + span}
     * @param span bytes this driver may use from {@code base}
     */
    public TestRingDriver(GuestMemory memory, int queueIndex, int size, long base, long span) {
        this.memory = memory;
        this.queueIndex = queueIndex;
        this.size = size;
        this.descGpa = base;
        this.availGpa = base + SplitVirtqueueLayout.availOffset(size);
        this.usedGpa = base + SplitVirtqueueLayout.usedOffset(size);
        this.desc = memory.slice(descGpa, SplitVirtqueueLayout.descTableBytes(size));
        this.avail = memory.slice(availGpa, SplitVirtqueueLayout.availRingBytes(size));
        this.used = memory.slice(usedGpa, SplitVirtqueueLayout.usedRingBytes(size));
        this.heap = (base + SplitVirtqueueLayout.totalBytes(size) + 4095) & -4096L;
        this.heapEnd = base + span;
        desc.fill((byte) 0);
        avail.fill((byte) 0);
        used.fill((byte) 0);
        this.owner = new int[size];
        this.outstanding = new boolean[size];
        this.ownerChain = new int[size];
        this.headChain = new int[size];
        java.util.Arrays.fill(owner, -1);
    }

    /** @return the config for this ring, enabled, with {@code nextAvail} the ring's start index ({@link #startAt}) */
    public VirtqueueConfig config(int kickFd, int callFd) {
        return new VirtqueueConfig(queueIndex, size, descGpa, availGpa, usedGpa, startIdx, kickFd, callFd, true);
    }

    public int size() {
        return size;
    }

    public GuestMemory memory() {
        return memory;
    }

    /** Sets avail idx and used idx both to {@code idx} (before the device is built). */
    public void startAt(int idx) {
        availIdx = idx & 0xFFFF;
        startIdx = availIdx;
        lastUsedSeen = availIdx;
        usedScanned = availIdx;
        java.util.Arrays.fill(outstanding, false);
        avail.set(LE16, 2, (short) availIdx);
        used.set(LE16, 2, (short) availIdx);
    }

    /** @return a fresh buffer of {@code len} bytes (16-aligned guest address) */
    public long alloc(long len) {
        long at = heap;
        heap = (heap + len + 15) & -16L;
        if (heap > heapEnd) {
            throw new IllegalStateException("test driver heap exhausted");
        }
        return at;
    }

    /** @return the memory at {@code gpa} */
    public MemorySegment at(long gpa, long len) {
        return memory.slice(gpa, len);
    }

    /** Writes descriptor {@code i} in the ring's table. */
    public void writeDescriptor(int i, long addr, int len, int flags, int next) {
        writeDescriptor(desc, i, addr, len, flags, next);
    }

    /** Writes entry {@code i} of a descriptor table at {@code table}. */
    public static void writeDescriptor(MemorySegment table, int i, long addr, int len, int flags, int next) {
        long off = 16L * i;
        table.set(LE64, off, addr);
        table.set(LE32, off + 8, len);
        table.set(LE16, off + 12, (short) flags);
        table.set(LE16, off + 14, (short) next);
    }

    /** Puts {@code head} in the avail ring and publishes the new avail idx (release). */
    public void makeAvailable(int head) {
        markOutstanding(head);
        avail.set(LE16, 4 + 2L * (availIdx & (size - 1)), (short) head);
        availIdx = (availIdx + 1) & 0xFFFF;
        VarHandle.releaseFence();
        avail.set(LE16, 2, (short) availIdx);
    }

    /** Puts {@code heads} in the avail ring and publishes them with one avail idx store (release). */
    public void makeAvailable(int... heads) {
        int idx = availIdx;
        for (int head : heads) {
            markOutstanding(head);
            avail.set(LE16, 4 + 2L * (idx & (size - 1)), (short) head);
            idx = (idx + 1) & 0xFFFF;
        }
        availIdx = idx;
        VarHandle.releaseFence();
        avail.set(LE16, 2, (short) availIdx);
    }

    /** Writes the avail idx directly (to simulate a corrupt driver). */
    public void setAvailIdx(int idx) {
        availIdx = idx & 0xFFFF;
        avail.set(LE16, 2, (short) availIdx);
    }

    private void markOutstanding(int head) {
        if (head >= 0 && head < size) {
            outstanding[head] = true;
        }
    }

    /**
     * Writes a chain of buffers into consecutive (round-robin) descriptors; returns the head.
     *
     * @throws IllegalStateException when one of those descriptors belongs to a chain made
     *     available and not used yet (the test submitted more than the table holds)
     */
    public int writeChain(Buf... bufs) {
        int head = nextDesc;
        int now = usedIdx();
        for (; usedScanned != now; usedScanned = (usedScanned + 1) & 0xFFFF) {
            int id = usedId(usedScanned);
            if (id >= 0 && id < size) {
                outstanding[id] = false;
            }
        }
        for (int i = 0; i < bufs.length; i++) {
            int d = (head + i) % size;
            int o = owner[d];
            if (o >= 0 && outstanding[o] && headChain[o] == ownerChain[d]) {
                throw new IllegalStateException("test driver, queue " + queueIndex + ": descriptor " + d
                        + " still belongs to chain " + o + ", available and not used yet: the test keeps more descriptors"
                        + " in flight than the table's " + size);
            }
        }
        for (int i = 0; i < bufs.length; i++) {
            int d = (head + i) % size;
            owner[d] = head;
            ownerChain[d] = chains;
            int next = (head + i + 1) % size;
            int flags = (bufs[i].writable() ? SplitVirtqueueLayout.VIRTQ_DESC_F_WRITE : 0)
                    | (i + 1 < bufs.length ? SplitVirtqueueLayout.VIRTQ_DESC_F_NEXT : 0);
            writeDescriptor(d, bufs[i].gpa(), bufs[i].len(), flags, i + 1 < bufs.length ? next : 0);
        }
        headChain[head] = chains++;
        nextDesc = (head + bufs.length) % size;
        return head;
    }

    /** Writes a chain and makes it available; returns the head. */
    public int submit(Buf... bufs) {
        int head = writeChain(bufs);
        makeAvailable(head);
        return head;
    }

    /** @return the device's used idx (acquire) */
    public int usedIdx() {
        int idx = Short.toUnsignedInt(used.get(LE16, 2));
        VarHandle.acquireFence();
        return idx;
    }

    /** @return id of used element at free-running index {@code i} */
    public int usedId(int i) {
        return used.get(LE32, 4 + 8L * (i & (size - 1)));
    }

    /** @return len of used element at free-running index {@code i} */
    public int usedLen(int i) {
        return used.get(LE32, 8 + 8L * (i & (size - 1)));
    }

    /** @return number of used elements published since the last call */
    public int takeUsed() {
        int now = usedIdx();
        int n = (now - lastUsedSeen) & 0xFFFF;
        lastUsedSeen = now;
        return n;
    }

    /**
     * Waits (bounded) until the used idx reaches {@code target}.
     *
     * @return whether it did within {@code timeoutMs}
     */
    public boolean awaitUsed(int target, long timeoutMs) throws InterruptedException {
        long start = System.nanoTime();
        long deadline = start + timeoutMs * 1_000_000;
        while (usedIdx() != (target & 0xFFFF)) {
            long now = System.nanoTime();
            if (now > deadline) {
                return false;
            }
            if (now - start < 200_000) {
                Thread.yield(); // completions usually take microseconds
            } else {
                Thread.sleep(1);
            }
        }
        return true;
    }

    public int availIdx() {
        return availIdx;
    }

    public void setAvailFlags(int flags) {
        avail.set(LE16, 0, (short) flags);
    }

    public void setUsedEvent(int idx) {
        avail.set(LE16, 4 + 2L * size, (short) idx);
    }

    public int usedFlags() {
        return Short.toUnsignedInt(used.get(LE16, 0));
    }

    public int availEvent() {
        return Short.toUnsignedInt(used.get(LE16, 4 + 8L * size));
    }
}
