package com.vhost.spi.virtqueue;

import com.vhost.api.virtio.GuestMemory;
import com.vhost.api.virtio.GuestMemoryRegion;
import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * Snapshot of a {@link GuestMemory}'s regions in flat arrays, so the data path can resolve a
 * guest-physical range to (region segment, offset) without allocating (a {@code slice} would
 * create a new {@link MemorySegment} per descriptor).
 */
final class RegionTable {
    private final long[] base;
    private final long[] size;
    private final MemorySegment[] segment;

    RegionTable(GuestMemory memory) {
        List<GuestMemoryRegion> regions = memory.regions();
        int n = regions.size();
        base = new long[n];
        size = new long[n];
        segment = new MemorySegment[n];
        for (int i = 0; i < n; i++) {
            GuestMemoryRegion r = regions.get(i);
            base[i] = r.guestAddr();
            size[i] = r.size();
            segment[i] = r.segment();
        }
    }

    /**
     * @return the index of the region holding all of {@code [gpa, gpa+length)}, or -1 (also when
     *     the range overflows)
     */
    int find(long gpa, long length) {
        if (length < 0) {
            return -1;
        }
        for (int i = 0; i < base.length; i++) {
            long off = gpa - base[i];
            // unsigned compare: gpa >= base and off < size, then the length fits in what is left
            if (Long.compareUnsigned(gpa, base[i]) >= 0 && Long.compareUnsigned(off, size[i]) < 0
                    && length <= size[i] - off) {
                return i;
            }
            if (length == 0 && gpa == base[i] + size[i]) {
                return i;
            }
        }
        return -1;
    }

    MemorySegment segment(int region) {
        return segment[region];
    }

    long offset(int region, long gpa) {
        return gpa - base[region];
    }
}
