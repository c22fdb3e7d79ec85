package com.vhost.spi.testing;

import com.vhost.api.virtio.GuestMemory;
import com.vhost.api.virtio.GuestMemoryRegion;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * Test-only {@link GuestMemory}: regions allocated from a shared arena at chosen guest-physical
 * addresses (user address = guest address + {@link #USER_OFFSET}).
 */
public final class TestGuestMemory implements GuestMemory, AutoCloseable {
    public static final long USER_OFFSET = 0x7f00_0000_0000L;
    private final Arena arena = Arena.ofShared();
    private final List<GuestMemoryRegion> regions = new ArrayList<>();

    /**
     * @param layout pairs of (guest address, size in bytes), sorted and non-overlapping
     */
    public TestGuestMemory(long... layout) {
        for (int i = 0; i + 1 < layout.length; i += 2) {
            MemorySegment seg = arena.allocate(layout[i + 1], 4096);
            regions.add(new GuestMemoryRegion(layout[i], layout[i + 1], layout[i] + USER_OFFSET, -1, 0, seg));
        }
    }

    @Override
    public List<GuestMemoryRegion> regions() {
        return List.copyOf(regions);
    }

    private GuestMemoryRegion find(long gpa, long length) {
        for (GuestMemoryRegion r : regions) {
            if (gpa >= r.guestAddr() && length >= 0 && gpa - r.guestAddr() <= r.size() - length) {
                return r;
            }
        }
        return null;
    }

    @Override
    public boolean contains(long gpa, long length) {
        return find(gpa, length) != null;
    }

    @Override
    public MemorySegment slice(long gpa, long length) {
        GuestMemoryRegion r = find(gpa, length);
        if (r == null) {
            throw new IndexOutOfBoundsException(String.format("[0x%x, +%d) is not inside one region", gpa, length));
        }
        return r.segment().asSlice(gpa - r.guestAddr(), length);
    }

    @Override
    public long guestAddrOfUser(long userAddr) {
        for (GuestMemoryRegion r : regions) {
            if (userAddr >= r.userAddr() && userAddr - r.userAddr() < r.size()) {
                return r.guestAddr() + (userAddr - r.userAddr());
            }
        }
        throw new IndexOutOfBoundsException(String.format("user address 0x%x", userAddr));
    }

    @Override
    public long userAddrOfGuest(long gpa) {
        GuestMemoryRegion r = find(gpa, 1);
        if (r == null) {
            throw new IndexOutOfBoundsException(String.format("guest address 0x%x", gpa));
        }
        return r.userAddr() + (gpa - r.guestAddr());
    }

    @Override
    public void close() {
        arena.close();
    }
}
