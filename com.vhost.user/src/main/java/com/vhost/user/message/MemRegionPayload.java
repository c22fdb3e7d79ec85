package com.vhost.user.message;

import com.vhost.api.MemoryRegion;
import com.vhost.api.VhostProtocolException;
import java.lang.foreign.MemorySegment;

/**
 * One memory region descriptor (32 bytes): {@code u64 guest_addr; u64 size; u64 user_addr;
 * u64 mmap_offset}. Its fd travels as ancillary data beside the message.
 *
 * @param guestAddr guest-physical address of the first byte
 * @param size size in bytes, greater than zero
 * @param userAddr front-end virtual address of the first byte
 * @param mmapOffset offset in bytes into the region's fd
 */
public record MemRegionPayload(long guestAddr, long size, long userAddr, long mmapOffset) {
    /** Size of one descriptor in bytes. */
    public static final int SIZE = 32;

    /** @return the wire form of {@code r} (its fd is sent separately) */
    public static MemRegionPayload of(MemoryRegion r) {
        return new MemRegionPayload(r.guestAddr(), r.size(), r.userAddr(), r.mmapOffset());
    }

    /** @return this region with {@code fd} attached */
    public MemoryRegion toRegion(int fd) {
        return new MemoryRegion(guestAddr, size, userAddr, mmapOffset, fd);
    }

    /** @return the descriptor size */
    public int encode(MemorySegment buf, long offset) {
        Wire.putU64(buf, offset, guestAddr);
        Wire.putU64(buf, offset + 8, size);
        Wire.putU64(buf, offset + 16, userAddr);
        Wire.putU64(buf, offset + 24, mmapOffset);
        return SIZE;
    }

    /**
     * Reads one descriptor (its caller checked the payload size).
     *
     * @throws VhostProtocolException when the size is zero or an end address (guest, user, mmap
     *     offset plus size) overflows a signed 64-bit value ({@link Math#addExact})
     */
    static MemRegionPayload decodeAt(String what, MemorySegment buf, long offset) throws VhostProtocolException {
        MemRegionPayload r = new MemRegionPayload(Wire.u64(buf, offset), Wire.u64(buf, offset + 8),
                Wire.u64(buf, offset + 16), Wire.u64(buf, offset + 24));
        r.validate(what);
        return r;
    }

    /** @throws VhostProtocolException for a zero size or an end address past 2^64 */
    public void validate(String what) throws VhostProtocolException {
        if (size == 0) {
            throw new VhostProtocolException(what + ": memory region at guest 0x" + Long.toHexString(guestAddr) + " has size 0");
        }
        checkEnd(what, "guest address", guestAddr);
        checkEnd(what, "user address", userAddr);
        checkEnd(what, "mmap offset", mmapOffset);
    }

    private void checkEnd(String what, String field, long start) throws VhostProtocolException {
        try {
            Math.addExact(start, size);
        } catch (ArithmeticException e) {
            throw new VhostProtocolException(String.format("%s: memory region %s 0x%x + size 0x%x overflows",
                    what, field, start, size));
        }
        if (size < 0 || start < 0) {
            throw new VhostProtocolException(String.format("%s: memory region %s 0x%x or size 0x%x beyond 2^63",
                    what, field, start, size));
        }
    }
}
