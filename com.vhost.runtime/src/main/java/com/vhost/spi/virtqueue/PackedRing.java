package com.vhost.spi.virtqueue;

import static com.vhost.spi.virtqueue.PackedLayout.*;

import com.vhost.api.VirtqueueException;
import com.vhost.spi.memory.DirtyBitmap;
import com.vhost.spi.memory.InflightPackedRegion;
import com.vhost.spi.memory.WriteLog;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.VarHandle;

/**
 * The device side of one packed virtqueue (OASIS VIRTIO 1.2, section 2.8), behind a
 * {@link DeviceQueue} whose features carry {@code VIRTIO_F_RING_PACKED}.
 *
 * <p>Layout: the descriptor ring is {@code size} 16-byte descriptors {@code {le64 addr; le32 len;
 * le16 id; le16 flags}} at the queue's descriptor address; the driver event suppression area
 * {@code {le16 off_wrap; le16 flags}} (4 bytes) is at the queue's "avail" address and the device
 * event suppression area (same shape) at its "used" address (vhost-user and QEMU pass the three
 * in the split ring's desc/avail/used slots).
 *
 * <p>Positions are ring offsets {@code 0..size-1} with a wrap counter that starts at 1 and flips
 * each time a position wraps to 0; outside this class a position is encoded as
 * {@code offset | wrap << 15} (the vhost-user GET/SET_VRING_BASE form). A descriptor at the next
 * avail position is available when its AVAIL flag (bit 7) equals the avail wrap counter and its
 * USED flag (bit 15) does not (2.8.1). A chain is the run of consecutive descriptors linked by
 * NEXT, wrapping at the ring's end; its buffer id is in its last descriptor (2.8.6). The device
 * returns a chain by writing one used descriptor {@code {id, len, flags = AVAIL|USED both equal to
 * the used wrap counter}} at the next used position, the flags last with release ordering, and
 * moves the used position on by the number of ring descriptors the chain took (2.8.4, 2.8.6), so
 * completions in any order (io_uring, shuffled) fill used slots in completion order. A table of
 * {@code size} entries records, per buffer id, how many ring descriptors the chain took: an id
 * at or above {@code size}, popped again while in flight, or returned while not in flight is a
 * {@link VirtqueueException}.
 *
 * <p>Notification suppression (2.8.10, 2.8.14): before deciding to notify, a full fence orders
 * the used-flag store before the load of the driver's area; {@code flags} DISABLE (1) never
 * notifies, ENABLE (0) notifies when something was used since the last decision, DESC (2) with
 * EVENT_IDX notifies when the used position crossed {@code off_wrap} (Linux
 * {@code vring_need_event} over positions unwrapped against the used wrap counter; a window of a
 * whole ring or more always notifies). The device area is written by
 * {@link #enableNotifications()} (EVENT_IDX: {@code off_wrap} = next avail position, then flags
 * DESC with release; else flags ENABLE) and {@link #disableNotifications()} (flags DISABLE).
 *
 * <p>Dirty logging: when the ring logs its used writes (VHOST_VRING_F_LOG), a used descriptor's
 * written bytes are marked at their guest address in the descriptor ring and the device area's
 * at theirs (a packed ring has no used ring to offset into).
 *
 * <p>Inflight I/O tracking (vhost-user spec, "Inflight I/O tracking", packed virtqueue): over an
 * inflight part ({@link InflightPackedRegion}) every chain popped is recorded in it descriptor by
 * descriptor and committed once whole (a chain the ring refuses is dropped from it), and every
 * completion puts the chain back on the region's free list and moves its used position before
 * the used flags are written, clearing the chain's {@code inflight} after. A ring started over a
 * part that holds chains in flight (a back-end restarted under a front-end that kept the region)
 * starts at the region's used position, hands those chains out again from {@link #pop} in the
 * order they were first taken (their descriptors as the region copied them: the ring may hold
 * used descriptors over them), then pops at the used position plus their descriptors; its first
 * notification decision notifies (the predecessor may have died before notifying).
 *
 * <p>In-order use (2.8.8, VIRTIO_F_IN_ORDER acked): the ring position each buffer id was popped
 * at is kept, and a buffer completed anywhere but at the used position (after the pending batch)
 * is a {@link VirtqueueException}; {@link #addUsedBatched} adds a buffer to the pending batch and
 * {@link #flushUsed()} writes one used descriptor with the last buffer's id and length at the
 * used position, which then moves on by the descriptors of the whole batch.
 *
 * <p>Not thread-safe; allocates nothing after construction.
 */
final class PackedRing {
    private static final int KNOWN_FLAGS = F_NEXT | F_WRITE | F_INDIRECT | F_AVAIL | F_USED;
    private static final VarHandle LE16 = DeviceQueue.LE16;
    private static final VarHandle LE32 = DeviceQueue.LE32;
    private static final VarHandle LE64 = DeviceQueue.LE64;

    private final DeviceQueue q;
    private final int index;
    private final int size;
    private final boolean eventIdx;
    private final MemorySegment desc;
    private final MemorySegment driverArea;
    private final MemorySegment deviceArea;
    private final long descGpa;
    private final long deviceGpa;
    private final WriteLog log;
    /** Per buffer id: the ring descriptors its chain took while in flight, 0 when not in flight. */
    private final int[] inFlightDescriptors;
    /** The inflight part of this queue, or null (not tracked). */
    private final InflightPackedRegion inflight;
    /** Per buffer id in flight: the head entry of its chain in {@link #inflight}. */
    private final int[] headEntry;
    /** Per buffer id in flight: the last entry of its chain in {@link #inflight}. */
    private final int[] lastEntry;
    /** The first notification decision notifies (a ring restarted over chains in flight). */
    private boolean notifyFirst;
    /** IN_ORDER: per buffer id, the ring position its chain starts at; null without IN_ORDER. */
    private final int[] popPosition;
    /** IN_ORDER: ring descriptors of the pending batch, 0 when none is pending. */
    private int batchDescriptors;
    private int batchId;
    private int batchLen;

    private int availPos;
    private boolean availWrap;
    private int usedPos;
    private boolean usedWrap;
    /** Ring descriptors returned since the last notification decision. */
    private int sinceDecision;
    /** The device area flags last written, -1 before the first write. */
    private int deviceFlags = -1;

    /**
     * @param base where to start: {@code offset | avail wrap << 15}; the used position starts
     *     there too (a ring is stopped only with nothing in flight); over an inflight part in use
     *     the part's positions are used instead
     * @param inflightPart this queue's part of the inflight region ({@link InflightPackedRegion}
     *     layout), or null
     * @throws VirtqueueException when the offset is not below {@code size}, or the inflight part
     *     is not usable (the message names the field)
     */
    PackedRing(DeviceQueue q, MemorySegment desc, MemorySegment driverArea, MemorySegment deviceArea, long descGpa,
            long deviceGpa, boolean eventIdx, boolean inOrder, WriteLog log, int base, MemorySegment inflightPart)
            throws VirtqueueException {
        this.q = q;
        this.index = q.index();
        this.size = q.size();
        this.desc = desc;
        this.driverArea = driverArea;
        this.deviceArea = deviceArea;
        this.descGpa = descGpa;
        this.deviceGpa = deviceGpa;
        this.eventIdx = eventIdx;
        this.log = log;
        this.inFlightDescriptors = new int[size];
        this.popPosition = inOrder ? new int[size] : null;
        int offset = base & 0x7FFF;
        if (offset >= size || (base & ~0xFFFF) != 0) {
            throw new VirtqueueException(index, String.format(
                    "packed ring base 0x%x: position %d is not below queue size %d", base, offset, size));
        }
        availPos = offset;
        availWrap = (base & 0x8000) != 0;
        usedPos = availPos;
        usedWrap = availWrap;
        if (inflightPart == null) {
            inflight = null;
            headEntry = null;
            lastEntry = null;
            return;
        }
        try {
            inflight = InflightPackedRegion.open(inflightPart, size, base, desc);
        } catch (IllegalArgumentException e) {
            throw new VirtqueueException(index, e.getMessage());
        }
        headEntry = new int[size];
        lastEntry = new int[size];
        int used = inflight.usedPosition();
        int avail = inflight.availPosition();
        usedPos = used & 0x7FFF;
        usedWrap = (used & 0x8000) != 0;
        availPos = avail & 0x7FFF;
        availWrap = (avail & 0x8000) != 0;
        notifyFirst = inflight.inflightAtOpen() > 0;
    }

    /** @return this queue's inflight tracking, or null */
    InflightPackedRegion inflight() {
        return inflight;
    }

    private static int encode(int pos, boolean wrap) {
        return pos | (wrap ? 0x8000 : 0);
    }

    /** @return the next avail position, {@code offset | wrap << 15} */
    int nextAvail() {
        return encode(availPos, availWrap);
    }

    /** @return the next used position, {@code offset | wrap << 15} */
    int nextUsed() {
        return encode(usedPos, usedWrap);
    }

    private boolean available(int flags, boolean wrap) {
        return ((flags & F_AVAIL) != 0) == wrap && ((flags & F_USED) != 0) != wrap;
    }

    /**
     * @return whether a chain found in flight in the inflight region is left to resubmit, or the
     *     descriptor at the next avail position is available (acquire)
     */
    boolean hasAvailable() {
        if (inflight != null && inflight.hasResubmit()) {
            return true;
        }
        int flags = Short.toUnsignedInt((short) LE16.get(desc, (long) DESC_SIZE * availPos + 14));
        VarHandle.acquireFence();
        return available(flags, availWrap);
    }

    /**
     * Pops the chain at the next avail position into {@code into}.
     *
     * @return false when the next descriptor is not available ({@code into} is cleared)
     * @throws VirtqueueException for a malformed chain (see {@link DescriptorChain}), a chain of
     *     more than {@code size} descriptors, unknown flag bits, a buffer id at or above
     *     {@code size} or already in flight
     */
    boolean pop(DescriptorChain into) throws VirtqueueException {
        if (inflight != null && inflight.hasResubmit()) {
            resubmit(into);
            return true;
        }
        int pos = availPos;
        boolean wrap = availWrap;
        int first = Short.toUnsignedInt((short) LE16.get(desc, (long) DESC_SIZE * pos + 14));
        if (!available(first, wrap)) {
            into.clear(index);
            return false;
        }
        VarHandle.acquireFence(); // the descriptors after the flags that made them available
        into.begin(index, -1, encode(pos, wrap), true);
        int h = inflight != null ? inflight.beginChain() : -1;
        try {
            return walk(into, pos, wrap, h);
        } catch (VirtqueueException | RuntimeException e) {
            if (inflight != null) {
                inflight.abortChain();
            }
            if (e instanceof IllegalStateException ise) {
                throw into.fault(pos, ise.getMessage());
            }
            throw e;
        }
    }

    private boolean walk(DescriptorChain into, int pos, boolean wrap, int h) throws VirtqueueException {
        int taken = 0;
        int id;
        int lastE = -1;
        while (true) {
            if (++taken > size) {
                throw into.fault(pos, "chain has more than " + size + " descriptors (NEXT set all around the ring)");
            }
            long off = (long) DESC_SIZE * pos;
            long addr = (long) LE64.get(desc, off);
            long len = Integer.toUnsignedLong((int) LE32.get(desc, off + 8));
            int bufferId = Short.toUnsignedInt((short) LE16.get(desc, off + 12));
            int flags = Short.toUnsignedInt((short) LE16.get(desc, off + 14));
            into.countDescriptor();
            if ((flags & ~KNOWN_FLAGS) != 0) {
                throw into.fault(pos, String.format("unknown flag bits 0x%x in flags 0x%x", flags & ~KNOWN_FLAGS, flags));
            }
            if ((flags & F_INDIRECT) != 0) {
                walkIndirect(into, pos, addr, len, (flags & F_NEXT) != 0);
            } else {
                into.addBuffer(q, pos, addr, len, (flags & F_WRITE) != 0);
            }
            boolean last = (flags & F_NEXT) == 0;
            if (last && bufferId >= size) {
                throw into.fault(pos, "buffer id " + bufferId + " is not below queue size " + size);
            }
            if (last && inFlightDescriptors[bufferId] != 0) {
                throw into.fault(pos, "buffer id " + bufferId + " is already in flight (not used yet)");
            }
            if (inflight != null) {
                lastE = inflight.addDescriptor(addr, len, bufferId, flags, last);
            }
            if (++pos == size) {
                pos = 0;
                wrap = !wrap;
            }
            if (last) {
                id = bufferId;
                break;
            }
        }
        inFlightDescriptors[id] = taken;
        if (inflight != null) {
            headEntry[id] = h;
            lastEntry[id] = lastE;
        }
        if (popPosition != null) {
            popPosition[id] = availPos;
        }
        availPos = pos;
        availWrap = wrap;
        into.setHead(id);
        return true;
    }

    /**
     * Hands out again the next chain the inflight region holds in flight, from the descriptors
     * the region copied (checked as a popped chain's are).
     */
    private void resubmit(DescriptorChain into) throws VirtqueueException {
        int h = inflight.nextResubmit();
        int num = inflight.num(h);
        into.begin(index, -1, encode(availPos, availWrap), true);
        int e = h;
        for (int k = 0; k < num; k++) {
            if (k > 0) {
                e = inflight.next(e); // checked when the region was opened; the front-end may write it since
                if (e >= size) {
                    throw into.fault(h, "inflight region: desc[" + h + "]'s chain links to entry " + e + ", not below " + size);
                }
            }
            int flags = inflight.flags(e);
            long addr = inflight.addr(e);
            long len = inflight.len(e);
            into.countDescriptor();
            if ((flags & ~KNOWN_FLAGS) != 0) {
                throw into.fault(e, String.format("inflight region entry %d: unknown flag bits 0x%x in flags 0x%x", e,
                        flags & ~KNOWN_FLAGS, flags));
            }
            if ((flags & F_INDIRECT) != 0) {
                walkIndirect(into, e, addr, len, (flags & F_NEXT) != 0);
            } else {
                into.addBuffer(q, e, addr, len, (flags & F_WRITE) != 0);
            }
        }
        int id = inflight.id(e);
        if (id >= size || inFlightDescriptors[id] != 0) {
            throw into.fault(e, "inflight region: buffer id " + id + " is not below " + size + " or already in flight");
        }
        inFlightDescriptors[id] = num;
        headEntry[id] = h;
        lastEntry[id] = e;
        into.setHead(id);
    }

    /** Appends the buffers of the indirect table of ring descriptor {@code pos} (2.8.7). */
    private void walkIndirect(DescriptorChain into, int pos, long addr, long len, boolean next) throws VirtqueueException {
        int r = into.checkIndirect(q, pos, addr, len, next);
        MemorySegment table = q.regions.segment(r);
        long base = q.regions.offset(r, addr);
        int entries = (int) (len / DESC_SIZE);
        for (int i = 0; i < entries; i++) {
            long off = base + (long) DESC_SIZE * i;
            int flags = Short.toUnsignedInt((short) LE16.get(table, off + 14));
            into.countDescriptor();
            if ((flags & F_INDIRECT) != 0) {
                throw into.fault(pos, "indirect table entry " + i + " has the INDIRECT flag (nested tables are not allowed)");
            }
            // WRITE is the only flag an indirect entry carries; NEXT and the id are ignored (2.8.7)
            into.addBuffer(q, pos, (long) LE64.get(table, off), Integer.toUnsignedLong((int) LE32.get(table, off + 8)),
                    (flags & F_WRITE) != 0);
        }
    }

    /**
     * Writes the used descriptor for buffer {@code id} at the next used position (id, len, then
     * flags with release) and moves the position on by the ring descriptors the chain took and
     * those of the pending in-order batch, which this descriptor then stands for too.
     *
     * @throws VirtqueueException when {@code id} is not below the size or not in flight, or (IN_ORDER)
     *     not the next chain in ring order
     */
    void addUsed(int id, int writtenBytes) throws VirtqueueException {
        int taken = take(id);
        int descriptors = batchDescriptors + taken;
        batchDescriptors = 0;
        writeUsed(id, writtenBytes, descriptors);
    }

    /**
     * IN_ORDER: completes buffer {@code id} into the pending batch, written by the next
     * {@link #addUsed} or {@link #flushUsed()}.
     *
     * @throws VirtqueueException as {@link #addUsed}
     */
    void addUsedBatched(int id, int writtenBytes) throws VirtqueueException {
        if (inflight != null) { // the inflight region's used step is per chain: no batches over it
            addUsed(id, writtenBytes);
            return;
        }
        int taken = take(id);
        batchDescriptors += taken;
        batchId = id;
        batchLen = writtenBytes;
    }

    /** Writes the pending in-order batch as one used descriptor naming its last buffer, if any. */
    void flushUsed() {
        if (batchDescriptors > 0) {
            int descriptors = batchDescriptors;
            batchDescriptors = 0;
            writeUsed(batchId, batchLen, descriptors);
        }
    }

    /** Checks {@code id} is in flight (and, IN_ORDER, next in ring order), frees it, returns its descriptor count. */
    private int take(int id) throws VirtqueueException {
        if (id < 0 || id >= size) {
            throw new VirtqueueException(index, "used buffer id " + id + " is not below queue size " + size);
        }
        int taken = inFlightDescriptors[id];
        if (taken == 0) {
            throw new VirtqueueException(index, "used buffer id " + id + " is not in flight (never popped, or used already)");
        }
        if (popPosition != null) {
            int expected = usedPos + batchDescriptors;
            if (expected >= size) {
                expected -= size;
            }
            if (popPosition[id] != expected) {
                throw new VirtqueueException(index, "VIRTIO_F_IN_ORDER: used buffer id " + id + " starts at ring position "
                        + popPosition[id] + ", but the next buffer in ring order starts at " + expected);
            }
        }
        inFlightDescriptors[id] = 0;
        return taken;
    }

    private void writeUsed(int id, int writtenBytes, int descriptors) {
        long off = (long) DESC_SIZE * usedPos;
        boolean wrapNow = usedWrap;
        int next = usedPos + descriptors;
        boolean nextWrap = usedWrap;
        if (next >= size) {
            next -= size;
            nextWrap = !nextWrap;
        }
        if (inflight != null) {
            inflight.used(headEntry[id], lastEntry[id], encode(next, nextWrap));
        }
        LE32.set(desc, off + 8, writtenBytes);
        LE16.set(desc, off + 12, (short) id);
        VarHandle.releaseFence(); // id and len are visible before the flags that publish them
        LE16.set(desc, off + 14, (short) (wrapNow ? F_AVAIL | F_USED : 0));
        if (inflight != null) {
            inflight.usedPublished(headEntry[id]);
        }
        if (log.usedLog(index) != -1) {
            DirtyBitmap b = log.acquire();
            if (b != null) {
                try {
                    b.mark(descGpa + off + 8, 8);
                } finally {
                    b.exit();
                }
            }
        }
        usedPos = next;
        usedWrap = nextWrap;
        sinceDecision += descriptors;
    }

    /** @return whether the driver wants a used-buffer notification now (see the class comment) */
    boolean needsNotification() {
        VarHandle.fullFence(); // the used flags before the driver area loads
        int window = sinceDecision;
        sinceDecision = 0;
        if (notifyFirst) {
            notifyFirst = false;
            return true;
        }
        if (window == 0) {
            return false;
        }
        int flags = Short.toUnsignedInt((short) LE16.get(driverArea, 2)) & 3;
        if (flags == EVENT_DISABLE) {
            return false;
        }
        if (!eventIdx || flags != EVENT_DESC || window >= size) {
            return true;
        }
        VarHandle.acquireFence(); // off_wrap as the driver wrote it before the flags
        int offWrap = Short.toUnsignedInt((short) LE16.get(driverArea, 0));
        int off = offWrap & 0x7FFF;
        int event = ((offWrap & 0x8000) != 0) == usedWrap ? off : off - size;
        return ((usedPos - event - 1) & 0xFFFF) < window;
    }

    /**
     * Asks the driver to notify again (EVENT_IDX: at the next avail position), then re-checks
     * availability after a full fence.
     *
     * @return true when a descriptor is already available
     */
    boolean enableNotifications() {
        if (eventIdx) {
            LE16.set(deviceArea, 0, (short) encode(availPos, availWrap));
            logDeviceArea(0);
            VarHandle.releaseFence();
            writeDeviceFlags(EVENT_DESC);
        } else {
            writeDeviceFlags(EVENT_ENABLE);
        }
        VarHandle.fullFence(); // the device area stores before the descriptor flag load
        return hasAvailable();
    }

    /** Tells the driver notifications are not needed (flags DISABLE). */
    void disableNotifications() {
        writeDeviceFlags(EVENT_DISABLE);
    }

    private void writeDeviceFlags(int flags) {
        if (deviceFlags != flags) {
            deviceFlags = flags;
            LE16.set(deviceArea, 2, (short) flags);
            logDeviceArea(2);
        }
    }

    private void logDeviceArea(long offset) {
        if (log.usedLog(index) != -1) {
            DirtyBitmap b = log.acquire();
            if (b != null) {
                try {
                    b.mark(deviceGpa + offset, 2);
                } finally {
                    b.exit();
                }
            }
        }
    }

    @Override
    public String toString() {
        return "packed avail " + availPos + "/" + (availWrap ? 1 : 0) + ", used " + usedPos + "/" + (usedWrap ? 1 : 0);
    }
}
