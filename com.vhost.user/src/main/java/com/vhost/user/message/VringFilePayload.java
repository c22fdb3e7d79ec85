package com.vhost.user.message;

import com.vhost.api.VhostProtocolException;
import java.lang.foreign.MemorySegment;

/**
 * SET_VRING_KICK / SET_VRING_CALL / SET_VRING_ERR payload: a {@code u64} whose bits 0-7 are the
 * queue index and bit 8 ({@link #NOFD_MASK}) says no fd is attached (the back-end polls, or
 * notifications are off). Every other bit is reserved and rejected.
 *
 * @param index queue index 0..255
 * @param noFd whether bit 8 is set
 */
public record VringFilePayload(int index, boolean noFd) {
    /** Payload size in bytes. */
    public static final int SIZE = 8;
    /** Bits 0-7: the queue index. */
    public static final long INDEX_MASK = 0xFF;
    /** Bit 8: no fd attached. */
    public static final long NOFD_MASK = 0x100;

    public VringFilePayload {
        if (index < 0 || index > 0xFF) {
            throw new IllegalArgumentException("vring file index " + index + " outside 0..255");
        }
    }

    /** @return the payload size */
    public int encode(MemorySegment buf, long off) {
        Wire.putU64(buf, off, index | (noFd ? NOFD_MASK : 0));
        return SIZE;
    }

    /** @throws VhostProtocolException for a wrong size or reserved bits set */
    public static VringFilePayload decode(String what, MemorySegment buf, long off, int size) throws VhostProtocolException {
        Wire.expectSize(what, size, SIZE);
        long v = Wire.u64(buf, off);
        if ((v & ~(INDEX_MASK | NOFD_MASK)) != 0) {
            throw new VhostProtocolException(String.format("%s: reserved bits set in vring file value 0x%x", what, v));
        }
        return new VringFilePayload((int) (v & INDEX_MASK), (v & NOFD_MASK) != 0);
    }
}
