package com.vhost.spi.virtqueue;

import static com.vhost.spi.virtqueue.PackedLayout.*;

import com.vhost.api.VirtqueueException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;

/**
 * The driver side of one packed virtqueue (OASIS VIRTIO 1.2, section 2.8), behind
 * {@link DriverQueue} when {@code VIRTIO_F_RING_PACKED} (34) is negotiated; Linux
 * {@code virtio_ring.c} {@code *_packed} and DPDK {@code virtqueue_enqueue_*_packed} do the same.
 *
 * <p><b>Layout</b> (offsets in {@link DriverQueue}'s segment, so the split layout's size covers it):
 * the descriptor ring at 0, {@code size} descriptors {@code le64 addr; le32 len; le16 id; le16 flags}
 * (16 bytes, 2.8.13); the driver event suppression area {@code le16 off_wrap; le16 flags} at the split
 * layout's avail offset (written by the driver, 2.8.14); the device event suppression area at the split
 * layout's used offset (written by the device). Indirect tables are DriverQueue's.
 *
 * <p><b>State.</b> The driver's next avail position and avail wrap counter (starting at 0 / 1), the
 * next used position and used wrap counter, and per buffer id (0..size-1, taken from a free-id list)
 * the number of ring descriptors the buffer holds, its bytes and its token. A descriptor
 * is available when its AVAIL flag (bit 7) equals the avail wrap counter and USED (bit 15) does not;
 * the device marks a buffer used by writing one descriptor, with {@code id}, {@code len} and both
 * flags equal to its wrap counter, at its own used position, which then advances by the number of
 * descriptors of that buffer (2.8.21.3); the driver advances the same way, so ids may come back
 * in any order.
 *
 * <p><b>In order</b> (2.8.8, {@code VIRTIO_F_IN_ORDER}): the ids outstanding are also kept in the
 * order they were made available; a used descriptor naming an outstanding id other than the
 * oldest ends a batch: every buffer made available before it is used too (with its whole
 * writable size as the written length), and the used position moves on by the descriptors of
 * each of them, then of the named one.
 *
 * <p>Indices exchanged with a back-end ({@link #availIdx}, {@link #lastUsedIdx}, {@link #reset}) are
 * the vhost-user packed form: bits 0-14 the position, bit 15 the wrap counter; a fresh ring is 0x8000.
 * Not thread-safe; no method allocates.
 */
final class PackedDriverRing {
    private static final VarHandle U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN).varHandle();
    private static final VarHandle U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN).varHandle();
    private static final VarHandle U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN).varHandle();

    private static final int DESC = DESC_SIZE;

    private final int queueIndex;
    private final int size;
    private final MemorySegment mem;
    private final long baseGpa;
    private final long driverEvt;
    private final long deviceEvt;
    private final boolean eventIdx;
    private final long indirectOff;
    private final long indirectStride;

    /** Ring descriptors held by buffer id i, or 0 when the id is free. */
    private final short[] idDescs;
    /**
     * Bytes of buffer id i, readable and writable: the bound of a used length. Not the writable
     * bytes alone: DPDK 22.11's vhost reports the length of a transmit (device-readable) buffer.
     */
    private final long[] idBytes;
    private final long[] tokens;
    /** IN_ORDER: outstanding ids in the order they were made available (a ring from {@link #orderHead}); else null. */
    private final short[] availOrder;
    /** IN_ORDER: writable bytes of buffer id i; else null. */
    private final long[] idWritable;
    private int orderHead;
    /** Free-id list: next free id after i. */
    private final short[] nextFreeId;
    private int freeId;

    private int availPos;
    private int availWrap;
    private int usedPos;
    private int usedWrap;
    private int numFree;
    private int inFlight;
    /** Ring descriptors made available since the last {@link #kickNeeded}; may exceed size (then: kick). */
    private int sinceKick;
    /** Byte offset of the first head of an unpublished batch, or -1. */
    private long pendingHead = -1;
    private short pendingFlags;
    private boolean interruptsSuppressed;

    /**
     * @param indirectOff byte offset of buffer id 0's indirect table; id i's is at
     *     {@code indirectOff + i * indirectStride}
     */
    PackedDriverRing(int queueIndex, int size, MemorySegment mem, long baseGpa, long driverEvtOff, long deviceEvtOff,
            boolean eventIdx, boolean inOrder, long indirectOff, long indirectStride) {
        this.queueIndex = queueIndex;
        this.size = size;
        this.mem = mem;
        this.baseGpa = baseGpa;
        this.driverEvt = driverEvtOff;
        this.deviceEvt = deviceEvtOff;
        this.eventIdx = eventIdx;
        this.indirectOff = indirectOff;
        this.indirectStride = indirectStride;
        this.idDescs = new short[size];
        this.idBytes = new long[size];
        this.tokens = new long[size];
        this.nextFreeId = new short[size];
        this.availOrder = inOrder ? new short[size] : null;
        this.idWritable = inOrder ? new long[size] : null;
    }

    /**
     * Forgets every buffer and restarts both positions at {@code packedIdx} (bits 0-14 position, bit
     * 15 wrap counter). The caller has zeroed the segment: all-zero flags are neither available nor
     * used for either wrap counter.
     *
     * @throws IllegalArgumentException when the position is not below the ring size
     */
    void reset(int packedIdx) {
        int pos = packedIdx & 0x7FFF;
        if (pos >= size) {
            throw new IllegalArgumentException(String.format("queue %d: packed ring index 0x%04x names position %d of a ring of %d",
                    queueIndex, packedIdx & 0xFFFF, pos, size));
        }
        for (int i = 0; i < size; i++) {
            idDescs[i] = 0;
            idBytes[i] = 0;
            tokens[i] = 0;
            nextFreeId[i] = (short) (i + 1);
        }
        freeId = 0;
        orderHead = 0;
        availPos = pos;
        availWrap = (packedIdx >> 15) & 1;
        usedPos = pos;
        usedWrap = availWrap;
        numFree = size;
        inFlight = 0;
        sinceKick = 0;
        pendingHead = -1;
        interruptsSuppressed = false;
        writeDriverEvent();
    }

    int numFree() {
        return numFree;
    }

    int inFlight() {
        return inFlight;
    }

    /** @return next avail position with the avail wrap counter in bit 15 */
    int availIdx() {
        return availPos | availWrap << 15;
    }

    /** @return next used position with the used wrap counter in bit 15 */
    int lastUsedIdx() {
        return usedPos | usedWrap << 15;
    }

    /**
     * @return ring descriptors from the next used position to {@code packedIdx} (a back-end's
     *     GET_VRING_BASE answer), or -1 when it is not between the used and the avail position
     */
    int usedDistance(int packedIdx) {
        int period = 2 * size;
        int target = linear(packedIdx & 0x7FFF, (packedIdx >> 15) & 1);
        int used = linear(usedPos, usedWrap);
        int dist = Math.floorMod(target - used, period);
        int outstanding = Math.floorMod(linear(availPos, availWrap) - used, period);
        if ((packedIdx & 0x7FFF) >= size || dist > outstanding) {
            return -1;
        }
        return dist;
    }

    /** Position on a ring of twice the size, where wrap counter 1 is the first lap. */
    private int linear(int pos, int wrap) {
        return pos + (wrap == 1 ? 0 : size);
    }

    /**
     * Places one buffer as consecutive descriptors (or one descriptor pointing at {@code indirectTbl})
     * without making its head available when it starts a batch: {@link #publish} does that last.
     *
     * @param indirect whether the buffers go into the id's indirect table (the caller checked it fits)
     * @return the buffer id, or -1 when too few descriptors or ids are free (nothing changed)
     */
    int add(long[] addrs, int[] lens, int out, int in, long token, boolean indirect) {
        int n = out + in;
        int need = indirect ? 1 : n;
        if (need > numFree) {
            return -1;
        }
        long bytes = 0;
        int id = freeId;
        freeId = nextFreeId[id];
        long head = (long) availPos * DESC;
        int headFlags;
        if (indirect) {
            long indirectTbl = indirectOff + id * indirectStride;
            for (int i = 0; i < n; i++) {
                long d = indirectTbl + (long) i * DESC;
                U64.set(mem, d, addrs[i]);
                U32.set(mem, d + 8, lens[i]);
                U16.set(mem, d + 12, (short) 0);
                U16.set(mem, d + 14, (short) (i >= out ? F_WRITE : 0));
                bytes += Integer.toUnsignedLong(lens[i]);
            }
            U64.set(mem, head, baseGpa + indirectTbl);
            U32.set(mem, head + 8, n * DESC);
            U16.set(mem, head + 12, (short) id);
            headFlags = F_INDIRECT | wrapBits(availWrap);
            step();
        } else {
            headFlags = (out == 0 ? F_WRITE : 0) | (n > 1 ? F_NEXT : 0) | wrapBits(availWrap);
            U64.set(mem, head, addrs[0]);
            U32.set(mem, head + 8, lens[0]);
            U16.set(mem, head + 12, (short) id);
            bytes = Integer.toUnsignedLong(lens[0]);
            step();
            for (int i = 1; i < n; i++) {
                long d = (long) availPos * DESC;
                U64.set(mem, d, addrs[i]);
                U32.set(mem, d + 8, lens[i]);
                U16.set(mem, d + 12, (short) id);
                U16.set(mem, d + 14, (short) ((i >= out ? F_WRITE : 0) | (i + 1 < n ? F_NEXT : 0) | wrapBits(availWrap)));
                bytes += Integer.toUnsignedLong(lens[i]);
                step();
            }
        }
        if (pendingHead < 0) {
            pendingHead = head; // first head of the batch: made available last, by publish()
            pendingFlags = (short) headFlags;
        } else {
            U16.set(mem, head + 14, (short) headFlags); // seen only after the batch's first head
        }
        idDescs[id] = (short) need;
        idBytes[id] = bytes;
        tokens[id] = token;
        if (availOrder != null) {
            long writable = 0;
            for (int i = out; i < n; i++) {
                writable += Integer.toUnsignedLong(lens[i]);
            }
            idWritable[id] = writable;
            availOrder[(orderHead + inFlight) & (size - 1)] = (short) id;
        }
        numFree -= need;
        inFlight++;
        sinceKick += need;
        return id;
    }

    /** AVAIL/USED bits of a descriptor made available with wrap counter {@code w} (2.8.1). */
    private static int wrapBits(int w) {
        return w == 1 ? F_AVAIL : F_USED;
    }

    private void step() {
        if (++availPos == size) {
            availPos = 0;
            availWrap ^= 1;
        }
    }

    /**
     * Makes the batch available: a release fence, then the first head's flags (2.8.21.1: the
     * driver writes the head's flags after every other descriptor of the batch).
     */
    void publish() {
        if (pendingHead >= 0) {
            VarHandle.releaseFence();
            U16.set(mem, pendingHead + 14, pendingFlags);
            pendingHead = -1;
        }
    }

    /**
     * Whether the device wants a notification for what was made available since the last call
     * (2.8.10, 2.8.21.2): its event suppression flags DISABLE → no, ENABLE → yes, DESC → yes when
     * the descriptor at {@code off_wrap} (position, wrap counter in bit 15) was among them (Linux
     * {@code virtqueue_kick_prepare_packed}).
     */
    boolean kickNeeded() {
        VarHandle.fullFence();
        int added = sinceKick;
        sinceKick = 0;
        if (added == 0) {
            return false;
        }
        int flags = Short.toUnsignedInt((short) U16.get(mem, deviceEvt + 2)) & 3;
        if (flags != EVENT_DESC || !eventIdx) {
            return flags != EVENT_DISABLE;
        }
        if (added >= size) {
            return true;
        }
        int offWrap = Short.toUnsignedInt((short) U16.get(mem, deviceEvt));
        int event = offWrap & 0x7FFF;
        if (offWrap >> 15 != availWrap) {
            event -= size;
        }
        int now = availPos;
        int old = availPos - added;
        return DriverQueue.needEvent(event & 0xFFFF, now & 0xFFFF, old & 0xFFFF);
    }

    /** @return whether the descriptor at the used position is used, read with acquire ordering */
    boolean hasUsed() {
        if (inFlight == 0) {
            return false;
        }
        int flags = (short) U16.get(mem, (long) usedPos * DESC + 14);
        VarHandle.acquireFence();
        return isUsed(flags);
    }

    /** AVAIL and USED both equal to the used wrap counter: one mask and compare. */
    private boolean isUsed(int flags) {
        return (flags & (F_AVAIL | F_USED)) == (usedWrap == 1 ? F_AVAIL | F_USED : 0);
    }

    /**
     * Consumes every used descriptor (flags read first, then, after an acquire fence, id and len),
     * frees its buffer id and descriptors and hands {@code (token, len)} to {@code handler}.
     *
     * @throws VirtqueueException for an id that is not an outstanding buffer, or a used length
     *     larger than the buffer (all its descriptors' lengths together; for a used descriptor
     *     that ends an IN_ORDER batch, larger than both the named buffer and the batch's first, whose
     *     descriptor it overwrote: DPDK 22.11 leaves that len as the driver wrote it, and the
     *     length handed over is then cut to the named buffer's bytes); IN_ORDER: a batch's buffers
     *     are handed over oldest first (see the class comment)
     */
    int pollUsed(DriverQueue.UsedHandler handler) throws VirtqueueException {
        int done = 0;
        while (inFlight > 0) {
            long d = (long) usedPos * DESC;
            int flags = (short) U16.get(mem, d + 14);
            if (!isUsed(flags)) {
                break;
            }
            VarHandle.acquireFence();
            int id = Short.toUnsignedInt((short) U16.get(mem, d + 12));
            int len = (int) U32.get(mem, d + 8);
            if (id >= size || idDescs[id] == 0) {
                throw new VirtqueueException(queueIndex, "used descriptor at position " + usedPos + " (wrap " + usedWrap
                        + ") names buffer id " + id + ", which is not outstanding (ring of " + size + ", " + inFlight
                        + " buffers outstanding)");
            }
            long bound = idBytes[id];
            boolean batch = availOrder != null && (availOrder[orderHead] & 0xFFFF) != id;
            if (batch) {
                // DPDK 22.11's vhost writes only the id and flags of a batched used descriptor: its
                // len is still what the driver wrote in the batch's first descriptor
                bound = Math.max(bound, idBytes[availOrder[orderHead] & 0xFFFF]);
            }
            if (Integer.toUnsignedLong(len) > bound) {
                throw new VirtqueueException(queueIndex, "used descriptor at position " + usedPos + " reports "
                        + Integer.toUnsignedString(len) + " bytes written into buffer id " + id + ", which holds only "
                        + idBytes[id] + " bytes");
            }
            if (batch) {
                len = (int) Math.min(Integer.toUnsignedLong(len), idBytes[id]); // never more than the named buffer holds
            }
            if (availOrder != null) {
                done += usedBatch(id, handler);
                orderHead = (orderHead + 1) & (size - 1);
            }
            long token = release(id);
            done++;
            handler.used(token, len);
        }
        if (done > 0 && eventIdx && !interruptsSuppressed) {
            U16.set(mem, driverEvt, (short) lastUsedIdx());
        }
        return done;
    }

    /**
     * IN_ORDER: hands over, oldest first, the buffers made available before outstanding id
     * {@code id} (none when it is the oldest), each with its whole writable size (2.8.8).
     *
     * @return the buffers handed over
     */
    private int usedBatch(int id, DriverQueue.UsedHandler handler) {
        int k = 0;
        while ((availOrder[orderHead] & 0xFFFF) != id) {
            int older = availOrder[orderHead] & 0xFFFF;
            orderHead = (orderHead + 1) & (size - 1);
            long len = idWritable[older];
            long token = release(older);
            k++;
            handler.used(token, (int) len);
        }
        return k;
    }

    /** Frees outstanding buffer {@code id} and moves the used position past its descriptors; returns its token. */
    private long release(int id) {
        int n = idDescs[id];
        long token = tokens[id];
        idDescs[id] = 0;
        tokens[id] = 0;
        nextFreeId[id] = (short) freeId;
        freeId = id;
        numFree += n;
        inFlight--;
        usedPos += n;
        if (usedPos >= size) {
            usedPos -= size;
            usedWrap ^= 1;
        }
        return token;
    }

    /** Driver event suppression flags DISABLE: no used-buffer notifications (2.8.14). */
    void disableNotifications() {
        interruptsSuppressed = true;
        U16.set(mem, driverEvt + 2, (short) EVENT_DISABLE);
        VarHandle.releaseFence();
    }

    /**
     * Driver event suppression back to ENABLE (or, with EVENT_IDX, DESC at the next used
     * position), then after a full fence whether used descriptors are already there.
     */
    boolean enableNotifications() {
        interruptsSuppressed = false;
        writeDriverEvent();
        VarHandle.fullFence();
        return hasUsed();
    }

    private void writeDriverEvent() {
        if (interruptsSuppressed) {
            U16.set(mem, driverEvt + 2, (short) EVENT_DISABLE);
        } else if (eventIdx) {
            U16.set(mem, driverEvt, (short) lastUsedIdx());
            VarHandle.releaseFence();
            U16.set(mem, driverEvt + 2, (short) EVENT_DESC);
        } else {
            U16.set(mem, driverEvt + 2, (short) EVENT_ENABLE);
        }
    }

    @Override
    public String toString() {
        return "packed avail=" + availPos + "/" + availWrap + " used=" + usedPos + "/" + usedWrap + " inFlight=" + inFlight;
    }
}
