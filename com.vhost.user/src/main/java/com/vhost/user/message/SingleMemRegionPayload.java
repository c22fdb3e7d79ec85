package com.vhost.user.message;

import com.vhost.api.VhostProtocolException;
import java.lang.foreign.MemorySegment;

/**
 * ADD_MEM_REG / REM_MEM_REG payload (40 bytes): {@code u64 padding (0);} then one region
 * descriptor. ADD_MEM_REG carries the region's fd.
 *
 * @param region the region
 */
public record SingleMemRegionPayload(MemRegionPayload region) {
    /** Payload size in bytes. */
    public static final int SIZE = 8 + MemRegionPayload.SIZE;

    /** @return the payload size */
    public int encode(MemorySegment buf, long offset) throws VhostProtocolException {
        region.validate("memory region message");
        Wire.putU64(buf, offset, 0);
        region.encode(buf, offset + 8);
        return SIZE;
    }

    /** @throws VhostProtocolException for a wrong size, non-zero padding or an invalid region */
    public static SingleMemRegionPayload decode(String what, MemorySegment buf, long offset, int size) throws VhostProtocolException {
        Wire.expectSize(what, size, SIZE);
        long padding = Wire.u64(buf, offset);
        if (padding != 0) {
            throw new VhostProtocolException(what + ": padding is 0x" + Long.toHexString(padding) + ", must be 0");
        }
        return new SingleMemRegionPayload(MemRegionPayload.decodeAt(what, buf, offset + 8));
    }
}
