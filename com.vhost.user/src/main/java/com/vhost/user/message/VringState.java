package com.vhost.user.message;

import com.vhost.api.VhostProtocolException;
import java.lang.foreign.MemorySegment;

/**
 * {@code struct vhost_vring_state}: {@code u32 index; u32 num} (8 bytes). Used by
 * SET_VRING_NUM, SET_VRING_BASE, GET_VRING_BASE (request and reply) and SET_VRING_ENABLE.
 *
 * @param index queue index
 * @param num descriptor count, ring base (next avail index) or enable flag, by request
 */
public record VringState(int index, int num) {
    /** Payload size in bytes. */
    public static final int SIZE = 8;

    /** @return the payload size */
    public int encode(MemorySegment buf, long offset) {
        Wire.putU32(buf, offset, index);
        Wire.putU32(buf, offset + 4, num);
        return SIZE;
    }

    /** @throws VhostProtocolException when {@code size} is not 8 */
    public static VringState decode(String what, MemorySegment buf, long offset, int size) throws VhostProtocolException {
        Wire.expectSize(what, size, SIZE);
        return new VringState(Wire.u32(buf, offset), Wire.u32(buf, offset + 4));
    }
}
