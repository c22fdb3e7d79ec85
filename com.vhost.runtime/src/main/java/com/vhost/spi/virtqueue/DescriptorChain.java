package com.vhost.spi.virtqueue;

import static com.vhost.api.virtio.SplitVirtqueueLayout.DESC_SIZE;
import static com.vhost.api.virtio.SplitVirtqueueLayout.VIRTQ_DESC_F_INDIRECT;
import static com.vhost.api.virtio.SplitVirtqueueLayout.VIRTQ_DESC_F_NEXT;
import static com.vhost.api.virtio.SplitVirtqueueLayout.VIRTQ_DESC_F_WRITE;

import com.vhost.api.VirtqueueException;
import com.vhost.spi.memory.DirtyBitmap;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;

/**
 * One descriptor chain popped from a {@link DeviceQueue}, validated and resolved to guest memory
 * (OASIS VIRTIO 1.2, sections 2.7.5 and 2.7.5.3; modelled on crosvm
 * {@code devices/src/virtio/descriptor_chain.rs} and {@code descriptor_utils.rs}).
 *
 * <p>A chain is a reusable container: {@link DeviceQueue#pop} overwrites it, so a worker keeps one
 * per queue and allocates nothing per request. The chain's buffers are split into the
 * device-readable part (driver → device) followed by the device-writable part (device → driver);
 * each part is addressed by a byte offset from its start ({@code 0 .. readableBytes()-1},
 * {@code 0 .. writableBytes()-1}) or walked segment by segment ({@link #readableSegmentCount()},
 * {@link #readableHostAddress(int)}, ...) so a device can {@code pread}/{@code pwrite} straight into
 * guest memory. Zero-length descriptors are validated but hold no segment.
 *
 * <p>Validation on pop, each failure a {@link VirtqueueException} naming the queue, the
 * descriptor index and the bad value: head or {@code next} index outside the table; a chain
 * longer than the queue (a loop); flag bits other than NEXT, WRITE, INDIRECT; a readable
 * descriptor after a writable one; INDIRECT without VIRTIO_F_INDIRECT_DESC, with NEXT, nested, or
 * with a table length that is zero, not a multiple of 16 or more than the queue size; a buffer
 * that is not wholly inside one guest memory region; a buffer inside guest memory but longer than
 * {@link Integer#MAX_VALUE} bytes (a length of up to 0xFFFFFFFF fits a guest of more than 4 GiB;
 * the segment accessors return {@code int} lengths, which it used to turn negative). Lengths are
 * summed with {@link Math#addExact}.
 *
 * <p>On a packed ring (VIRTIO 1.2, 2.8.6 and 2.8.7; walked by {@link PackedRing}) the same buffer
 * rules hold; the chain is the run of consecutive ring descriptors linked by NEXT, an indirect
 * table's entries are consecutive (their NEXT flag is ignored, as the spec says; a nested
 * INDIRECT is refused) and {@link #head()} is the buffer id of the chain's last descriptor.
 */
public final class DescriptorChain {
    private static final int KNOWN_FLAGS = VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_INDIRECT;
    private static final VarHandle LE16 = DeviceQueue.LE16;
    private static final VarHandle LE32 = DeviceQueue.LE32;
    private static final VarHandle LE64 = DeviceQueue.LE64;
    private static final long ZERO_BYTES = 4096;
    private static final MemorySegment ZEROES = Arena.global().allocate(ZERO_BYTES);

    private final int capacity;
    private final long[] gpa;
    private final int[] length;
    /** Start offset of each segment within its part (readable or writable). */
    private final long[] start;
    private final MemorySegment[] region;
    private final long[] regionOffset;

    private int queueIndex = -1;
    private int head = -1;
    private int availIndex;
    private int descriptorCount;
    private int readableCount;
    private int count;
    private boolean seenWritable;
    private boolean packed;
    private long readableBytes;
    private long writableBytes;

    /**
     * @param capacity the most segments this chain can hold; a popped chain with more descriptors
     *     is rejected ({@link DeviceQueue#newChain()} uses the queue size, the spec's limit)
     */
    public DescriptorChain(int capacity) {
        if (capacity < 1) {
            throw new IllegalArgumentException("chain capacity " + capacity + " must be positive");
        }
        this.capacity = capacity;
        gpa = new long[capacity];
        length = new int[capacity];
        start = new long[capacity];
        region = new MemorySegment[capacity];
        regionOffset = new long[capacity];
    }

    void clear(int queue) {
        queueIndex = queue;
        head = -1;
        descriptorCount = 0;
        readableCount = 0;
        count = 0;
        seenWritable = false;
        readableBytes = 0;
        writableBytes = 0;
    }

    /**
     * Marks the guest pages of the first {@code bytes} of the writable part in {@code log}, segment
     * by segment in chain order (libvhost-user {@code vu_log_queue_fill}): what a device that wrote
     * {@code bytes} into the chain touched.
     */
    void logWritable(DirtyBitmap log, long bytes) {
        long left = bytes;
        for (int i = readableCount; i < count && left > 0; i++) {
            long n = Math.min(left, Integer.toUnsignedLong(length[i]));
            log.mark(gpa[i], n);
            left -= n;
        }
    }

    VirtqueueException fault(int desc, String what) {
        if (packed) {
            return new VirtqueueException(queueIndex, String.format("descriptor %d (chain from ring position %d, wrap %d): %s",
                    desc, availIndex & 0x7FFF, availIndex >>> 15, what));
        }
        return new VirtqueueException(queueIndex, "descriptor " + desc + " (chain head " + head + ", avail entry "
                + availIndex + "): " + what);
    }

    /**
     * Starts a chain for a ring walker: cleared, then {@code head} and {@code availIdx} recorded
     * ({@code packed}: {@code availIdx} is the ring position with the wrap counter in bit 15).
     */
    void begin(int queue, int headIndex, int availIdx, boolean packedRing) {
        clear(queue);
        head = headIndex;
        availIndex = availIdx;
        packed = packedRing;
    }

    /** Sets the chain's id once the walker read it (a packed ring's buffer id, in its last descriptor). */
    void setHead(int id) {
        head = id;
    }

    /** Counts one more descriptor walked (an indirect one and zero-length ones included). */
    void countDescriptor() {
        descriptorCount++;
    }

    /**
     * Appends one buffer of the chain walked from {@code q}: a readable one must not follow a
     * writable one; a non-empty buffer must lie inside one guest memory region, be at most
     * {@link Integer#MAX_VALUE} bytes, fit the chain's capacity and keep the totals from
     * overflowing. {@code idx} names the descriptor in messages.
     */
    void addBuffer(DeviceQueue q, int idx, long addr, long len, boolean writable) throws VirtqueueException {
        if (!writable && seenWritable) {
            throw fault(idx, String.format("device-readable buffer at 0x%x after a device-writable one", addr));
        }
        seenWritable |= writable;
        if (len == 0) {
            return;
        }
        if (count == capacity) {
            throw fault(idx, "chain has more than " + capacity + " buffers");
        }
        int r = resolve(q, idx, addr, len, "buffer");
        if (len > Integer.MAX_VALUE) {
            throw fault(idx, "buffer of " + len + " bytes is longer than the " + Integer.MAX_VALUE
                    + " bytes one descriptor may hold here");
        }
        gpa[count] = addr;
        length[count] = (int) len;
        region[count] = q.regions.segment(r);
        regionOffset[count] = q.regions.offset(r, addr);
        try {
            if (writable) {
                start[count] = writableBytes;
                writableBytes = Math.addExact(writableBytes, len);
            } else {
                start[count] = readableBytes;
                readableBytes = Math.addExact(readableBytes, len);
                readableCount++;
            }
        } catch (ArithmeticException e) {
            throw fault(idx, "total chain length overflows at buffer length " + len);
        }
        count++;
    }

    /** Walks and validates the split-ring chain starting at {@code headIndex}. */
    void load(DeviceQueue q, int headIndex, int availIdx) throws VirtqueueException {
        begin(q.index(), headIndex, availIdx, false);
        int size = q.size();
        if (headIndex >= size) {
            throw fault(headIndex, "head index " + headIndex + " is not below queue size " + size);
        }
        MemorySegment table = q.desc;
        long tableBase = 0;
        int tableEntries = size;
        boolean indirect = false;
        int visited = 0;
        int idx = headIndex;
        while (true) {
            if (++visited > tableEntries) {
                throw fault(idx, "chain visits more than " + tableEntries + " descriptors"
                        + (indirect ? " of its indirect table" : "") + ": a loop");
            }
            long off = tableBase + (long) DESC_SIZE * idx;
            long addr = (long) LE64.get(table, off);
            long len = Integer.toUnsignedLong((int) LE32.get(table, off + 8));
            int flags = Short.toUnsignedInt((short) LE16.get(table, off + 12));
            int next = Short.toUnsignedInt((short) LE16.get(table, off + 14));
            descriptorCount++;
            if ((flags & ~KNOWN_FLAGS) != 0) {
                throw fault(idx, String.format("unknown flag bits 0x%x in flags 0x%x", flags & ~KNOWN_FLAGS, flags));
            }
            if ((flags & VIRTQ_DESC_F_INDIRECT) != 0) {
                if (indirect) {
                    throw fault(idx, "INDIRECT flag inside an indirect table (nested tables are not allowed)");
                }
                int r = checkIndirect(q, idx, addr, len, (flags & VIRTQ_DESC_F_NEXT) != 0);
                table = q.regions.segment(r);
                tableBase = q.regions.offset(r, addr);
                tableEntries = (int) (len / DESC_SIZE);
                indirect = true;
                visited = 0;
                idx = 0;
                continue;
            }
            addBuffer(q, idx, addr, len, (flags & VIRTQ_DESC_F_WRITE) != 0);
            if ((flags & VIRTQ_DESC_F_NEXT) == 0) {
                return;
            }
            if (next >= tableEntries) {
                throw fault(idx, "next index " + next + " is not below " + (indirect ? "indirect table size " : "queue size ")
                        + tableEntries);
            }
            idx = next;
        }
    }

    /**
     * Checks an INDIRECT descriptor (both layouts): INDIRECT_DESC negotiated, no NEXT flag, a
     * table length that is a non-zero multiple of 16 and at most the queue size (or the chain's
     * capacity when larger), the table inside guest memory.
     *
     * @return the region index holding the table
     */
    int checkIndirect(DeviceQueue q, int idx, long addr, long len, boolean next) throws VirtqueueException {
        int size = q.size();
        if (!q.indirectDesc()) {
            throw fault(idx, "INDIRECT flag but VIRTIO_F_INDIRECT_DESC was not negotiated");
        }
        if (next) {
            throw fault(idx, "INDIRECT and NEXT flags both set");
        }
        if (len == 0 || len % DESC_SIZE != 0) {
            throw fault(idx, "indirect table length " + len + " is not a non-zero multiple of " + DESC_SIZE);
        }
        // A device that takes longer chains than the ring has entries (capacity above the
        // queue size: a blk model advertising seg_max for its largest ring, which a
        // front-end such as QEMU may run at a smaller size) accepts tables up to its
        // capacity, as QEMU's and libvhost-user's virtqueue_pop bound them by their iovec
        // limit, not the ring size; Linux's virtio_blk sizes them by seg_max alone.
        if (len / DESC_SIZE > Math.max(size, capacity)) {
            throw fault(idx, "indirect table of " + len / DESC_SIZE + " descriptors exceeds queue size " + size
                    + (capacity > size ? " and chain capacity " + capacity : ""));
        }
        return resolve(q, idx, addr, len, "indirect table");
    }

    int resolve(DeviceQueue q, int idx, long addr, long len, String what) throws VirtqueueException {
        long end;
        try {
            end = Math.addExact(addr, len);
        } catch (ArithmeticException e) {
            end = -1;
        }
        int r = end == -1 || !q.memory.contains(addr, len) ? -1 : q.regions.find(addr, len);
        if (r < 0) {
            throw fault(idx, String.format("%s [0x%x, +%d) is not inside guest memory", what, addr, len));
        }
        return r;
    }

    /** @return the queue this chain was popped from, or -1 before the first pop */
    public int queueIndex() {
        return queueIndex;
    }

    /**
     * @return the id the chain is returned with ({@link DeviceQueue#addUsed(int, int)}): on a
     *     split ring the head descriptor index, on a packed ring the buffer id of its last
     *     descriptor (0..size-1); -1 when empty
     */
    public int head() {
        return head;
    }

    /**
     * @return where this chain was popped: on a split ring the free-running avail index (16-bit),
     *     on a packed ring the ring position of its first descriptor with the avail wrap counter
     *     in bit 15
     */
    public int availIndex() {
        return availIndex;
    }

    /** @return the descriptors walked, including an indirect descriptor and zero-length ones */
    public int descriptorCount() {
        return descriptorCount;
    }

    /** @return total device-readable bytes */
    public long readableBytes() {
        return readableBytes;
    }

    /** @return total device-writable bytes */
    public long writableBytes() {
        return writableBytes;
    }

    /** @return number of non-empty device-readable segments */
    public int readableSegmentCount() {
        return readableCount;
    }

    /** @return number of non-empty device-writable segments */
    public int writableSegmentCount() {
        return count - readableCount;
    }

    private int rIdx(int i) {
        if (i < 0 || i >= readableCount) {
            throw new IndexOutOfBoundsException("readable segment " + i + " of " + readableCount);
        }
        return i;
    }

    private int wIdx(int i) {
        if (i < 0 || i >= count - readableCount) {
            throw new IndexOutOfBoundsException("writable segment " + i + " of " + (count - readableCount));
        }
        return readableCount + i;
    }

    /** @return guest-physical address of readable segment {@code i} */
    public long readableAddress(int i) {
        return gpa[rIdx(i)];
    }

    /** @return length in bytes of readable segment {@code i} */
    public int readableLength(int i) {
        return length[rIdx(i)];
    }

    /** @return the guest memory region segment holding readable segment {@code i} */
    public MemorySegment readableRegion(int i) {
        return region[rIdx(i)];
    }

    /** @return byte offset of readable segment {@code i} in {@link #readableRegion(int)} */
    public long readableRegionOffset(int i) {
        return regionOffset[rIdx(i)];
    }

    /** @return the host virtual address of readable segment {@code i} (for native I/O calls) */
    public long readableHostAddress(int i) {
        int k = rIdx(i);
        return region[k].address() + regionOffset[k];
    }

    /** @return guest-physical address of writable segment {@code i} */
    public long writableAddress(int i) {
        return gpa[wIdx(i)];
    }

    /** @return length in bytes of writable segment {@code i} */
    public int writableLength(int i) {
        return length[wIdx(i)];
    }

    /** @return the guest memory region segment holding writable segment {@code i} */
    public MemorySegment writableRegion(int i) {
        return region[wIdx(i)];
    }

    /** @return byte offset of writable segment {@code i} in {@link #writableRegion(int)} */
    public long writableRegionOffset(int i) {
        return regionOffset[wIdx(i)];
    }

    /** @return the host virtual address of writable segment {@code i} (for native I/O calls) */
    public long writableHostAddress(int i) {
        int k = wIdx(i);
        return region[k].address() + regionOffset[k];
    }

    // ---- byte-offset access -------------------------------------------------------------------

    private void check(boolean writable, long off, long len) throws VirtqueueException {
        long limit = writable ? writableBytes : readableBytes;
        if (off < 0 || len < 0 || off > limit || len > limit - off) {
            throw new VirtqueueException(queueIndex, String.format(
                    "chain head %d: %d bytes at %s offset %d exceed its %d %s bytes", head, len,
                    writable ? "writable" : "readable", off, limit, writable ? "writable" : "readable"));
        }
    }

    /** @return the segment (absolute index into the arrays) holding part offset {@code off} */
    private int locate(boolean writable, long off) {
        int lo = writable ? readableCount : 0;
        int hi = writable ? count - 1 : readableCount - 1;
        while (lo < hi) { // binary search over start offsets: last segment with start <= off
            int mid = (lo + hi + 1) >>> 1;
            if (start[mid] <= off) {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        return lo;
    }

    private byte getByte(boolean writable, long off) {
        int k = locate(writable, off);
        return region[k].get(ValueLayout.JAVA_BYTE, regionOffset[k] + off - start[k]);
    }

    private long readLe(long off, int n) throws VirtqueueException {
        check(false, off, n);
        int k = locate(false, off);
        long within = off - start[k];
        if (within + n <= length[k]) {
            long at = regionOffset[k] + within;
            return switch (n) {
                case 2 -> (short) LE16.get(region[k], at);
                case 4 -> (int) LE32.get(region[k], at);
                default -> (long) LE64.get(region[k], at);
            };
        }
        long v = 0; // straddles segments: assemble little-endian byte by byte
        for (int b = 0; b < n; b++) {
            v |= (getByte(false, off + b) & 0xFFL) << (8 * b);
        }
        return v;
    }

    /**
     * @param off byte offset in the readable part
     * @return the byte there
     * @throws VirtqueueException when {@code off} is outside the readable part
     */
    public byte readByte(long off) throws VirtqueueException {
        check(false, off, 1);
        return getByte(false, off);
    }

    /** @return the little-endian 16-bit value at readable offset {@code off} (may straddle segments) */
    public short readShort(long off) throws VirtqueueException {
        return (short) readLe(off, 2);
    }

    /** @return the little-endian 32-bit value at readable offset {@code off} (may straddle segments) */
    public int readInt(long off) throws VirtqueueException {
        return (int) readLe(off, 4);
    }

    /** @return the little-endian 64-bit value at readable offset {@code off} (may straddle segments) */
    public long readLong(long off) throws VirtqueueException {
        return readLe(off, 8);
    }

    /**
     * Copies {@code len} bytes from readable offset {@code off} to {@code dst} at {@code dstOff}.
     *
     * @throws VirtqueueException when the range exceeds the readable part
     */
    public void copyReadable(long off, MemorySegment dst, long dstOff, long len) throws VirtqueueException {
        check(false, off, len);
        while (len > 0) {
            int k = locate(false, off);
            long within = off - start[k];
            long n = Math.min(len, length[k] - within);
            MemorySegment.copy(region[k], regionOffset[k] + within, dst, dstOff, n);
            off += n;
            dstOff += n;
            len -= n;
        }
    }

    /**
     * Copies {@code len} bytes from {@code src} at {@code srcOff} to writable offset {@code off}.
     *
     * @throws VirtqueueException when the range exceeds the writable part
     */
    public void copyToWritable(long off, MemorySegment src, long srcOff, long len) throws VirtqueueException {
        check(true, off, len);
        while (len > 0) {
            int k = locate(true, off);
            long within = off - start[k];
            long n = Math.min(len, length[k] - within);
            MemorySegment.copy(src, srcOff, region[k], regionOffset[k] + within, n);
            off += n;
            srcOff += n;
            len -= n;
        }
    }

    /** Writes zeroes to {@code len} bytes at writable offset {@code off}. */
    public void zeroWritable(long off, long len) throws VirtqueueException {
        check(true, off, len);
        while (len > 0) {
            long n = Math.min(len, ZERO_BYTES);
            copyToWritable(off, ZEROES, 0, n);
            off += n;
            len -= n;
        }
    }

    /**
     * Writes one byte at writable offset {@code off}.
     *
     * @throws VirtqueueException when {@code off} is outside the writable part
     */
    public void writeByte(long off, byte value) throws VirtqueueException {
        check(true, off, 1);
        int k = locate(true, off);
        region[k].set(ValueLayout.JAVA_BYTE, regionOffset[k] + off - start[k], value);
    }

    /** Writes a little-endian 32-bit value at writable offset {@code off} (may straddle segments). */
    public void writeInt(long off, int value) throws VirtqueueException {
        writeLe(off, value, 4);
    }

    /** Writes a little-endian 64-bit value at writable offset {@code off} (may straddle segments). */
    public void writeLong(long off, long value) throws VirtqueueException {
        writeLe(off, value, 8);
    }

    private void writeLe(long off, long value, int n) throws VirtqueueException {
        check(true, off, n);
        int k = locate(true, off);
        long within = off - start[k];
        if (within + n <= length[k]) {
            if (n == 4) {
                LE32.set(region[k], regionOffset[k] + within, (int) value);
            } else {
                LE64.set(region[k], regionOffset[k] + within, value);
            }
            return;
        }
        for (int b = 0; b < n; b++) {
            writeByte(off + b, (byte) (value >>> (8 * b)));
        }
    }

    @Override
    public String toString() {
        return "DescriptorChain[queue " + queueIndex + ", head " + head + ", " + readableBytes + " readable in "
                + readableCount + ", " + writableBytes + " writable in " + (count - readableCount) + "]";
    }
}
