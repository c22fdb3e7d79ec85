package com.vhost.devices.blk.model;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * The in-memory model's image (its memfd) as mapped in this process, so a request is a memory copy
 * instead of a {@code pread}/{@code pwrite} system call (which took about half of the queue
 * worker's time at queue depth 32, issue #13).
 *
 * <p>Pages never written are not read through the mapping: a read fault on a hole of a shared
 * memfd mapping allocates the page (the resident memory would grow to the image's size under a
 * read-only workload, and each first touch is a page fault), while {@code pread} of a hole only
 * copies zeroes. So a bitmap records the 4 KiB pages written through this object; a read of a page
 * not in it fills the guest buffer with zeroes, a read of one in it copies from the mapping. Only
 * for an image nothing else writes through the fd (the in-memory model with synchronous I/O: its
 * io_uring engine writes through the fd and does not use this). A page punched out later (DISCARD)
 * still reads zeroes through the mapping, correct if no longer sparse. Thread-safe: a page's bit is
 * set (atomically, release) after its data is copied in, and read with acquire before copying out.
 */
final class MappedImage {
    private static final int PAGE_SHIFT = 12;
    private static final long PAGE = 1L << PAGE_SHIFT;
    private static final VarHandle WORDS = MethodHandles.arrayElementVarHandle(long[].class);
    /** A page of zeroes, the source for reads of pages never written. */
    private static final MemorySegment ZERO_PAGE = Arena.global().allocate(PAGE, PAGE);
    /** This process's address space: guest buffers are host virtual addresses (see FileStore). */
    static final MemorySegment ALL = MemorySegment.NULL.reinterpret(Long.MAX_VALUE);

    private final MemorySegment map;
    private final long[] written;

    /** @param map the whole image, mapped shared; kept mapped while this object is used */
    MappedImage(MemorySegment map) {
        this.map = map;
        this.written = new long[(int) (((map.byteSize() + PAGE - 1) >>> PAGE_SHIFT) + 63 >>> 6)];
    }

    /** @return whether {@code [fileOffset, fileOffset + len)} lies inside the mapping */
    boolean covers(long len, long fileOffset) {
        return fileOffset >= 0 && len >= 0 && len <= map.byteSize() - fileOffset;
    }

    /** Copies {@code len} bytes at {@code fileOffset} (inside, see {@link #covers}) to host memory. */
    void read(long hostAddress, long len, long fileOffset) {
        long end = fileOffset + len;
        long at = fileOffset;
        while (at < end) {
            long n = Math.min(end, (at & -PAGE) + PAGE) - at; // up to the end of at's page
            if (isWritten(at >>> PAGE_SHIFT)) {
                MemorySegment.copy(map, at, ALL, hostAddress + (at - fileOffset), n);
            } else {
                MemorySegment.copy(ZERO_PAGE, 0, ALL, hostAddress + (at - fileOffset), n);
            }
            at += n;
        }
    }

    /** Copies {@code len} bytes from host memory to {@code fileOffset} (inside, see {@link #covers}). */
    void write(long hostAddress, long len, long fileOffset) {
        if (len == 0) {
            return;
        }
        MemorySegment.copy(ALL, hostAddress, map, fileOffset, len);
        for (long p = fileOffset >>> PAGE_SHIFT, last = (fileOffset + len - 1) >>> PAGE_SHIFT; p <= last; p++) {
            int w = (int) (p >>> 6);
            long bit = 1L << p;
            if (((long) WORDS.getAcquire(written, w) & bit) == 0) {
                WORDS.getAndBitwiseOrRelease(written, w, bit);
            }
        }
    }

    private boolean isWritten(long page) {
        return ((long) WORDS.getAcquire(written, (int) (page >>> 6)) & (1L << page)) != 0;
    }
}
