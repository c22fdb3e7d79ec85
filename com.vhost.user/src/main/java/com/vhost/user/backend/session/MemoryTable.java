package com.vhost.user.backend.session;

import com.vhost.api.VhostException;
import com.vhost.api.VhostNativeException;
import com.vhost.api.virtio.GuestMemory;
import com.vhost.api.virtio.GuestMemoryRegion;
import com.vhost.spi.memory.GuestMemoryMap;
import com.vhost.spi.memory.InflightTable;
import com.vhost.spi.memory.WriteLog;
import com.vhost.spi.nativeio.FileStat;
import com.vhost.spi.nativeio.Linux;
import com.vhost.spi.nativeio.OwnedFd;
import com.vhost.spi.nativeio.SharedMemory;
import com.vhost.user.message.MemRegionPayload;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * The front-end's memory as this back-end mapped it: one shared mapping per region, each with the
 * fd it came from (QEMU {@code docs/interop/vhost-user.rst}, SET_MEM_TABLE, ADD_MEM_REG,
 * REM_MEM_REG; rust-vmm {@code vhost-user-backend} {@code handler.rs} {@code set_mem_table}).
 *
 * <p>Every mapping is made in {@link #map}, the one place where a region is checked against its fd
 * before it is mapped. A change builds the new {@link GuestMemory} first (regions must not
 * overlap), installs it, and runs the caller's {@link Apply} step (re-activating a running device
 * over it); only when that succeeds are the retired regions unmapped. When any step fails, the old
 * table stays installed and whatever the refused request mapped is unmapped and its fds closed.
 *
 * <p>Not thread-safe: the session thread owns it. Device threads read the {@link GuestMemory}
 * they were activated with, which stays mapped until the device has moved to a newer one.
 */
final class MemoryTable implements AutoCloseable {
    /** Mappings are made from page-aligned fd offsets, bytes. */
    private static final long PAGE = 4096;

    /** The step run with a new memory installed; when it throws, the change is undone. */
    @FunctionalInterface
    interface Apply {
        void run() throws VhostException, Refusal;
    }

    /** One mapped memory region with the fd it came from. */
    private record Mapped(MemRegionPayload wire, OwnedFd fd, SharedMemory map, GuestMemoryRegion region) {
        void close() {
            map.close();
            fd.close();
        }
    }

    private final List<Mapped> regions = new ArrayList<>();
    /** Most bytes mapped at once (the sum of region sizes); see {@link SessionLimits#DEFAULT_MAX_MAPPED_BYTES}. */
    private final long maxMappedBytes;
    /** Attached to every installed memory, so the queues running over it find the session's log. */
    private final WriteLog writeLog;
    private final InflightTable inflight;
    private GuestMemory memory;

    /** A table bounded at {@link SessionLimits#DEFAULT_MAX_MAPPED_BYTES} mapped bytes. */
    MemoryTable() {
        this(SessionLimits.DEFAULT_MAX_MAPPED_BYTES);
    }

    /** @param maxMappedBytes the most bytes of guest memory mapped at once, at least 1 */
    MemoryTable(long maxMappedBytes) {
        this(maxMappedBytes, WriteLog.OFF, InflightTable.NONE);
    }

    /**
     * @param maxMappedBytes the most bytes of guest memory mapped at once, at least 1
     * @param writeLog the session's dirty log, attached to the memory installed
     * @param inflight the session's inflight regions, attached to the memory installed
     */
    MemoryTable(long maxMappedBytes, WriteLog writeLog, InflightTable inflight) {
        this.writeLog = writeLog;
        this.inflight = inflight;
        if (maxMappedBytes < 1) {
            throw new IllegalArgumentException("maxMappedBytes " + maxMappedBytes + " < 1");
        }
        this.maxMappedBytes = maxMappedBytes;
    }

    /** @return the bytes mapped now (the sum of the region sizes) */
    long mappedBytes() {
        long sum = 0;
        for (Mapped m : regions) {
            sum += m.wire().size();
        }
        return sum;
    }

    /** @return the installed memory, or null before the first table */
    GuestMemory memory() {
        return memory;
    }

    /** @return how many regions are mapped */
    int size() {
        return regions.size();
    }

    /**
     * SET_MEM_TABLE: maps {@code table} (one fd each, all owned from here on) and replaces every
     * region with them.
     *
     * @throws Refusal when the regions' sizes add up to more than the mapped-bytes bound, a region
     *     cannot be mapped, the regions overlap, or {@code apply} refuses; the old table stays and
     *     nothing of the new one stays mapped
     */
    void replaceAll(List<MemRegionPayload> table, List<OwnedFd> fds, Apply apply) throws VhostException, Refusal {
        List<Mapped> fresh = new ArrayList<>(table.size());
        try {
            checkMappedBytes(0, 0, table);
            for (int i = 0; i < table.size(); i++) {
                fresh.add(map(i, table.get(i), fds.get(i)));
            }
        } catch (Refusal | RuntimeException e) {
            fresh.forEach(Mapped::close);
            for (int i = fresh.size(); i < fds.size(); i++) {
                fds.get(i).close();
            }
            throw e;
        }
        install(fresh, fresh, List.copyOf(regions), apply);
    }

    /**
     * ADD_MEM_REG: maps one region from {@code fd} (owned from here on) beside the others.
     *
     * @param slots the most regions allowed ({@link SessionLimits#MAX_MEM_SLOTS})
     * @throws Refusal when every slot is in use, the mapped bytes would pass their bound, the region
     *     cannot be mapped, overlaps another, or {@code apply} refuses
     */
    void add(MemRegionPayload region, OwnedFd fd, int slots, Apply apply) throws VhostException, Refusal {
        if (regions.size() >= slots) {
            fd.close();
            throw new Refusal("all " + slots + " memory slots are in use, at most " + slots + " (MAX_MEM_SLOTS, as GET_MAX_MEM_SLOTS said)");
        }
        try {
            checkMappedBytes(mappedBytes(), regions.size(), List.of(region));
        } catch (Refusal e) {
            fd.close();
            throw e;
        }
        Mapped m = map(regions.size(), region, fd);
        List<Mapped> next = new ArrayList<>(regions);
        next.add(m);
        install(next, List.of(m), List.of(), apply);
    }

    /**
     * REM_MEM_REG: unmaps the region with the same guest address, size and user address.
     *
     * @throws Refusal when there is no such region, or {@code apply} refuses (the region the ring
     *     lives in cannot go while the ring runs)
     */
    void remove(MemRegionPayload region, Apply apply) throws VhostException, Refusal {
        Mapped found = null;
        for (Mapped m : regions) {
            if (m.wire().guestAddr() == region.guestAddr() && m.wire().size() == region.size()
                    && m.wire().userAddr() == region.userAddr()) {
                found = m;
            }
        }
        if (found == null) {
            throw new Refusal(String.format("no memory region at guest 0x%x of 0x%x bytes", region.guestAddr(), region.size()));
        }
        List<Mapped> next = new ArrayList<>(regions);
        next.remove(found);
        install(next, List.of(), List.of(found), apply);
    }

    /**
     * Refuses regions whose sizes (unsigned {@code u64}), added to {@code already} mapped bytes,
     * pass {@link #maxMappedBytes}, the {@code alreadyRegions} mapped regions counted in the
     * message; checked before anything is mapped.
     */
    private void checkMappedBytes(long already, int alreadyRegions, List<MemRegionPayload> added) throws Refusal {
        long sum = already;
        boolean over = false;
        for (MemRegionPayload r : added) {
            if (r.size() < 0 || sum > Long.MAX_VALUE - r.size()) {
                over = true; // at least 2^63 bytes
                break;
            }
            sum += r.size();
        }
        if (over || sum > maxMappedBytes) {
            String total = over ? "more than 0x7fffffffffffffff" : "0x" + Long.toHexString(sum);
            throw new Refusal(String.format("%s bytes of guest memory in %d regions, at most 0x%x (%s, MAX_MAPPED_BYTES)",
                    total, alreadyRegions + added.size(), maxMappedBytes, bytes(maxMappedBytes)));
        }
    }

    /** @return {@code n} bytes in GiB, MiB or bytes, for messages */
    static String bytes(long n) {
        if (n % (1L << 30) == 0) {
            return (n >> 30) + " GiB";
        }
        if (n % (1L << 20) == 0) {
            return (n >> 20) + " MiB";
        }
        return n + " bytes";
    }

    /**
     * Maps one region; closes {@code fd} when it fails. This is where a region is checked against
     * what its fd can back before it is mapped: the fd must be a regular file or memfd (fstat
     * {@code S_IFREG}) at least {@code mmapOffset + size} bytes long, so that no byte of the
     * mapping lies past the end of the file (touching such a byte raises SIGBUS, which the JVM
     * turns into an {@link InternalError} in whichever thread touched it). The check is made once
     * per message; a file shrunk afterwards is caught where guest memory is touched (the session
     * loop and the queue workers).
     *
     * @param index the region's position in the SET_MEM_TABLE message, or its slot for ADD_MEM_REG
     * @throws Refusal naming the region index, its fd offset and size and the fd's type or size
     */
    private static Mapped map(int index, MemRegionPayload r, OwnedFd fd) throws Refusal {
        try {
            checkBacked(index, r, fd);
        } catch (Refusal e) {
            fd.close();
            throw e;
        }
        long aligned = r.mmapOffset() & -PAGE;
        long lead = r.mmapOffset() - aligned;
        SharedMemory shm;
        try {
            shm = SharedMemory.map(fd.fd(), aligned, Math.addExact(r.size(), lead));
        } catch (VhostException | RuntimeException e) {
            fd.close();
            throw new Refusal(String.format("mapping memory region %d (guest 0x%x, size 0x%x, fd offset 0x%x) failed: %s",
                    index, r.guestAddr(), r.size(), r.mmapOffset(), e.getMessage()));
        }
        MemorySegment seg = shm.segment().asSlice(lead, r.size());
        return new Mapped(r, fd, shm, new GuestMemoryRegion(r.guestAddr(), r.size(), r.userAddr(), fd.fd(), r.mmapOffset(), seg));
    }

    /** Refuses a region its fd cannot back: not a regular file or memfd, or too short. */
    private static void checkBacked(int index, MemRegionPayload r, OwnedFd fd) throws Refusal {
        FileStat st;
        try {
            st = Linux.fstat(fd.fd());
        } catch (VhostNativeException e) {
            throw new Refusal(String.format("memory region %d: cannot fstat its fd: %s", index, e.getMessage()));
        }
        if (!st.isRegularFile()) {
            throw new Refusal(String.format("memory region %d (fd offset 0x%x, size 0x%x): its fd (%s)"
                    + " is not a regular file or memfd", index, r.mmapOffset(), r.size(), st.typeName()));
        }
        long end;
        try {
            if (r.mmapOffset() < 0 || r.size() < 0) {
                throw new ArithmeticException("negative");
            }
            end = Math.addExact(r.mmapOffset(), r.size());
        } catch (ArithmeticException e) {
            throw new Refusal(String.format("memory region %d: fd offset 0x%x + size 0x%x overflows (fd size 0x%x)",
                    index, r.mmapOffset(), r.size(), st.size()));
        }
        if (st.size() < end) {
            throw new Refusal(String.format("memory region %d (fd offset 0x%x, size 0x%x) reaches past the end of its"
                    + " fd (fd size 0x%x)", index, r.mmapOffset(), r.size(), st.size()));
        }
    }

    /**
     * Installs {@code next} as the table and runs {@code apply}, then unmaps {@code retired}; on any
     * failure puts the old memory back and unmaps {@code added} instead.
     */
    private void install(List<Mapped> next, List<Mapped> added, List<Mapped> retired, Apply apply) throws VhostException, Refusal {
        GuestMemory old = memory;
        try {
            List<GuestMemoryRegion> rs = new ArrayList<>(next.size());
            for (Mapped m : next) {
                rs.add(m.region());
            }
            rs.sort((a, b) -> Long.compareUnsigned(a.guestAddr(), b.guestAddr()));
            GuestMemory mem;
            try {
                mem = GuestMemoryMap.of(rs).withWriteLog(writeLog).withInflight(inflight);
            } catch (RuntimeException e) {
                throw new Refusal("invalid memory table: " + e.getMessage());
            }
            memory = mem;
            apply.run();
        } catch (Refusal | VhostException | RuntimeException e) {
            memory = old;
            added.forEach(Mapped::close);
            throw e;
        }
        regions.clear();
        regions.addAll(next);
        retired.forEach(Mapped::close);
    }

    /** Unmaps every region and closes its fd; the memory is gone (null). */
    @Override
    public void close() {
        regions.forEach(Mapped::close);
        regions.clear();
        memory = null;
    }
}
