package com.vhost.user.message;

import com.vhost.api.VhostProtocolException;
import java.lang.foreign.MemorySegment;

/**
 * GET_INFLIGHT_FD / SET_INFLIGHT_FD payload ({@code struct VhostUserInflight}, 24 bytes with its
 * trailing C padding): {@code u64 mmap_size; u64 mmap_offset; u16 num_queues; u16 queue_size;
 * u32 padding}. The region's fd rides beside it.
 *
 * @param mmapSize size in bytes of the inflight region
 * @param mmapOffset offset in bytes into the fd
 * @param numQueues number of queues (0..65535)
 * @param queueSize entries per queue (0..65535)
 */
public record InflightPayload(long mmapSize, long mmapOffset, int numQueues, int queueSize) {
    /** Payload size in bytes. */
    public static final int SIZE = 24;

    public InflightPayload {
        if (numQueues < 0 || numQueues > 0xFFFF || queueSize < 0 || queueSize > 0xFFFF) {
            throw new IllegalArgumentException("inflight num_queues " + numQueues + " / queue_size " + queueSize + " not 16-bit");
        }
    }

    /** @return the payload size */
    public int encode(MemorySegment buf, long off) {
        Wire.putU64(buf, off, mmapSize);
        Wire.putU64(buf, off + 8, mmapOffset);
        Wire.putU16(buf, off + 16, numQueues);
        Wire.putU16(buf, off + 18, queueSize);
        Wire.putU32(buf, off + 20, 0);
        return SIZE;
    }

    /** @throws VhostProtocolException for a wrong size or an overflowing offset + size */
    public static InflightPayload decode(String what, MemorySegment buf, long off, int size) throws VhostProtocolException {
        Wire.expectSize(what, size, SIZE);
        long mmapSize = Wire.u64(buf, off);
        long mmapOffset = Wire.u64(buf, off + 8);
        try {
            Math.addExact(mmapOffset, mmapSize);
        } catch (ArithmeticException e) {
            throw new VhostProtocolException(String.format("%s: inflight mmap_offset 0x%x + mmap_size 0x%x overflows",
                    what, mmapOffset, mmapSize));
        }
        return new InflightPayload(mmapSize, mmapOffset, Wire.u16(buf, off + 16), Wire.u16(buf, off + 18));
    }
}
