package com.vhost.api.virtio;

import java.lang.foreign.MemorySegment;
import java.util.List;
import org.osgi.annotation.versioning.ProviderType;

/**
 * The memory rings and buffers live in: guest-physical addresses mapped to {@link MemorySegment}s.
 * Lookups are bounds-checked: a range that is not wholly inside one region is rejected.
 */
@ProviderType
public interface GuestMemory {
    /** @return the regions, sorted by guest address, non-overlapping */
    List<GuestMemoryRegion> regions();

    /**
     * @param gpa guest-physical address
     * @param length bytes, {@code >= 0}
     * @return whether {@code [gpa, gpa+length)} lies wholly in one region
     */
    boolean contains(long gpa, long length);

    /**
     * @param gpa guest-physical address
     * @param length bytes
     * @return a segment of exactly {@code length} bytes at {@code gpa}
     * @throws IndexOutOfBoundsException naming the range when it is not wholly inside one region
     */
    MemorySegment slice(long gpa, long length);

    /**
     * Translates a front-end virtual address (as in SET_VRING_ADDR) to guest-physical.
     *
     * @throws IndexOutOfBoundsException when no region holds {@code userAddr}
     */
    long guestAddrOfUser(long userAddr);

    /**
     * Translates guest-physical to the front-end's virtual address.
     *
     * @throws IndexOutOfBoundsException when no region holds {@code gpa}
     */
    long userAddrOfGuest(long gpa);
}
