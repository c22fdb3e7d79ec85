package com.vhost.user.message;

import com.vhost.api.VhostProtocolException;
import java.lang.foreign.MemorySegment;

/**
 * SET_LOG_BASE payload with LOG_SHMFD ({@code struct VhostUserLog}, 16 bytes):
 * {@code u64 mmap_size; u64 mmap_offset}; the log's fd rides beside it.
 *
 * @param mmapSize log size in bytes
 * @param mmapOffset offset in bytes into the fd
 */
public record LogPayload(long mmapSize, long mmapOffset) {
    /** Payload size in bytes. */
    public static final int SIZE = 16;

    /** @return the payload size */
    public int encode(MemorySegment buf, long off) {
        Wire.putU64(buf, off, mmapSize);
        Wire.putU64(buf, off + 8, mmapOffset);
        return SIZE;
    }

    /** @throws VhostProtocolException for a wrong size or an overflowing offset + size */
    public static LogPayload decode(MemorySegment buf, long off, int size) throws VhostProtocolException {
        Wire.expectSize("SET_LOG_BASE", size, SIZE);
        long mmapSize = Wire.u64(buf, off);
        long mmapOffset = Wire.u64(buf, off + 8);
        try {
            Math.addExact(mmapOffset, mmapSize);
        } catch (ArithmeticException e) {
            throw new VhostProtocolException(String.format("SET_LOG_BASE: mmap_offset 0x%x + mmap_size 0x%x overflows", mmapOffset, mmapSize));
        }
        return new LogPayload(mmapSize, mmapOffset);
    }
}
