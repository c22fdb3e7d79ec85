package com.vhost.spi.memory;

import com.vhost.api.virtio.GuestMemory;
import com.vhost.api.virtio.GuestMemoryRegion;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * An immutable {@link GuestMemory} over a few regions (vhost-user allows 8 in SET_MEM_TABLE and
 * up to GET_MAX_MEM_SLOTS with ADD_MEM_REG). Lookups scan the regions in guest-address order and
 * allocate nothing; {@link #regionIndex} plus {@link #segment(int)} give hot paths access without
 * the slice that {@link #slice} allocates.
 */
public final class GuestMemoryMap implements GuestMemory {
    private final List<GuestMemoryRegion> regions;
    private final long[] gpa;
    private final long[] size;
    private final long[] uva;
    private final MemorySegment[] segments;
    private final WriteLog writeLog;
    private final InflightTable inflight;

    private GuestMemoryMap(List<GuestMemoryRegion> sorted, WriteLog writeLog, InflightTable inflight) {
        this.regions = List.copyOf(sorted);
        this.writeLog = writeLog;
        this.inflight = inflight;
        int n = sorted.size();
        gpa = new long[n];
        size = new long[n];
        uva = new long[n];
        segments = new MemorySegment[n];
        for (int i = 0; i < n; i++) {
            GuestMemoryRegion r = sorted.get(i);
            gpa[i] = r.guestAddr();
            size[i] = r.size();
            uva[i] = r.userAddr();
            segments[i] = r.segment();
        }
    }

    /**
     * @param regions regions with segments of their stated size
     * @throws IllegalArgumentException when two regions overlap in guest-physical or user
     *     addresses, a size is not positive, or a segment is smaller than its region
     */
    public static GuestMemoryMap of(List<GuestMemoryRegion> regions) {
        List<GuestMemoryRegion> sorted = new ArrayList<>(regions);
        sorted.sort(Comparator.comparingLong(GuestMemoryRegion::guestAddr));
        for (int i = 0; i < sorted.size(); i++) {
            GuestMemoryRegion r = sorted.get(i);
            if (r.size() <= 0) {
                throw new IllegalArgumentException("region " + i + ": size " + r.size() + " is not positive");
            }
            if (r.segment() == null || r.segment().byteSize() < r.size()) {
                throw new IllegalArgumentException(String.format(
                        "region at gpa 0x%x: mapping smaller than its size 0x%x", r.guestAddr(), r.size()));
            }
            Math.addExact(r.guestAddr(), r.size());
            Math.addExact(r.userAddr(), r.size());
            if (i > 0) {
                GuestMemoryRegion p = sorted.get(i - 1);
                if (p.guestAddr() + p.size() > r.guestAddr()) {
                    throw new IllegalArgumentException(String.format(
                            "regions overlap: gpa 0x%x+0x%x and 0x%x", p.guestAddr(), p.size(), r.guestAddr()));
                }
            }
            for (int j = 0; j < i; j++) {
                GuestMemoryRegion o = sorted.get(j);
                if (o.userAddr() < r.userAddr() + r.size() && r.userAddr() < o.userAddr() + o.size()) {
                    throw new IllegalArgumentException(String.format(
                            "regions overlap in user address space: 0x%x and 0x%x", o.userAddr(), r.userAddr()));
                }
            }
        }
        return new GuestMemoryMap(sorted, WriteLog.OFF, InflightTable.NONE);
    }

    /**
     * @param log where queues running over the returned memory log their writes (a back-end
     *     session's; see {@link WriteLog})
     * @return the same regions with {@code log} attached
     * @since 1.1
     */
    public GuestMemoryMap withWriteLog(WriteLog log) {
        return new GuestMemoryMap(regions, java.util.Objects.requireNonNull(log, "log"), inflight);
    }

    /**
     * @param table the inflight regions queues running over the returned memory track their
     *     descriptors in (a back-end session's; see {@link InflightTable})
     * @return the same regions with {@code table} attached
     * @since 1.2
     */
    public GuestMemoryMap withInflight(InflightTable table) {
        return new GuestMemoryMap(regions, writeLog, java.util.Objects.requireNonNull(table, "table"));
    }

    /**
     * @return the inflight regions of the session owning this memory ({@link InflightTable#NONE}
     *     unless {@link #withInflight} attached some)
     * @since 1.2
     */
    public InflightTable inflight() {
        return inflight;
    }

    /**
     * @return the write log queues running over this memory mark ({@link WriteLog#OFF} unless
     *     {@link #withWriteLog} attached one)
     * @since 1.1
     */
    public WriteLog writeLog() {
        return writeLog;
    }

    /** @return an empty map (every lookup fails) */
    public static GuestMemoryMap empty() {
        return new GuestMemoryMap(List.of(), WriteLog.OFF, InflightTable.NONE);
    }

    @Override
    public List<GuestMemoryRegion> regions() {
        return regions;
    }

    /**
     * @return the index of the region holding all of {@code [gpa, gpa+length)}, or -1
     */
    public int regionIndex(long gpaAddr, long length) {
        if (length < 0) {
            return -1;
        }
        for (int i = 0; i < gpa.length; i++) {
            long off = gpaAddr - gpa[i];
            if (off >= 0 && off < size[i] && length <= size[i] - off) {
                return i;
            }
        }
        return -1;
    }

    /** @return region {@code i}'s mapping */
    public MemorySegment segment(int i) {
        return segments[i];
    }

    /** @return region {@code i}'s guest-physical start */
    public long regionGuestAddr(int i) {
        return gpa[i];
    }

    @Override
    public boolean contains(long gpaAddr, long length) {
        return regionIndex(gpaAddr, length) >= 0;
    }

    @Override
    public MemorySegment slice(long gpaAddr, long length) {
        int i = regionIndex(gpaAddr, length);
        if (i < 0) {
            throw new IndexOutOfBoundsException(String.format(
                    "guest range [0x%x, +0x%x) is not inside guest memory", gpaAddr, length));
        }
        return segments[i].asSlice(gpaAddr - gpa[i], length);
    }

    @Override
    public long guestAddrOfUser(long userAddr) {
        for (int i = 0; i < uva.length; i++) {
            long off = userAddr - uva[i];
            if (off >= 0 && off < size[i]) {
                return gpa[i] + off;
            }
        }
        throw new IndexOutOfBoundsException(String.format("user address 0x%x is in no memory region", userAddr));
    }

    @Override
    public long userAddrOfGuest(long gpaAddr) {
        int i = regionIndex(gpaAddr, 1);
        if (i < 0) {
            throw new IndexOutOfBoundsException(String.format("guest address 0x%x is in no memory region", gpaAddr));
        }
        return uva[i] + (gpaAddr - gpa[i]);
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder("GuestMemoryMap[");
        for (int i = 0; i < gpa.length; i++) {
            sb.append(i == 0 ? "" : ", ").append(String.format("0x%x+0x%x", gpa[i], size[i]));
        }
        return sb.append(']').toString();
    }
}
