package com.vhost.spi.memory;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.util.BitSet;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The vhost dirty log over shared memory (QEMU {@code docs/interop/vhost-user.rst}, "Migration";
 * Linux {@code drivers/vhost/vhost.c} {@code log_write}): one bit per 4 KiB page of guest-physical
 * address space, page {@code p} being bit {@code p % 8} of byte {@code p / 8}. Writers set bits
 * with an atomic OR, the reader takes them with an atomic swap, so a mark is never lost between a
 * read and its clear.
 *
 * <p>The bits are reached through 8-byte-aligned little-endian {@code u64} words (the byte order
 * makes byte {@code k} of a word bits {@code 8k..8k+7}, as the byte layout above wants); a log whose
 * first byte is not 8-aligned in its mapping (an odd {@code mmap_offset}) shares its first and last
 * words with bytes outside it, which are only ever OR-ed with 0 and never cleared. The mapping
 * passed in must therefore cover every word that holds a log byte: from the 8-aligned word below
 * the log's first byte to the end of the word holding its last.
 *
 * <p>Marks past the end of the log (a log smaller than the guest memory written) are dropped and
 * counted ({@link #missed()}). A mapping closed while a mark runs (its shared arena closed when a
 * newer log replaced it) makes the mark a no-op instead of a fault; but the owner of the mapping
 * does not rely on that: queues mark between {@link WriteLog#acquire()} and {@link #exit()}, and
 * the mapping is unmapped only once {@link #awaitUnused} saw no mark in progress (a JVM that
 * finishes a mark's atomic OR after the arena closed would otherwise write to unmapped memory).
 * Thread-safe; {@link #mark} allocates nothing.
 */
public final class DirtyBitmap {
    /** {@code VHOST_LOG_PAGE}: bytes of guest memory per log bit. */
    public static final long LOG_PAGE = 0x1000;
    private static final int PAGE_SHIFT = 12;
    private static final VarHandle U64 = ValueLayout.JAVA_LONG.withOrder(ByteOrder.LITTLE_ENDIAN).varHandle();

    private final MemorySegment words;
    private final long lead;
    private final long bytes;
    private final long pages;
    private final AtomicLong missed = new AtomicLong();
    /** Marks in progress ({@link WriteLog#acquire()} to {@link #exit()}): the mapping stays until none. */
    private final AtomicInteger users = new AtomicInteger();

    /** Begins a mark (called by {@link WriteLog#acquire()}). */
    void enter() {
        users.incrementAndGet();
    }

    /** Ends a mark begun by {@link WriteLog#acquire()}. */
    public void exit() {
        users.decrementAndGet();
    }

    /**
     * Waits until no mark is in progress; call after the log stopped being handed out
     * ({@link WriteLog#setBitmap} replaced it), before unmapping it.
     *
     * @param nanos the longest wait, in nanoseconds
     * @return whether no mark was in progress
     */
    public boolean awaitUnused(long nanos) {
        long deadline = System.nanoTime() + nanos;
        while (users.get() != 0) {
            if (System.nanoTime() - deadline > 0) {
                return false;
            }
            Thread.onSpinWait();
            java.util.concurrent.locks.LockSupport.parkNanos(10_000);
        }
        return true;
    }

    /**
     * @param words the mapping holding the log, its base 8-byte aligned, covering
     *     {@code [0, roundUp8(lead + bytes))}
     * @param lead offset of the log's first byte in {@code words}, bytes
     * @param bytes the log's size in bytes ({@code mmap_size}); it covers {@code bytes * 8} pages
     * @throws IllegalArgumentException when the mapping is misaligned or too small, or a size is
     *     not positive
     */
    public DirtyBitmap(MemorySegment words, long lead, long bytes) {
        if (bytes <= 0 || lead < 0) {
            throw new IllegalArgumentException("dirty log of " + bytes + " bytes at offset " + lead);
        }
        if ((words.address() & 7) != 0) {
            throw new IllegalArgumentException("dirty log mapping at 0x" + Long.toHexString(words.address()) + " is not 8-byte aligned");
        }
        long need = roundUp8(Math.addExact(lead, bytes));
        if (words.byteSize() < need) {
            throw new IllegalArgumentException("dirty log mapping of " + words.byteSize() + " bytes, need " + need);
        }
        this.words = words;
        this.lead = lead;
        this.bytes = bytes;
        this.pages = bytes > Long.MAX_VALUE / 8 ? Long.MAX_VALUE : bytes * 8;
    }

    /** @return {@code n} rounded up to a multiple of 8 */
    public static long roundUp8(long n) {
        return Math.addExact(n, 7) & ~7L;
    }

    /**
     * @param guestEnd the first guest-physical address past the memory to log, bytes
     * @return the log size that covers {@code [0, guestEnd)}, bytes, rounded up to whole {@code u64}
     *     words (QEMU {@code vhost_get_log_size})
     */
    public static long bytesFor(long guestEnd) {
        long pagesNeeded = (guestEnd + LOG_PAGE - 1) >>> PAGE_SHIFT;
        return roundUp8((pagesNeeded + 7) >>> 3);
    }

    /** @return the log's size in bytes */
    public long bytes() {
        return bytes;
    }

    /** @return how many 4 KiB pages the log covers ({@code bytes * 8}) */
    public long pages() {
        return pages;
    }

    /** @return marks dropped since creation because their pages lie past the log's end */
    public long missed() {
        return missed.get();
    }

    /**
     * Marks every page that {@code [gpa, gpa + length)} touches as dirty (atomic OR). Nothing for a
     * non-positive length; pages past the log's end are dropped and counted.
     *
     * @param gpa guest-physical address of the first byte written
     * @param length bytes written
     */
    public void mark(long gpa, long length) {
        if (length <= 0) {
            return;
        }
        long first = gpa >>> PAGE_SHIFT;
        long end = gpa + length - 1;
        long last = Long.compareUnsigned(end, gpa) < 0 ? -1L >>> PAGE_SHIFT : end >>> PAGE_SHIFT;
        if (Long.compareUnsigned(last, pages - 1) > 0) {
            missed.incrementAndGet();
            if (Long.compareUnsigned(first, pages - 1) > 0) {
                return;
            }
            last = pages - 1;
        }
        try {
            long p = first;
            while (p <= last) {
                long abs = lead + (p >>> 3);
                long word = abs & ~7L;
                long wordFirstPage = (word - lead) * 8; // may be negative when the log starts inside the word
                long hi = Math.min(last, wordFirstPage + 63);
                int from = (int) (p - wordFirstPage);
                int to = (int) (hi - wordFirstPage);
                long mask = (-1L >>> (63 - (to - from))) << from;
                U64.getAndBitwiseOr(words, word, mask);
                p = hi + 1;
            }
        } catch (IllegalStateException closed) {
            // the log was replaced and its mapping closed while this mark ran: nothing to log into
        }
    }

    /** @return whether page {@code page} (a guest-physical address / 4096) is marked */
    public boolean isDirty(long page) {
        if (page < 0 || page >= pages) {
            return false;
        }
        long abs = lead + (page >>> 3);
        long word = abs & ~7L;
        long v = (long) U64.getVolatile(words, word);
        return (v >>> (int) (page - (word - lead) * 8) & 1) != 0;
    }

    /**
     * Takes the marks: atomically clears every log word and returns the pages that were marked
     * (QEMU {@code vhost_sync_dirty_bitmap}, which does the same with {@code qatomic_xchg}). A mark
     * made concurrently is in this result or stays for the next call, never lost. Control path:
     * allocates the result.
     *
     * @return the dirty page numbers (guest-physical address / 4096)
     * @throws IllegalStateException when the log's memory was closed
     */
    public BitSet syncAndClear() {
        BitSet dirty = new BitSet();
        long firstWord = lead & ~7L;
        long endWord = roundUp8(lead + bytes);
        for (long word = firstWord; word < endWord; word += 8) {
            long wordFirstPage = (word - lead) * 8;
            int from = (int) Math.max(0, -wordFirstPage);
            int to = (int) Math.min(63, pages - 1 - wordFirstPage);
            long mask = (-1L >>> (63 - (to - from))) << from;
            long v = (long) U64.getAndBitwiseAnd(words, word, ~mask) & mask;
            while (v != 0) {
                int bit = Long.numberOfTrailingZeros(v);
                dirty.set(Math.toIntExact(wordFirstPage + bit));
                v &= v - 1;
            }
        }
        return dirty;
    }
}
