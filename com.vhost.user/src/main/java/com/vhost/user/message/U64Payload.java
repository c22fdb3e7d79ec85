package com.vhost.user.message;

import com.vhost.api.VhostProtocolException;
import java.lang.foreign.MemorySegment;

/**
 * A {@code u64} payload: features, protocol features, GET_QUEUE_NUM and GET_MAX_MEM_SLOTS
 * replies, status, REPLY_ACK acks (0 = success).
 *
 * @param value the 64-bit value
 */
public record U64Payload(long value) {
    /** Payload size in bytes. */
    public static final int SIZE = 8;

    /** Writes the payload at {@code offset}. @return its size in bytes */
    public int encode(MemorySegment buf, long offset) {
        Wire.putU64(buf, offset, value);
        return SIZE;
    }

    /** @throws VhostProtocolException when {@code size} is not 8 */
    public static U64Payload decode(String what, MemorySegment buf, long offset, int size) throws VhostProtocolException {
        Wire.expectSize(what, size, SIZE);
        return new U64Payload(Wire.u64(buf, offset));
    }
}
