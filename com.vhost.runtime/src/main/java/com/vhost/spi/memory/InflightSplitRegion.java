package com.vhost.spi.memory;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;

/**
 * One split virtqueue's part of the vhost-user inflight region (QEMU
 * {@code docs/interop/vhost-user.rst}, "Inflight I/O tracking", split virtqueue; the reference
 * back-end is libvhost-user's {@code vu_queue_inflight_get/pre_put/post_put} and
 * {@code vu_check_queue_inflights}). Layout, little-endian as the rings:
 * {@code u64 features; u16 version; u16 desc_num; u16 last_batch_head; u16 used_idx;} then
 * {@code desc_num} entries {@code u8 inflight; u8 padding[5]; u16 next; u64 counter} of 16 bytes.
 *
 * <p>Protocol, per the spec: when a chain is popped its head entry gets {@code counter} (this
 * queue's running count) and then {@code inflight = 1}; before its used element is written,
 * {@code last_batch_head = head} (pre-put); after the used {@code idx} is published,
 * {@code inflight = 0} and then {@code used_idx = } the new used idx (post-put). A back-end killed
 * anywhere in that sequence leaves a region from which {@link #open} recovers: when
 * {@code used_idx} differs from the used ring's {@code idx}, the last batch was published but not
 * cleared, so its head's entry is cleared and {@code used_idx} set; every entry still marked is
 * then resubmitted, in {@code counter} order, before any new avail entry; the next avail index is
 * {@code used idx + entries in flight}.
 *
 * <p>A region whose {@code version} is 0 is new: it is initialised (version 1, {@code desc_num},
 * no entry in flight, {@code used_idx} from the ring) and nothing is resubmitted. Values a
 * hostile front-end can put in the region are checked before any is used ({@link #check}).
 *
 * <p>Not thread-safe: the queue's worker owns it. {@link #markPopped}, {@link #prePut},
 * {@link #postPut} and {@link #nextResubmit} allocate nothing.
 */
public final class InflightSplitRegion {
    /** Bytes before the first descriptor entry. */
    public static final int HEADER_BYTES = 16;
    /** Bytes per descriptor entry ({@code DescStateSplit}). */
    public static final int DESC_BYTES = 16;
    /** Each queue's part starts at a multiple of this (libvhost-user {@code INFLIGHT_ALIGNMENT}). */
    public static final int ALIGNMENT = 64;
    /** The {@code version} this tracking writes and reads. */
    public static final int VERSION = 1;

    private static final VarHandle LE16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN).varHandle();
    private static final VarHandle LE64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN).varHandle();
    private static final VarHandle U8 = ValueLayout.JAVA_BYTE.varHandle();
    private static final long VERSION_OFF = 8;
    private static final long DESC_NUM_OFF = 10;
    private static final long LAST_BATCH_HEAD_OFF = 12;
    private static final long USED_IDX_OFF = 14;
    private static final long COUNTER_OFF = 8;

    private final MemorySegment region;
    private final int size;
    /** Heads to resubmit, in counter order; {@link #resubmitNext} is the next one. */
    private final int[] resubmit;
    private int resubmitCount;
    private int resubmitNext;
    private long counter;

    private InflightSplitRegion(MemorySegment region, int size) {
        this.region = region;
        this.size = size;
        this.resubmit = new int[size];
    }

    /**
     * The bytes one queue of {@code queueSize} entries takes in the region, as libvhost-user's
     * {@code vu_inflight_queue_size}: {@code 16 * queueSize + 2} rounded up to {@link #ALIGNMENT}
     * (at least the header and the entries).
     *
     * @param queueSize entries, 1..32768
     * @return bytes
     * @throws IllegalArgumentException for a size outside 1..32768
     */
    public static long queueBytes(int queueSize) {
        if (queueSize < 1 || queueSize > 32768) {
            throw new IllegalArgumentException("inflight queue size " + queueSize + " is not in 1..32768");
        }
        long raw = (long) DESC_BYTES * queueSize + 2;
        return (raw + ALIGNMENT - 1) & -ALIGNMENT;
    }

    /**
     * Checks a queue's part of a region a front-end handed over, without changing it.
     *
     * @param region the queue's part
     * @param queueSize the ring's size, entries
     * @return null when usable, else what is wrong ("desc_num 64 is not the queue size 128", "version
     *     7 is not 0 or 1", "entry 3: inflight 9 is neither 0 nor 1", "last_batch_head 300 is not
     *     below the queue size 256", "region of 100 bytes, needs 2112")
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
        int version = Short.toUnsignedInt((short) LE16.get(region, VERSION_OFF));
        if (version == 0) {
            return null; // new: initialised by open
        }
        if (version != VERSION) {
            return "version " + version + " is not 0 or " + VERSION;
        }
        int descNum = Short.toUnsignedInt((short) LE16.get(region, DESC_NUM_OFF));
        if (descNum != queueSize) {
            return "desc_num " + descNum + " is not the queue size " + queueSize;
        }
        for (int i = 0; i < queueSize; i++) {
            int f = Byte.toUnsignedInt((byte) U8.get(region, entry(i)));
            if (f > 1) {
                return "entry " + i + ": inflight " + f + " is neither 0 nor 1";
            }
        }
        int last = Short.toUnsignedInt((short) LE16.get(region, LAST_BATCH_HEAD_OFF));
        if (last >= queueSize) {
            return "last_batch_head " + last + " is not below the queue size " + queueSize;
        }
        return null;
    }

    /**
     * Takes over a queue's part of the region when the ring starts: initialises a new one, or fixes
     * up the last batch and collects the entries in flight to resubmit (see the class comment).
     *
     * @param region the queue's part, at least {@link #queueBytes}({@code queueSize}) bytes
     * @param queueSize the ring's size, entries
     * @param ringUsedIdx the used ring's {@code idx} now, 0..65535
     * @return the tracking
     * @throws IllegalArgumentException naming the problem when {@link #check} finds one
     */
    public static InflightSplitRegion open(MemorySegment region, int queueSize, int ringUsedIdx) {
        String bad = check(region, queueSize);
        if (bad != null) {
            throw new IllegalArgumentException("inflight region: " + bad);
        }
        InflightSplitRegion r = new InflightSplitRegion(region, queueSize);
        r.recover(ringUsedIdx & 0xFFFF);
        return r;
    }

    private static long entry(int head) {
        return HEADER_BYTES + (long) DESC_BYTES * head;
    }

    private void recover(int ringUsedIdx) {
        if ((short) LE16.get(region, VERSION_OFF) == 0) {
            region.asSlice(HEADER_BYTES, (long) DESC_BYTES * size).fill((byte) 0);
            LE16.set(region, DESC_NUM_OFF, (short) size);
            LE16.set(region, LAST_BATCH_HEAD_OFF, (short) 0);
            LE16.set(region, USED_IDX_OFF, (short) ringUsedIdx);
            VarHandle.releaseFence();
            LE16.set(region, VERSION_OFF, (short) VERSION);
            return;
        }
        if (Short.toUnsignedInt((short) LE16.get(region, USED_IDX_OFF)) != ringUsedIdx) {
            // killed between publishing the used idx and post-put: that batch is complete
            int last = Short.toUnsignedInt((short) LE16.get(region, LAST_BATCH_HEAD_OFF));
            U8.set(region, entry(last), (byte) 0);
            VarHandle.releaseFence();
            LE16.set(region, USED_IDX_OFF, (short) ringUsedIdx);
        }
        long[] counters = new long[size];
        int n = 0;
        for (int i = 0; i < size; i++) {
            if ((byte) U8.get(region, entry(i)) == 1) {
                long c = (long) LE64.get(region, entry(i) + COUNTER_OFF);
                int j = n++;
                while (j > 0 && Long.compareUnsigned(counters[j - 1], c) > 0) {
                    counters[j] = counters[j - 1];
                    resubmit[j] = resubmit[j - 1];
                    j--;
                }
                counters[j] = c;
                resubmit[j] = i;
            }
        }
        resubmitCount = n;
        resubmitNext = 0;
        counter = n == 0 ? 0 : counters[n - 1] + 1;
    }

    /**
     * @param region a queue's part that passed {@link #check}
     * @param queueSize the queue size it was checked for
     * @return how many of its entries are marked in flight now (0 for a new region)
     */
    public static int countInflight(MemorySegment region, int queueSize) {
        if ((short) LE16.get(region, VERSION_OFF) == 0) {
            return 0;
        }
        int n = 0;
        for (int i = 0; i < queueSize; i++) {
            n += (byte) U8.get(region, entry(i)) == 1 ? 1 : 0;
        }
        return n;
    }

    /** @return how many entries were in flight when the region was opened (resubmitted or not yet) */
    public int inflightAtOpen() {
        return resubmitCount;
    }

    /** @return whether entries found in flight remain to be resubmitted */
    public boolean hasResubmit() {
        return resubmitNext < resubmitCount;
    }

    /** @return the head of the next entry to resubmit (lowest counter first), or -1 when none is left */
    public int nextResubmit() {
        return resubmitNext < resubmitCount ? resubmit[resubmitNext++] : -1;
    }

    /**
     * A chain with head {@code head} was popped from the avail ring: its entry gets the next
     * counter, then {@code inflight = 1}.
     *
     * @param head descriptor index, below the queue size (the caller validated the chain)
     */
    public void markPopped(int head) {
        long e = entry(head);
        LE64.set(region, e + COUNTER_OFF, counter++);
        VarHandle.releaseFence();
        U8.set(region, e, (byte) 1);
    }

    /** Before the used element for {@code head} is written: {@code last_batch_head = head}. */
    public void prePut(int head) {
        LE16.set(region, LAST_BATCH_HEAD_OFF, (short) head);
        VarHandle.releaseFence();
    }

    /**
     * After the used {@code idx} was published: {@code inflight = 0} for {@code head}, then
     * {@code used_idx = usedIdx}.
     *
     * @param head the completed chain's head
     * @param usedIdx the used {@code idx} just published, 16 bits
     */
    public void postPut(int head, int usedIdx) {
        VarHandle.releaseFence();
        U8.set(region, entry(head), (byte) 0);
        VarHandle.releaseFence();
        LE16.set(region, USED_IDX_OFF, (short) usedIdx);
    }

    /** @return whether entry {@code head} is marked in flight */
    public boolean isInflight(int head) {
        return (byte) U8.get(region, entry(head)) == 1;
    }

    /** @return the region's {@code used_idx} */
    public int usedIdx() {
        return Short.toUnsignedInt((short) LE16.get(region, USED_IDX_OFF));
    }
}
