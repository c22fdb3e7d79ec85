package com.vhost.spi.virtqueue;

import com.vhost.api.VirtqueueException;
import com.vhost.api.virtio.SplitVirtqueueLayout;
import com.vhost.api.virtio.VirtioFeatures;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;

/**
 * The driver side of one split virtqueue (OASIS VIRTIO 1.2, section 2.7), or of one packed
 * virtqueue (section 2.8) when {@code VIRTIO_F_RING_PACKED} (34) is among the features given to the
 * constructor, laid out in shared memory: what a guest kernel's {@code virtio_ring.c} does, here for
 * a user-space driver (DPDK {@code virtio_user}, libblkio).
 *
 * <p><b>Packed.</b> The same methods, the same segment size ({@link #layoutBytes}) and addresses:
 * {@link #descGpa()} is the descriptor ring, {@link #availGpa()} the driver event suppression area
 * and {@link #usedGpa()} the device event suppression area (the three addresses of SET_VRING_ADDR).
 * {@link #add} returns a buffer id rather than a head index; {@link #availIdx()},
 * {@link #lastUsedIdx()} and {@link #reset(int)} use the vhost-user packed form, position in bits
 * 0-14 and wrap counter in bit 15 ({@link #freshIdx()} is 0x8000); {@link #inFlight()} counts
 * buffers; used ids may come back in any order. See {@link PackedDriverRing}.
 *
 * <p><b>Layout.</b> All parts live in one {@link MemorySegment} whose first byte is at
 * guest-physical address {@code baseGpa} (16-byte aligned): the descriptor table at offset 0, the
 * available ring at {@link SplitVirtqueueLayout#availOffset}, the used ring at
 * {@link SplitVirtqueueLayout#usedOffset}, then (when {@code indirectMax > 0}) one preallocated
 * indirect descriptor table of {@code indirectMax} entries per descriptor slot, at
 * {@link #indirectOffset(int)}. {@link #layoutBytes(int, int)} gives the total size. Everything is
 * little-endian.
 *
 * <p><b>Use.</b> {@link #add} places a chain of readable (device reads, "out") then writable
 * (device writes, "in") buffers and publishes the new avail index with release ordering;
 * {@link #kickNeeded()} says whether the device wants an available-buffer notification (EVENT_IDX
 * {@code avail_event} or {@code VIRTQ_USED_F_NO_NOTIFY}); {@link #pollUsed} consumes used elements
 * (read with acquire ordering), frees their descriptors and hands each {@code (token, written
 * length)} to a handler. No method allocates.
 *
 * <p><b>Threads.</b> Not thread-safe: one thread (or a lock held by the caller) at a time.
 *
 * <p><b>In order</b> (VIRTIO 1.2, 2.7.9 and 2.8.8, {@code VIRTIO_F_IN_ORDER} (35) among the
 * features): descriptors are taken in ring order (split: the free list is first in, first out,
 * so chains are contiguous and wrap from {@code size - 1} to 0), and a used element may stand for
 * a batch: split, the element at the used slot of the batch's first buffer names the head of its
 * last buffer and the used {@code idx} moves on by the batch's buffer count; packed, the used
 * descriptor at the used position names the last buffer's id and the position moves on by the
 * batch's descriptor count. {@link #pollUsed} hands every buffer of the batch to the handler in
 * the order they were made available, the skipped ones with their whole writable size as the
 * written length (they are "used completely"). A used element naming a buffer that is not
 * outstanding, or (split) one made available after the buffers the used {@code idx} covers,
 * throws {@link VirtqueueException}. Without IN_ORDER nothing of this runs.
 *
 * <p>The driver keeps its own copy of every chain's descriptor links, so a device writing the
 * descriptor table cannot corrupt the free list; a used element naming a descriptor that is not
 * the head of an outstanding chain throws {@link VirtqueueException}.
 */
public final class DriverQueue {
    private static final ValueLayout.OfShort LE16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt LE32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong LE64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** {@code (MemorySegment, long offset) -> short}, little-endian. */
    private static final VarHandle U16 = LE16.varHandle();
    /** {@code (MemorySegment, long offset) -> int}, little-endian. */
    private static final VarHandle U32 = LE32.varHandle();
    /** {@code (MemorySegment, long offset) -> long}, little-endian. */
    private static final VarHandle U64 = LE64.varHandle();

    private static final int DESC = SplitVirtqueueLayout.DESC_SIZE;
    private static final short F_NEXT = SplitVirtqueueLayout.VIRTQ_DESC_F_NEXT;
    private static final short F_WRITE = SplitVirtqueueLayout.VIRTQ_DESC_F_WRITE;
    private static final short F_INDIRECT = SplitVirtqueueLayout.VIRTQ_DESC_F_INDIRECT;

    /** Handler of one used element. */
    @FunctionalInterface
    public interface UsedHandler {
        /**
         * @param token the token given to {@link #add} for this chain
         * @param writtenLen bytes the device reports written into the chain's writable buffers
         */
        void used(long token, int writtenLen);
    }

    private final int queueIndex;
    private final int size;
    private final int mask;
    private final MemorySegment mem;
    private final long baseGpa;
    private final long availOff;
    private final long usedOff;
    private final long indirectOff;
    private final int indirectMax;
    private final boolean eventIdx;
    /** VIRTIO_F_IN_ORDER negotiated: batched used elements, descriptors in ring order. */
    private final boolean inOrder;
    /** Split, IN_ORDER: the driver's copy of the avail ring's heads (the device may write the shared one); else null. */
    private final short[] availHeads;
    /** Split, IN_ORDER: writable bytes of the chain whose head is the index; else null. */
    private final long[] writableOf;
    /** The packed ring, or null for a split one. */
    private final PackedDriverRing packed;

    /** Driver copy of descriptor {@code next} links (free list and outstanding chains). */
    private final short[] nextOf;
    /** Descriptors held by the chain whose head is the index, or 0 when it is not an outstanding head. */
    private final short[] chainLen;
    private final long[] tokens;

    private int freeHead;
    /** Split, IN_ORDER: last descriptor of the free list (chains are freed onto its tail). */
    private int freeTail;
    private int numFree;
    /** Driver's avail index (the next {@code avail->idx} value), 16-bit wrapping, kept as int. */
    private int availIdx;
    /** Avail index at the last {@link #kickNeeded()} decision. */
    private int kickedIdx;
    /** Next used element to consume, 16-bit wrapping. */
    private int lastUsedIdx;
    private boolean interruptsSuppressed;

    /**
     * @param queueIndex queue index, used in error messages
     * @param size number of descriptors, a power of two in 1..32768
     * @param mem the memory holding the queue, at least {@link #layoutBytes(int, int)} bytes
     * @param baseGpa guest-physical address of {@code mem}'s first byte, 16-byte aligned
     * @param features negotiated features: {@code VIRTIO_F_EVENT_IDX} (29) selects event-index
     *     notification suppression; {@code VIRTIO_F_INDIRECT_DESC} (28) with {@code indirectMax > 0}
     *     enables indirect tables; {@code VIRTIO_F_RING_PACKED} (34) selects a packed ring;
     *     {@code VIRTIO_F_IN_ORDER} (35) takes descriptors in ring order and accepts batched used
     *     elements (VIRTIO 1.2, 2.7.9 / 2.8.8)
     * @param indirectMax entries per indirect table (0 = no indirect descriptors)
     * @throws IllegalArgumentException for a bad size, alignment or too small a segment
     */
    public DriverQueue(int queueIndex, int size, MemorySegment mem, long baseGpa, long features, int indirectMax) {
        if (size < 1 || size > 32768 || (size & (size - 1)) != 0) {
            throw new IllegalArgumentException("queue " + queueIndex + ": size " + size + " is not a power of two in 1..32768");
        }
        if ((baseGpa & (SplitVirtqueueLayout.DESC_ALIGN - 1)) != 0) {
            throw new IllegalArgumentException(String.format("queue %d: base gpa 0x%x is not 16-byte aligned", queueIndex, baseGpa));
        }
        if (indirectMax < 0 || indirectMax > 65535) {
            throw new IllegalArgumentException("queue " + queueIndex + ": indirectMax " + indirectMax + " outside 0..65535");
        }
        boolean indirect = VirtioFeatures.has(features, VirtioFeatures.F_INDIRECT_DESC) && indirectMax > 0;
        this.indirectMax = indirect ? indirectMax : 0;
        long need = layoutBytes(size, this.indirectMax);
        if (mem.byteSize() < need) {
            throw new IllegalArgumentException("queue " + queueIndex + ": segment of " + mem.byteSize()
                    + " bytes is smaller than the " + need + " bytes the queue needs");
        }
        this.queueIndex = queueIndex;
        this.size = size;
        this.mask = size - 1;
        this.mem = mem;
        this.baseGpa = baseGpa;
        this.availOff = SplitVirtqueueLayout.availOffset(size);
        this.usedOff = SplitVirtqueueLayout.usedOffset(size);
        this.indirectOff = alignUp(usedOff + SplitVirtqueueLayout.usedRingBytes(size), DESC);
        this.eventIdx = VirtioFeatures.has(features, VirtioFeatures.F_EVENT_IDX);
        this.nextOf = new short[size];
        this.chainLen = new short[size];
        this.tokens = new long[size];
        this.inOrder = VirtioFeatures.has(features, VirtioFeatures.F_IN_ORDER);
        boolean isPacked = VirtioFeatures.has(features, VirtioFeatures.F_RING_PACKED);
        this.availHeads = inOrder && !isPacked ? new short[size] : null;
        this.writableOf = inOrder && !isPacked ? new long[size] : null;
        this.packed = isPacked
                ? new PackedDriverRing(queueIndex, size, mem, baseGpa, availOff, usedOff, eventIdx, inOrder, indirectOff,
                        (long) this.indirectMax * DESC)
                : null;
        reset(freshIdx());
    }

    /** @return whether VIRTIO_F_IN_ORDER was among the features (VIRTIO 1.2, 2.7.9 / 2.8.8) */
    public boolean inOrder() {
        return inOrder;
    }

    /** @return whether this is a packed ring (VIRTIO 1.2, 2.8) */
    public boolean isPacked() {
        return packed != null;
    }

    /**
     * @return the index of a fresh ring, for {@link #reset(int)} and SET_VRING_BASE: 0 for split,
     *     0x8000 (position 0, wrap counter 1) for packed
     */
    public int freshIdx() {
        return packed != null ? PackedLayout.FRESH : 0;
    }

    /**
     * @param size queue size
     * @param indirectMax entries per indirect table, 0 for none
     * @return bytes needed for rings plus {@code size} indirect tables
     */
    public static long layoutBytes(int size, int indirectMax) {
        long rings = alignUp(SplitVirtqueueLayout.totalBytes(size), DESC);
        return rings + (long) size * indirectMax * DESC;
    }

    private static long alignUp(long v, long a) {
        return (v + a - 1) & -a;
    }

    /**
     * Clears the rings and the free list and sets both ring indices to {@code startIdx} (a fresh
     * queue uses {@link #freshIdx()}; a queue resumed over a back-end that kept its state passes the
     * index it stopped at, for packed rings in the packed form). Any outstanding chain is forgotten.
     *
     * @throws IllegalArgumentException for a packed index whose position is not below the size
     */
    public void reset(int startIdx) {
        mem.asSlice(0, layoutBytes(size, indirectMax)).fill((byte) 0);
        if (packed != null) {
            packed.reset(startIdx);
            VarHandle.releaseFence();
            return;
        }
        for (int i = 0; i < size; i++) {
            nextOf[i] = (short) (i + 1);
            chainLen[i] = 0;
            tokens[i] = 0;
        }
        if (inOrder) {
            nextOf[size - 1] = 0; // ring order: the table wraps from its last descriptor to 0 (2.7.5.1)
        }
        freeHead = 0;
        freeTail = size - 1;
        numFree = size;
        availIdx = startIdx & 0xFFFF;
        kickedIdx = availIdx;
        lastUsedIdx = availIdx;
        interruptsSuppressed = false;
        U16.set(mem, availOff + 2, (short) availIdx);
        U16.set(mem, usedOff + 2, (short) availIdx);
        if (eventIdx) {
            U16.set(mem, availOff + 4 + 2L * size, (short) lastUsedIdx);
            // avail_event lives in the device-written used ring, but before the device starts it
            // is the driver's to initialise: "notify me at entry startIdx", so the first chain
            // published after a restart at startIdx != 0 is kicked (a zero would mean entry 0).
            U16.set(mem, usedOff + 4 + (long) SplitVirtqueueLayout.USED_ELEM_SIZE * size, (short) availIdx);
        }
        VarHandle.releaseFence();
    }

    /** @return the queue index */
    public int index() {
        return queueIndex;
    }

    /** @return number of descriptors */
    public int size() {
        return size;
    }

    /** @return free descriptors */
    public int numFree() {
        return packed != null ? packed.numFree() : numFree;
    }

    /** @return chains added and not yet used */
    public int inFlight() {
        return packed != null ? packed.inFlight() : (availIdx - lastUsedIdx) & 0xFFFF;
    }

    /** @return entries per indirect table in use (0 when indirect descriptors are off) */
    public int indirectMax() {
        return indirectMax;
    }

    /** @return the driver's avail index (next value of {@code avail->idx}; packed: position | wrap << 15), 0..65535 */
    public int availIdx() {
        return packed != null ? packed.availIdx() : availIdx;
    }

    /** @return the next used index the driver will consume (packed: position | wrap << 15), 0..65535 */
    public int lastUsedIdx() {
        return packed != null ? packed.lastUsedIdx() : lastUsedIdx;
    }

    /**
     * How far a back-end's GET_VRING_BASE answer {@code base} is ahead of {@link #lastUsedIdx()}:
     * split, in chains; packed, in ring descriptors.
     *
     * @return that distance, or -1 when {@code base} is not between the used and the avail index
     */
    public int usedDistance(int base) {
        if (packed != null) {
            return packed.usedDistance(base);
        }
        int d = (base - lastUsedIdx) & 0xFFFF;
        return d > inFlight() ? -1 : d;
    }

    /** @return guest-physical address of the descriptor table */
    public long descGpa() {
        return baseGpa;
    }

    /** @return guest-physical address of the available ring (packed: the driver event suppression area) */
    public long availGpa() {
        return baseGpa + availOff;
    }

    /** @return guest-physical address of the used ring (packed: the device event suppression area) */
    public long usedGpa() {
        return baseGpa + usedOff;
    }

    /** @return byte offset, within the segment, of descriptor slot {@code head}'s indirect table */
    public long indirectOffset(int head) {
        return indirectOff + (long) head * indirectMax * DESC;
    }

    /**
     * @param segments number of buffers in a chain
     * @return whether a chain of that many buffers can ever be added (fits in the table, directly
     *     or through one indirect table)
     */
    public boolean fits(int segments) {
        return segments >= 1 && (segments <= size || segments <= indirectMax);
    }

    /**
     * Adds one chain and publishes it (avail ring entry, then {@code avail->idx} with release
     * ordering so the device sees the descriptors before the index).
     *
     * <p>Buffer {@code i} is {@code addrs[i]} (guest-physical) / {@code lens[i]} bytes; entries
     * {@code 0..out-1} are device-readable, {@code out..out+in-1} device-writable. With indirect
     * descriptors on and more than one buffer, the chain goes into the head slot's indirect table
     * and takes one descriptor of the ring.
     *
     * @param out readable buffers
     * @param in writable buffers
     * @param token handed back by {@link #pollUsed} when the device uses this chain
     * @return the head descriptor index, or -1 when not enough descriptors are free (nothing changed)
     * @throws IllegalArgumentException when {@code out + in} is 0, exceeds the arrays, or can never fit
     */
    public int add(long[] addrs, int[] lens, int out, int in, long token) {
        int head = addDeferred(addrs, lens, out, in, token);
        if (head >= 0) {
            publish();
        }
        return head;
    }

    /**
     * Like {@link #add} but leaves {@code avail->idx} alone: the chain becomes visible to the device
     * at the next {@link #publish()} (or {@link #add}). A burst of chains then costs one index
     * store, as DPDK's {@code virtqueue_enqueue_xmit} + {@code vq_update_avail_idx}.
     *
     * @return the head descriptor index, or -1 when not enough descriptors are free
     */
    public int addDeferred(long[] addrs, int[] lens, int out, int in, long token) {
        int n = out + in;
        if (out < 0 || in < 0 || n == 0 || n > addrs.length || n > lens.length) {
            throw new IllegalArgumentException("queue " + queueIndex + ": bad chain of " + out + " readable + " + in
                    + " writable buffers (arrays hold " + Math.min(addrs.length, lens.length) + ")");
        }
        boolean indirect = n > 1 && n <= indirectMax;
        if (!indirect && n > size) {
            throw new IllegalArgumentException("queue " + queueIndex + ": chain of " + n + " buffers exceeds queue size "
                    + size + (indirectMax > 0 ? " and indirect table size " + indirectMax : ""));
        }
        if (packed != null) {
            return packed.add(addrs, lens, out, in, token, indirect);
        }
        int need = indirect ? 1 : n;
        if (need > numFree) {
            return -1;
        }
        int head = freeHead;
        if (indirect) {
            long tbl = indirectOffset(head);
            for (int i = 0; i < n; i++) {
                long d = tbl + (long) i * DESC;
                short flags = (short) ((i >= out ? F_WRITE : 0) | (i + 1 < n ? F_NEXT : 0));
                U64.set(mem, d, addrs[i]);
                U32.set(mem, d + 8, lens[i]);
                U16.set(mem, d + 12, flags);
                U16.set(mem, d + 14, (short) (i + 1 < n ? i + 1 : 0));
            }
            long d = (long) head * DESC;
            U64.set(mem, d, baseGpa + tbl);
            U32.set(mem, d + 8, n * DESC);
            U16.set(mem, d + 12, F_INDIRECT);
            U16.set(mem, d + 14, (short) 0);
            freeHead = nextOf[head] & 0xFFFF;
            numFree -= 1;
        } else {
            int idx = head;
            for (int i = 0; i < n; i++) {
                long d = (long) idx * DESC;
                int nxt = nextOf[idx] & 0xFFFF;
                boolean last = i + 1 == n;
                U64.set(mem, d, addrs[i]);
                U32.set(mem, d + 8, lens[i]);
                U16.set(mem, d + 12, (short) ((i >= out ? F_WRITE : 0) | (last ? 0 : F_NEXT)));
                U16.set(mem, d + 14, (short) (last ? 0 : nxt));
                if (!last) {
                    idx = nxt;
                }
            }
            freeHead = nextOf[idx] & 0xFFFF;
            numFree -= n;
        }
        chainLen[head] = (short) need;
        tokens[head] = token;
        if (availHeads != null) {
            long writable = 0;
            for (int i = out; i < n; i++) {
                writable += Integer.toUnsignedLong(lens[i]);
            }
            writableOf[head] = writable;
            availHeads[availIdx & mask] = (short) head;
        }
        U16.set(mem, availOff + 4 + 2L * (availIdx & mask), (short) head);
        availIdx = (availIdx + 1) & 0xFFFF;
        return head;
    }

    /**
     * Publishes every chain added so far: {@code avail->idx} with release ordering, so the device
     * sees the descriptors and ring entries before the index (VIRTIO 1.2, 2.7.13: "the driver MUST
     * perform a suitable memory barrier before the idx update").
     */
    public void publish() {
        if (packed != null) {
            packed.publish();
            return;
        }
        VarHandle.releaseFence();
        U16.set(mem, availOff + 2, (short) availIdx);
    }

    /**
     * Whether the device wants an available-buffer notification for the chains published since
     * the last call (VIRTIO 1.2, 2.7.10 / 2.7.13.4). Marks them as notified.
     *
     * <p>With EVENT_IDX the device writes {@code avail_event} in the used ring: "notify me when
     * you publish the entry with this index". Since the last decision the driver moved
     * {@code avail->idx} from {@code old} to {@code new}, i.e. published entries
     * {@code old .. new-1}. A kick is needed iff {@code avail_event} is one of them, tested as
     * {@code (u16)(new - avail_event - 1) < (u16)(new - old)} (Linux {@code vring_need_event}):
     * both sides are distances counted backwards from {@code new - 1} modulo 2^16, so the test holds
     * across the 65535 → 0 wrap: {@code avail_event} lies within the last {@code new - old} entries.
     * Without EVENT_IDX a kick is needed unless the device set {@code VIRTQ_USED_F_NO_NOTIFY}.
     */
    public boolean kickNeeded() {
        // Store (avail idx) -> load (avail_event / flags) ordering: a full fence, as Linux's
        // virtio_mb() in virtqueue_kick_prepare, or the device may miss our update and we its event.
        if (packed != null) {
            return packed.kickNeeded();
        }
        VarHandle.fullFence();
        int old = kickedIdx;
        int now = availIdx;
        kickedIdx = now;
        if (eventIdx) {
            int event = Short.toUnsignedInt((short) U16.get(mem, usedOff + 4 + (long) SplitVirtqueueLayout.USED_ELEM_SIZE * size));
            return needEvent(event, now, old);
        }
        int flags = (short) U16.get(mem, usedOff);
        return (flags & SplitVirtqueueLayout.VIRTQ_USED_F_NO_NOTIFY) == 0 && now != old;
    }

    /**
     * Linux {@code vring_need_event}: whether moving an index from {@code old} to {@code now} passed
     * {@code event}, all modulo 2^16: {@code (u16)(now - event - 1) < (u16)(now - old)}.
     */
    public static boolean needEvent(int event, int now, int old) {
        return ((now - event - 1) & 0xFFFF) < ((now - old) & 0xFFFF);
    }

    /** @return whether the device has used elements not yet consumed (reads {@code used->idx} with acquire) */
    public boolean hasUsed() {
        if (packed != null) {
            return packed.hasUsed();
        }
        int usedIdx = Short.toUnsignedInt((short) U16.get(mem, usedOff + 2));
        VarHandle.acquireFence();
        return usedIdx != lastUsedIdx;
    }

    /**
     * Consumes every used element the device published: reads {@code used->idx} with acquire
     * ordering (the elements are read after it), frees each chain's descriptors and calls
     * {@code handler} with its token and written length. Then, with EVENT_IDX, writes
     * {@code used_event} = the new last used index so the device notifies on its next used element.
     *
     * @return the number of elements consumed
     * @throws VirtqueueException when the device moved {@code used->idx} by more than the number of
     *     outstanding chains, or named a descriptor that is not an outstanding head; packed: when a used
     *     descriptor names a buffer id that is not outstanding, or reports more bytes written than
     *     the chain's buffers hold
     */
    public int pollUsed(UsedHandler handler) throws VirtqueueException {
        if (packed != null) {
            return packed.pollUsed(handler);
        }
        int usedIdx = Short.toUnsignedInt((short) U16.get(mem, usedOff + 2));
        VarHandle.acquireFence();
        int pending = (usedIdx - lastUsedIdx) & 0xFFFF;
        if (pending == 0) {
            return 0;
        }
        if (pending > inFlight()) {
            throw new VirtqueueException(queueIndex, "used idx " + usedIdx + " is " + pending
                    + " past last used " + lastUsedIdx + " but only " + inFlight() + " chains are outstanding");
        }
        int done = 0;
        while (lastUsedIdx != usedIdx) {
            long e = usedOff + 4 + (long) SplitVirtqueueLayout.USED_ELEM_SIZE * (lastUsedIdx & mask);
            int id = (int) U32.get(mem, e);
            int len = (int) U32.get(mem, e + 4);
            if (id < 0 || id >= size || chainLen[id] == 0) {
                throw new VirtqueueException(queueIndex, "used element " + lastUsedIdx + " names descriptor " + Integer.toUnsignedString(id)
                        + ", which is not the head of an outstanding chain (queue size " + size + ")");
            }
            if (availHeads != null && (availHeads[lastUsedIdx & mask] & 0xFFFF) != id) {
                done += usedBatch(id, usedIdx, handler);
            }
            long token = tokens[id];
            freeChain(id);
            lastUsedIdx = (lastUsedIdx + 1) & 0xFFFF;
            done++;
            handler.used(token, len);
        }
        if (eventIdx && !interruptsSuppressed) {
            U16.set(mem, availOff + 4 + 2L * size, (short) lastUsedIdx);
        }
        return done;
    }

    /**
     * IN_ORDER, split: the used element at {@link #lastUsedIdx} names {@code id}, not the head
     * made available there: it ends a batch (2.7.9). Hands every chain made available before
     * {@code id} to {@code handler} with its whole writable size, leaving {@code id} to the caller.
     *
     * @return the chains handed over
     * @throws VirtqueueException when {@code id} was not made available within the entries the
     *     used idx {@code usedIdx} covers (an out-of-order or unknown id)
     */
    private int usedBatch(int id, int usedIdx, UsedHandler handler) throws VirtqueueException {
        int span = (usedIdx - lastUsedIdx) & 0xFFFF;
        int k = 1;
        while (k < span && (availHeads[(lastUsedIdx + k) & mask] & 0xFFFF) != id) {
            k++;
        }
        if (k == span) {
            throw new VirtqueueException(queueIndex, "VIRTIO_F_IN_ORDER: used element " + lastUsedIdx + " names descriptor " + id
                    + ", which is not among the " + span + " chains made available from avail entry " + lastUsedIdx
                    + " that used idx " + usedIdx + " covers (expected head " + (availHeads[lastUsedIdx & mask] & 0xFFFF)
                    + " or a later one)");
        }
        for (int j = 0; j < k; j++) {
            int head = availHeads[lastUsedIdx & mask] & 0xFFFF;
            long token = tokens[head];
            long len = writableOf[head];
            freeChain(head);
            lastUsedIdx = (lastUsedIdx + 1) & 0xFFFF;
            handler.used(token, (int) len);
        }
        return k;
    }

    private void freeChain(int head) {
        int n = chainLen[head];
        int tail = head;
        for (int i = 1; i < n; i++) {
            tail = nextOf[tail] & 0xFFFF;
        }
        if (inOrder) {
            // first in, first out: descriptors are taken again in ring order (2.7.9)
            if (numFree == 0) {
                freeHead = head;
            } else {
                nextOf[freeTail] = (short) head;
            }
            freeTail = tail;
        } else {
            nextOf[tail] = (short) freeHead;
            freeHead = head;
        }
        numFree += n;
        chainLen[head] = 0;
        tokens[head] = 0;
    }

    /**
     * Asks the device not to send used-buffer notifications ({@code VIRTQ_AVAIL_F_NO_INTERRUPT};
     * with EVENT_IDX, {@code used_event} is left behind so the device does not pass it). For
     * busy-polling drivers.
     */
    public void disableNotifications() {
        if (packed != null) {
            packed.disableNotifications();
            return;
        }
        interruptsSuppressed = true;
        if (!eventIdx) {
            U16.set(mem, availOff, SplitVirtqueueLayout.VIRTQ_AVAIL_F_NO_INTERRUPT);
        } else {
            // Park used_event half the index space behind, so normal progress never passes it.
            U16.set(mem, availOff + 4 + 2L * size, (short) (lastUsedIdx - 0x8000));
        }
        VarHandle.releaseFence();
    }

    /**
     * Re-enables used-buffer notifications (clears NO_INTERRUPT, or sets {@code used_event} to the
     * last used index) and then checks, after a full fence, for used elements that arrived before
     * the device could see the change (Linux {@code virtqueue_enable_cb}).
     *
     * @return true when used elements are already pending: poll again rather than wait
     */
    public boolean enableNotifications() {
        if (packed != null) {
            return packed.enableNotifications();
        }
        interruptsSuppressed = false;
        if (eventIdx) {
            U16.set(mem, availOff + 4 + 2L * size, (short) lastUsedIdx);
        } else {
            U16.set(mem, availOff, (short) 0);
        }
        VarHandle.fullFence();
        return hasUsed();
    }

    @Override
    public String toString() {
        return "DriverQueue[" + queueIndex + " size=" + size + (packed != null ? " " + packed : " avail=" + availIdx + " used=" + lastUsedIdx)
                + " free=" + numFree + (indirectMax > 0 ? " indirect=" + indirectMax : "") + (eventIdx ? " event_idx" : "") + "]";
    }
}
