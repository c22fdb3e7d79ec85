package com.vhost.devices.blk.driver;

import java.lang.foreign.MemorySegment;
import java.util.Map;
import java.util.TreeMap;

/**
 * First-fit allocator over one slice of the driver's shared memory, for application buffers and
 * bounce buffers. Ranges are 64-byte aligned (4096 for sizes of a page or more). Thread-safe.
 */
final class BufferPool {
    private final MemorySegment area;
    /** Free ranges: offset -> size, coalesced. */
    private final TreeMap<Long, Long> free = new TreeMap<>();
    private long freeBytes;

    BufferPool(MemorySegment area) {
        this.area = area;
        free.put(0L, area.byteSize());
        freeBytes = area.byteSize();
    }

    /** @return whether {@code seg} lies wholly inside the pool's memory */
    boolean owns(MemorySegment seg) {
        long a = seg.address();
        return seg.isNative() && a >= area.address() && a - area.address() <= area.byteSize() - seg.byteSize();
    }

    /** @return a zeroed slice of {@code bytes}, or null when no free range is large enough */
    synchronized MemorySegment allocate(long bytes) {
        if (bytes <= 0) {
            throw new IllegalArgumentException("buffer size " + bytes + " must be > 0");
        }
        long align = bytes >= 4096 ? 4096 : 64;
        long size = (bytes + 63) & -64L;
        for (Map.Entry<Long, Long> e : free.entrySet()) {
            long off = e.getKey();
            long len = e.getValue();
            long start = (off + align - 1) & -align;
            if (start - off + size <= len) {
                free.remove(off);
                if (start > off) {
                    free.put(off, start - off);
                }
                long end = start + size;
                if (end < off + len) {
                    free.put(end, off + len - end);
                }
                freeBytes -= size;
                MemorySegment s = area.asSlice(start, bytes);
                s.fill((byte) 0);
                return s;
            }
        }
        return null;
    }

    /** Returns a slice obtained from {@link #allocate}. */
    synchronized void release(MemorySegment seg) {
        long off = seg.address() - area.address();
        long size = (seg.byteSize() + 63) & -64L;
        Map.Entry<Long, Long> prev = free.floorEntry(off);
        if (prev != null && prev.getKey() + prev.getValue() > off) {
            throw new IllegalStateException("buffer at pool offset " + off + " released twice");
        }
        long start = off;
        long len = size;
        if (prev != null && prev.getKey() + prev.getValue() == off) {
            start = prev.getKey();
            len += prev.getValue();
            free.remove(prev.getKey());
        }
        Long nextLen = free.remove(off + size);
        if (nextLen != null) {
            len += nextLen;
        }
        free.put(start, len);
        freeBytes += size;
    }

    synchronized long freeBytes() {
        return freeBytes;
    }

    long capacity() {
        return area.byteSize();
    }
}
