package com.vhost.api;

/**
 * One region of the memory table a front-end hands to its back-end ({@code VHOST_SET_MEM_TABLE},
 * vhost-user {@code SET_MEM_TABLE} / {@code ADD_MEM_REG}). Layout on the wire:
 * {@code u64 guest_addr; u64 size; u64 user_addr; u64 mmap_offset}, plus the region's fd.
 *
 * @param guestAddr guest-physical address of the first byte
 * @param size size in bytes, greater than zero
 * @param userAddr front-end virtual address of the first byte (what vring addresses use)
 * @param mmapOffset offset in bytes into {@code fd} at which the region starts
 * @param fd shared-memory file descriptor (memfd), or -1 where the backend needs none (kernel)
 */
public record MemoryRegion(long guestAddr, long size, long userAddr, long mmapOffset, int fd) {
    public MemoryRegion {
        if (size <= 0) {
            throw new IllegalArgumentException("memory region size must be > 0, was " + size);
        }
        // addresses are unsigned 64-bit: the last byte must not wrap past 2^64
        if (Long.compareUnsigned(guestAddr + size - 1, guestAddr) < 0) {
            throw new IllegalArgumentException(String.format(
                    "guest range 0x%x + 0x%x wraps past 2^64", guestAddr, size));
        }
        if (Long.compareUnsigned(userAddr + size - 1, userAddr) < 0) {
            throw new IllegalArgumentException(String.format(
                    "user range 0x%x + 0x%x wraps past 2^64", userAddr, size));
        }
    }

    /** @return true when {@code [gpa, gpa+len)} lies inside this region (unsigned addresses) */
    public boolean containsGuest(long gpa, long len) {
        long off = gpa - guestAddr;
        return Long.compareUnsigned(gpa, guestAddr) >= 0 && len >= 0 && Long.compareUnsigned(off, size) <= 0
                && Long.compareUnsigned(len, size - off) <= 0;
    }
}
