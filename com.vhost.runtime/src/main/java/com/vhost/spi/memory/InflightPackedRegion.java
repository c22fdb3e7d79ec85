package com.vhost.spi.memory;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;

/**
 * One packed virtqueue's part of the vhost-user inflight region (QEMU
 * {@code docs/interop/vhost-user.rst}, "Inflight I/O tracking", packed virtqueue; DPDK's
 * {@code rte_vhost_set_inflight_desc_packed} / {@code vhost_check_queue_inflights_packed} track
 * the same layout). Layout, little-endian as the rings ({@code QueueRegionPacked}, 32 bytes):
 * {@code u64 features @0; u16 version @8; u16 desc_num @10; u16 free_head @12;
 * u16 old_free_head @14; u16 used_idx @16; u16 old_used_idx @18; u8 used_wrap_counter @20;
 * u8 old_used_wrap_counter @21; u8 padding[7] @22}, then {@code desc_num} entries
 * ({@code DescStatePacked}, 32 bytes): {@code u8 inflight @0; u8 padding @1; u16 next @2;
 * u16 last @4; u16 num @6; u64 counter @8; u16 id @16; u16 flags @18; u32 len @20; u64 addr @24}.
 *
 * <p>Protocol, per the spec: the entries form a free list ({@code free_head}, linked by
 * {@code next}, ended by {@code desc_num}). Taking a chain ({@link #beginChain},
 * {@link #addDescriptor}): its head entry is {@code old_free_head}, which gets {@code num = 0},
 * the running {@code counter} and then {@code inflight = 1}; each ring descriptor of the chain is
 * copied ({@code addr, len, flags, id}) to the entry at {@code free_head}, which moves on along
 * {@code next}; the head's {@code last} is the entry of the last descriptor and {@code num} their
 * count; then {@code old_free_head = free_head} commits it. Returning a chain ({@link #used},
 * {@link #usedPublished}): the chain is put back at the head of the free list and
 * {@code used_idx}/{@code used_wrap_counter} moved on, before the used descriptor's flags are
 * written; after them the head's {@code inflight = 0}, then {@code old_free_head},
 * {@code old_used_idx}, {@code old_used_wrap_counter} take the new values.
 *
 * <p>Recovery ({@link #open} over a region whose {@code version} is 1): when the used position
 * differs from the old one, the ring descriptor at the old used position tells whether the used
 * descriptor was written (its flags no longer say "available" for the old wrap counter: the update
 * is committed) or not (rolled back); entries on the free list are then not in flight, the others
 * marked in flight are chains to resubmit in {@code counter} order, before any new avail entry;
 * the next avail position is the used position plus the ring descriptors of those chains. The
 * free list is then rebuilt from the entries no chain holds. Every value read from the region is
 * checked first ({@link #check}, then the chains), since the front-end that keeps it may be
 * hostile or may have been written by a crashed back-end: {@link #open} throws
 * {@link IllegalArgumentException} naming the field.
 *
 * <p>A region whose {@code version} is 0 is new: it is initialised (version 1, {@code desc_num},
 * every entry free, the used position from the ring's base) and nothing is resubmitted.
 *
 * <p>Not thread-safe: the queue's worker owns it. The data-path methods allocate nothing.
 *
 * @since 1.3
 */
public final class InflightPackedRegion {
    /** Bytes before the first descriptor entry ({@code sizeof(QueueRegionPacked)}). */
    public static final int HEADER_BYTES = 32;
    /** Bytes per descriptor entry ({@code DescStatePacked}). */
    public static final int DESC_BYTES = 32;
    /** Each queue's part starts at a multiple of this (DPDK {@code INFLIGHT_ALIGNMENT}). */
    public static final int ALIGNMENT = 64;
    /** The {@code version} this tracking writes and reads. */
    public static final int VERSION = 1;

    /** Header field offsets. */
    public static final long FEATURES_OFF = 0, VERSION_OFF = 8, DESC_NUM_OFF = 10, FREE_HEAD_OFF = 12,
            OLD_FREE_HEAD_OFF = 14, USED_IDX_OFF = 16, OLD_USED_IDX_OFF = 18, USED_WRAP_OFF = 20, OLD_USED_WRAP_OFF = 21;
    /** Entry field offsets. */
    public static final long D_INFLIGHT = 0, D_NEXT = 2, D_LAST = 4, D_NUM = 6, D_COUNTER = 8, D_ID = 16, D_FLAGS = 18,
            D_LEN = 20, D_ADDR = 24;

    private static final VarHandle LE16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN).varHandle();
    private static final VarHandle LE32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN).varHandle();
    private static final VarHandle LE64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN).varHandle();
    private static final VarHandle U8 = ValueLayout.JAVA_BYTE.varHandle();
    private static final int F_AVAIL = 1 << 7;
    private static final int F_USED = 1 << 15;

    private final MemorySegment region;
    private final int size;
    /** Head entries to resubmit, in counter order; {@link #resubmitNext} is the next one. */
    private final int[] resubmit;
    private int resubmitCount;
    private int resubmitNext;
    private long counter;
    /** The chain being taken: its head entry, -1 between chains. */
    private int head = -1;
    private int usedPos;
    private boolean usedWrap;
    private int availPos;
    private boolean availWrap;

    private InflightPackedRegion(MemorySegment region, int size) {
        this.region = region;
        this.size = size;
        this.resubmit = new int[size];
    }

    /**
     * The bytes one queue of {@code queueSize} entries takes in the region: the 32-byte header and
     * {@code 32 * queueSize} entries, rounded up to {@link #ALIGNMENT} (DPDK's packed
     * {@code get_pervq_shm_size_packed}).
     *
     * @param queueSize entries, 1..32768
     * @return bytes
     * @throws IllegalArgumentException for a size outside 1..32768
     */
    public static long queueBytes(int queueSize) {
        if (queueSize < 1 || queueSize > 32768) {
            throw new IllegalArgumentException("inflight queue size " + queueSize + " is not in 1..32768");
        }
        long raw = HEADER_BYTES + (long) DESC_BYTES * queueSize;
        return (raw + ALIGNMENT - 1) & -ALIGNMENT;
    }

    private static int u16(MemorySegment s, long off) {
        return Short.toUnsignedInt((short) LE16.get(s, off));
    }

    private static int u8(MemorySegment s, long off) {
        return Byte.toUnsignedInt((byte) U8.get(s, off));
    }

    private static long entry(int e) {
        return HEADER_BYTES + (long) DESC_BYTES * e;
    }

    /**
     * Checks a queue's header and flags, without changing the region (the chains are checked by
     * {@link #open}).
     *
     * @param region the queue's part
     * @param queueSize the ring's size, entries
     * @return null when usable, else what is wrong naming the field ("version 7 is not 0 or 1",
     *     "desc_num 64 is not the queue size 128", "free_head 300 is not in 0..256",
     *     "used_idx 300 is not below the queue size 256", "used_wrap_counter 5 is not 0 or 1",
     *     "desc[3].inflight 9 is neither 0 nor 1", "region of 100 bytes, needs 8256 ...")
     */
    public static String check(MemorySegment region, int queueSize) {
        long need;
        try {
            need = queueBytes(queueSize);
        } catch (IllegalArgumentException e) {
            return e.getMessage();
        }
        if (region.byteSize() < need) {
            return "region of " + region.byteSize() + " bytes, needs " + need + " for queue size " + queueSize;
        }
        int version = u16(region, VERSION_OFF);
        if (version == 0) {
            return null; // new: initialised by open
        }
        if (version != VERSION) {
            return "version " + version + " is not 0 or " + VERSION;
        }
        int descNum = u16(region, DESC_NUM_OFF);
        if (descNum != queueSize) {
            return "desc_num " + descNum + " is not the queue size " + queueSize;
        }
        String bad = inRange(region, "free_head", FREE_HEAD_OFF, queueSize + 1);
        bad = bad != null ? bad : inRange(region, "old_free_head", OLD_FREE_HEAD_OFF, queueSize + 1);
        bad = bad != null ? bad : below(region, "used_idx", USED_IDX_OFF, queueSize);
        bad = bad != null ? bad : below(region, "old_used_idx", OLD_USED_IDX_OFF, queueSize);
        if (bad != null) {
            return bad;
        }
        for (long off : new long[] {USED_WRAP_OFF, OLD_USED_WRAP_OFF}) {
            int w = u8(region, off);
            if (w > 1) {
                return (off == USED_WRAP_OFF ? "used_wrap_counter " : "old_used_wrap_counter ") + w + " is not 0 or 1";
            }
        }
        for (int i = 0; i < queueSize; i++) {
            int f = u8(region, entry(i) + D_INFLIGHT);
            if (f > 1) {
                return "desc[" + i + "].inflight " + f + " is neither 0 nor 1";
            }
        }
        return null;
    }

    private static String inRange(MemorySegment region, String field, long off, int limit) {
        int v = u16(region, off);
        return v < limit ? null : field + " " + v + " is not in 0.." + (limit - 1);
    }

    private static String below(MemorySegment region, String field, long off, int size) {
        int v = u16(region, off);
        return v < size ? null : field + " " + v + " is not below the queue size " + size;
    }

    /**
     * Takes over a queue's part of the region when the ring starts: initialises a new one at
     * {@code base}, or recovers (see the class comment) and collects the chains to resubmit.
     *
     * @param region the queue's part, at least {@link #queueBytes}({@code queueSize}) bytes
     * @param queueSize the ring's size, entries
     * @param base where a new region starts, {@code offset | wrap << 15} (SET_VRING_BASE's avail
     *     half); a region in use keeps its own used position
     * @param descRing the packed descriptor ring, {@code 16 * queueSize} bytes (read at the old
     *     used position only)
     * @return the tracking
     * @throws IllegalArgumentException naming the field when {@link #check} or the chains find a
     *     problem ("desc[5].num 0 is not in 1..256", "desc[5].last 9 is not the chain's last entry
     *     7", "entry 7 is in two chains", "buffer id 3 is in two chains", ...)
     */
    public static InflightPackedRegion open(MemorySegment region, int queueSize, int base, MemorySegment descRing) {
        String bad = check(region, queueSize);
        if (bad != null) {
            throw new IllegalArgumentException("inflight region: " + bad);
        }
        InflightPackedRegion r = new InflightPackedRegion(region, queueSize);
        if (u16(region, VERSION_OFF) == 0) {
            r.init(base);
        } else {
            r.recover(descRing);
        }
        return r;
    }

    private void init(int base) {
        int pos = (base & 0x7FFF) % size;
        int wrap = (base >>> 15) & 1;
        region.asSlice(HEADER_BYTES, (long) DESC_BYTES * size).fill((byte) 0);
        for (int i = 0; i < size; i++) {
            LE16.set(region, entry(i) + D_NEXT, (short) (i + 1));
        }
        LE64.set(region, FEATURES_OFF, 0L);
        LE16.set(region, DESC_NUM_OFF, (short) size);
        LE16.set(region, FREE_HEAD_OFF, (short) 0);
        LE16.set(region, OLD_FREE_HEAD_OFF, (short) 0);
        LE16.set(region, USED_IDX_OFF, (short) pos);
        LE16.set(region, OLD_USED_IDX_OFF, (short) pos);
        U8.set(region, USED_WRAP_OFF, (byte) wrap);
        U8.set(region, OLD_USED_WRAP_OFF, (byte) wrap);
        VarHandle.releaseFence();
        LE16.set(region, VERSION_OFF, (short) VERSION);
        usedPos = availPos = pos;
        usedWrap = availWrap = wrap == 1;
    }

    private void recover(MemorySegment descRing) {
        int used = u16(region, USED_IDX_OFF);
        int usedW = u8(region, USED_WRAP_OFF);
        int oldUsed = u16(region, OLD_USED_IDX_OFF);
        int oldW = u8(region, OLD_USED_WRAP_OFF);
        if (used != oldUsed || usedW != oldW) {
            // a used update was in progress: committed when the used descriptor was written
            int flags = u16(descRing, 16L * oldUsed + 14);
            boolean stillAvail = ((flags & F_AVAIL) != 0) == (oldW == 1) && ((flags & F_USED) != 0) != (oldW == 1);
            if (!stillAvail) {
                LE16.set(region, OLD_FREE_HEAD_OFF, (short) u16(region, FREE_HEAD_OFF));
                LE16.set(region, OLD_USED_IDX_OFF, (short) used);
                U8.set(region, OLD_USED_WRAP_OFF, (byte) usedW);
            }
        }
        // roll back whatever is in progress
        LE16.set(region, FREE_HEAD_OFF, (short) u16(region, OLD_FREE_HEAD_OFF));
        LE16.set(region, USED_IDX_OFF, (short) u16(region, OLD_USED_IDX_OFF));
        U8.set(region, USED_WRAP_OFF, (byte) u8(region, OLD_USED_WRAP_OFF));
        // entries on the free list are not in flight (at most desc_num steps: a cycle ends the walk)
        int e = u16(region, FREE_HEAD_OFF);
        for (int steps = 0; e < size && steps < size; steps++) {
            U8.set(region, entry(e) + D_INFLIGHT, (byte) 0);
            e = u16(region, entry(e) + D_NEXT);
        }
        collectChains();
        usedPos = u16(region, USED_IDX_OFF);
        usedWrap = u8(region, USED_WRAP_OFF) == 1;
    }

    /** Checks the chains still in flight, orders them by counter and rebuilds the free list. */
    private void collectChains() {
        boolean[] held = new boolean[size];
        boolean[] idSeen = new boolean[size];
        long[] counters = new long[size];
        int n = 0;
        int descriptors = 0;
        for (int h = 0; h < size; h++) {
            if (u8(region, entry(h) + D_INFLIGHT) != 1) {
                continue;
            }
            int num = u16(region, entry(h) + D_NUM);
            if (num < 1 || num > size - descriptors) {
                throw bad("desc[" + h + "].num " + num + " is not in 1.." + (size - descriptors)
                        + " (the ring descriptors not held by other chains in flight)");
            }
            int e = h;
            for (int k = 0; ; k++) {
                if (held[e]) {
                    throw bad("entry " + e + " is in two chains in flight (chain at desc[" + h + "])");
                }
                held[e] = true;
                if (k == num - 1) {
                    break;
                }
                int next = u16(region, entry(e) + D_NEXT);
                if (next >= size) {
                    throw bad("desc[" + e + "].next " + next + " is not below the queue size " + size + " (chain at desc[" + h + "])");
                }
                e = next;
            }
            int last = u16(region, entry(h) + D_LAST);
            if (last != e) {
                throw bad("desc[" + h + "].last " + last + " is not the chain's last entry " + e);
            }
            int id = u16(region, entry(e) + D_ID);
            if (id >= size) {
                throw bad("desc[" + e + "].id " + id + " is not below the queue size " + size);
            }
            if (idSeen[id]) {
                throw bad("buffer id " + id + " is in two chains in flight (chain at desc[" + h + "])");
            }
            idSeen[id] = true;
            descriptors += num;
            long c = (long) LE64.get(region, entry(h) + D_COUNTER);
            int j = n++;
            while (j > 0 && Long.compareUnsigned(counters[j - 1], c) > 0) {
                counters[j] = counters[j - 1];
                resubmit[j] = resubmit[j - 1];
                j--;
            }
            counters[j] = c;
            resubmit[j] = h;
        }
        resubmitCount = n;
        resubmitNext = 0;
        counter = n == 0 ? 0 : counters[n - 1] + 1;
        // the free list: every entry no chain holds, in index order
        int freeHead = size;
        for (int i = size - 1; i >= 0; i--) {
            if (!held[i]) {
                U8.set(region, entry(i) + D_INFLIGHT, (byte) 0);
                LE16.set(region, entry(i) + D_NEXT, (short) freeHead);
                freeHead = i;
            }
        }
        LE16.set(region, FREE_HEAD_OFF, (short) freeHead);
        VarHandle.releaseFence();
        LE16.set(region, OLD_FREE_HEAD_OFF, (short) freeHead);
        int used = u16(region, USED_IDX_OFF);
        boolean wrap = u8(region, USED_WRAP_OFF) == 1;
        int pos = used + descriptors;
        if (pos >= size) {
            pos -= size;
            wrap = !wrap;
        }
        availPos = pos;
        availWrap = wrap;
    }

    private static IllegalArgumentException bad(String what) {
        return new IllegalArgumentException("inflight region: " + what);
    }

    /** @return the used position recovered (or the base of a new region), {@code offset | wrap << 15} */
    public int usedPosition() {
        return usedPos | (usedWrap ? 0x8000 : 0);
    }

    /**
     * @return the first avail position after the chains in flight, {@code offset | wrap << 15}:
     *     the used position plus their ring descriptors
     */
    public int availPosition() {
        return availPos | (availWrap ? 0x8000 : 0);
    }

    /** @return how many chains were in flight when the region was opened */
    public int inflightAtOpen() {
        return resubmitCount;
    }

    /** @return whether chains found in flight remain to be resubmitted */
    public boolean hasResubmit() {
        return resubmitNext < resubmitCount;
    }

    /** @return the head entry of the next chain to resubmit (lowest counter first), or -1 when none is left */
    public int nextResubmit() {
        return resubmitNext < resubmitCount ? resubmit[resubmitNext++] : -1;
    }

    /**
     * @param e an entry index below the queue size
     * @return the entry's {@code next} (a checked chain's links stay below the queue size)
     */
    public int next(int e) {
        return u16(region, entry(e) + D_NEXT);
    }

    /** @return head entry {@code h}'s {@code num}: the ring descriptors of its chain */
    public int num(int h) {
        return u16(region, entry(h) + D_NUM);
    }

    /** @return entry {@code e}'s copy of the descriptor's {@code addr} */
    public long addr(int e) {
        return (long) LE64.get(region, entry(e) + D_ADDR);
    }

    /** @return entry {@code e}'s copy of the descriptor's {@code len}, bytes */
    public long len(int e) {
        return Integer.toUnsignedLong((int) LE32.get(region, entry(e) + D_LEN));
    }

    /** @return entry {@code e}'s copy of the descriptor's {@code flags} */
    public int flags(int e) {
        return u16(region, entry(e) + D_FLAGS);
    }

    /** @return entry {@code e}'s copy of the descriptor's buffer {@code id} */
    public int id(int e) {
        return u16(region, entry(e) + D_ID);
    }

    /** @return entry {@code e}'s {@code inflight} flag */
    public boolean isInflight(int e) {
        return u8(region, entry(e) + D_INFLIGHT) == 1;
    }

    /**
     * A chain's first descriptor is being taken: its head entry ({@code old_free_head}) gets
     * {@code num = 0}, the next counter, then {@code inflight = 1}.
     *
     * @return the head entry
     * @throws IllegalStateException when no entry is free (more ring descriptors in flight than
     *     the queue size, which a ring of that size cannot hold)
     */
    public int beginChain() {
        int h = u16(region, OLD_FREE_HEAD_OFF);
        if (h >= size) {
            throw new IllegalStateException("inflight region: no free entry (old_free_head " + h + ")");
        }
        long e = entry(h);
        LE16.set(region, e + D_NUM, (short) 0);
        LE64.set(region, e + D_COUNTER, counter++);
        VarHandle.releaseFence();
        U8.set(region, e + D_INFLIGHT, (byte) 1);
        head = h;
        return h;
    }

    /**
     * Records one ring descriptor of the chain begun by {@link #beginChain} at {@code free_head};
     * the last one commits the chain ({@code last}, then {@code old_free_head = free_head}).
     *
     * @return the entry the descriptor was copied to (for the last one: the chain's {@code last})
     * @throws IllegalStateException when no entry is free
     */
    public int addDescriptor(long addr, long len, int id, int flags, boolean last) {
        int f = u16(region, FREE_HEAD_OFF);
        if (f >= size) {
            throw new IllegalStateException("inflight region: no free entry (free_head " + f + ")");
        }
        long e = entry(f);
        long h = entry(head);
        if (last) {
            LE16.set(region, h + D_LAST, (short) f);
        }
        LE16.set(region, h + D_NUM, (short) (u16(region, h + D_NUM) + 1));
        LE64.set(region, e + D_ADDR, addr);
        LE32.set(region, e + D_LEN, (int) len);
        LE16.set(region, e + D_FLAGS, (short) flags);
        LE16.set(region, e + D_ID, (short) id);
        LE16.set(region, FREE_HEAD_OFF, (short) u16(region, e + D_NEXT));
        if (last) {
            VarHandle.releaseFence();
            LE16.set(region, OLD_FREE_HEAD_OFF, (short) u16(region, FREE_HEAD_OFF));
            head = -1;
        }
        return f;
    }

    /** Drops a chain begun and not committed (the ring refused it): the free list is as before. */
    public void abortChain() {
        if (head >= 0) {
            U8.set(region, entry(head) + D_INFLIGHT, (byte) 0);
            LE16.set(region, FREE_HEAD_OFF, (short) u16(region, OLD_FREE_HEAD_OFF));
            head = -1;
        }
    }

    /**
     * Before the used descriptor of the chain at head entry {@code h} is written: the chain goes
     * back to the head of the free list and {@code used_idx}/{@code used_wrap_counter} take the
     * position after it.
     *
     * @param h the chain's head entry
     * @param last the chain's last entry, as {@link #addDescriptor} returned it or {@link #open}
     *     checked it (not read back from the region, which the front-end may write meanwhile)
     * @param newUsedPosition the used position after this chain, {@code offset | wrap << 15}
     */
    public void used(int h, int last, int newUsedPosition) {
        LE16.set(region, entry(last) + D_NEXT, (short) u16(region, FREE_HEAD_OFF));
        LE16.set(region, FREE_HEAD_OFF, (short) h);
        LE16.set(region, USED_IDX_OFF, (short) (newUsedPosition & 0x7FFF));
        U8.set(region, USED_WRAP_OFF, (byte) (newUsedPosition >>> 15 & 1));
        VarHandle.releaseFence(); // the region before the used flags
    }

    /**
     * After the used descriptor's flags were written: the head's {@code inflight = 0}, then the
     * {@code old_*} fields take the new values.
     *
     * @param h the chain's head entry
     */
    public void usedPublished(int h) {
        VarHandle.releaseFence();
        U8.set(region, entry(h) + D_INFLIGHT, (byte) 0);
        VarHandle.releaseFence();
        LE16.set(region, OLD_FREE_HEAD_OFF, (short) u16(region, FREE_HEAD_OFF));
        LE16.set(region, OLD_USED_IDX_OFF, (short) u16(region, USED_IDX_OFF));
        U8.set(region, OLD_USED_WRAP_OFF, (byte) u8(region, USED_WRAP_OFF));
    }

    /**
     * @param region a queue's part that passed {@link #check}
     * @param queueSize the queue size it was checked for
     * @return how many of its entries are marked in flight now (0 for a new region)
     */
    public static int countInflight(MemorySegment region, int queueSize) {
        if (u16(region, VERSION_OFF) == 0) {
            return 0;
        }
        int n = 0;
        for (int i = 0; i < queueSize; i++) {
            n += u8(region, entry(i) + D_INFLIGHT) == 1 ? 1 : 0;
        }
        return n;
    }
}
