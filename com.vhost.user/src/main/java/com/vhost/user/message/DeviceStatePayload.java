package com.vhost.user.message;

import com.vhost.api.VhostProtocolException;
import java.lang.foreign.MemorySegment;

/**
 * SET_DEVICE_STATE_FD payload (8 bytes): {@code u32 direction} ({@link #SAVE} 0, {@link #LOAD} 1);
 * {@code u32 phase} ({@link #PHASE_STOPPED} 0, the only phase defined). A pipe fd rides beside it.
 * The reply is a {@code u64}: bits 0-7 an error code, bit 8 {@link #REPLY_NO_FD}; when bit 8 is
 * clear the back-end attaches its own fd.
 *
 * @param direction transfer direction
 * @param phase migration phase
 */
public record DeviceStatePayload(int direction, int phase) {
    /** Payload size in bytes. */
    public static final int SIZE = 8;
    /** The back-end writes its state into the fd. */
    public static final int SAVE = 0;
    /** The back-end reads its state from the fd. */
    public static final int LOAD = 1;
    /** The device is stopped. */
    public static final int PHASE_STOPPED = 0;
    /** Reply bit: no fd is returned; use the front-end's. */
    public static final long REPLY_NO_FD = 0x100;
    /** Reply bits 0-7: error code. */
    public static final long REPLY_ERROR_MASK = 0xFF;

    /** @return the payload size */
    public int encode(MemorySegment buf, long off) throws VhostProtocolException {
        check(direction, phase);
        Wire.putU32(buf, off, direction);
        Wire.putU32(buf, off + 4, phase);
        return SIZE;
    }

    /** @throws VhostProtocolException for a wrong size, unknown direction or unknown phase */
    public static DeviceStatePayload decode(MemorySegment buf, long off, int size) throws VhostProtocolException {
        Wire.expectSize("SET_DEVICE_STATE_FD", size, SIZE);
        int direction = Wire.u32(buf, off);
        int phase = Wire.u32(buf, off + 4);
        check(direction, phase);
        return new DeviceStatePayload(direction, phase);
    }

    private static void check(int direction, int phase) throws VhostProtocolException {
        if (direction != SAVE && direction != LOAD) {
            throw new VhostProtocolException("SET_DEVICE_STATE_FD: unknown direction " + Integer.toUnsignedString(direction));
        }
        if (phase != PHASE_STOPPED) {
            throw new VhostProtocolException("SET_DEVICE_STATE_FD: unknown phase " + Integer.toUnsignedString(phase));
        }
    }
}
