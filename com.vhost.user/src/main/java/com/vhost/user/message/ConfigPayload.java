package com.vhost.user.message;

import com.vhost.api.VhostProtocolException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * GET_CONFIG / SET_CONFIG payload and GET_CONFIG reply: {@code u32 offset; u32 size; u32 flags;
 * u8 payload[size]}. Offsets and sizes are bytes within the device config space, which vhost-user
 * bounds at {@link #MAX_CONFIG_SIZE} bytes. Flags: bit 0 {@link #FLAG_WRITABLE}, bit 1
 * {@link #FLAG_LIVE_MIGRATION}; other bits rejected.
 *
 * @param offset byte offset into config space
 * @param flags flag bits
 * @param data the bytes ({@code size} = {@code data.length})
 */
public record ConfigPayload(int offset, int flags, byte[] data) {
    /** Largest config space in bytes ({@code VHOST_USER_MAX_CONFIG_SIZE}). */
    public static final int MAX_CONFIG_SIZE = 256;
    /** Size of the fixed part before the data. */
    public static final int HEADER_SIZE = 12;
    /** The config field is writable (rust-vmm {@code VhostUserConfigFlags::WRITABLE}). */
    public static final int FLAG_WRITABLE = 0x1;
    /** The write is part of a live migration ({@code VHOST_SET_CONFIG_TYPE_MIGRATION}). */
    public static final int FLAG_LIVE_MIGRATION = 0x2;
    /** Defined flag bits. */
    public static final int VALID_FLAGS = FLAG_WRITABLE | FLAG_LIVE_MIGRATION;

    public ConfigPayload {
        data = data.clone();
    }

    @Override
    public byte[] data() {
        return data.clone();
    }

    /** @return the number of data bytes */
    public int size() {
        return data.length;
    }

    /** @return the payload size */
    public int encode(MemorySegment buf, long off) throws VhostProtocolException {
        check("config message", offset, data.length, flags);
        Wire.putU32(buf, off, offset);
        Wire.putU32(buf, off + 4, data.length);
        Wire.putU32(buf, off + 8, flags);
        MemorySegment.copy(data, 0, buf, ValueLayout.JAVA_BYTE, off + HEADER_SIZE, data.length);
        return HEADER_SIZE + data.length;
    }

    /**
     * @param what request name for messages ("GET_CONFIG")
     * @throws VhostProtocolException when the message is shorter than 12 bytes, {@code size}
     *     exceeds 256 bytes, {@code offset + size} exceeds 256, the payload length is not
     *     {@code 12 + size}, or an unknown flag is set
     */
    public static ConfigPayload decode(String what, MemorySegment buf, long off, int msgSize) throws VhostProtocolException {
        if (msgSize < HEADER_SIZE) {
            throw new VhostProtocolException(what + ": payload size " + msgSize + " bytes is shorter than the 12-byte config header");
        }
        int offset = Wire.u32(buf, off);
        int size = Wire.u32(buf, off + 4);
        int flags = Wire.u32(buf, off + 8);
        check(what, offset, size, flags);
        Wire.expectSize(what + " with " + size + " config bytes", msgSize, HEADER_SIZE + size);
        byte[] data = new byte[size];
        MemorySegment.copy(buf, ValueLayout.JAVA_BYTE, off + HEADER_SIZE, data, 0, size);
        return new ConfigPayload(offset, flags, data);
    }

    private static void check(String what, int offset, int size, int flags) throws VhostProtocolException {
        if (Integer.compareUnsigned(size, MAX_CONFIG_SIZE) > 0) {
            throw new VhostProtocolException(what + ": config size " + Integer.toUnsignedString(size) + " exceeds " + MAX_CONFIG_SIZE + " (VHOST_USER_MAX_CONFIG_SIZE)");
        }
        if (Integer.compareUnsigned(offset, MAX_CONFIG_SIZE) > 0 || offset + size > MAX_CONFIG_SIZE) {
            throw new VhostProtocolException(what + ": config offset " + Integer.toUnsignedString(offset) + " + size " + size
                    + " exceeds " + MAX_CONFIG_SIZE + " (VHOST_USER_MAX_CONFIG_SIZE)");
        }
        if ((flags & ~VALID_FLAGS) != 0) {
            throw new VhostProtocolException(what + ": unknown config flags 0x" + Integer.toHexString(flags));
        }
    }
}
