package com.vhost.user.message;

import com.vhost.api.VhostProtocolException;
import java.lang.foreign.MemorySegment;

/**
 * The 12-byte header of every vhost-user message: {@code u32 request; u32 flags; u32 size}
 * (native endian), followed by {@code size} bytes of payload (QEMU
 * {@code docs/interop/vhost-user.rst}, "Message Specification").
 *
 * <p>{@code flags}: bits 0-1 the protocol version (must be {@value #VERSION}), bit 2
 * {@link #REPLY}, bit 3 {@link #NEED_REPLY}; every other bit is reserved and rejected on decode.
 *
 * @param request the request code (a {@link FrontendRequest} or {@link BackendRequest} code,
 *     depending on the channel)
 * @param flags version and flag bits
 * @param size payload size in bytes, at most {@link #MAX_PAYLOAD_SIZE}
 */
public record MessageHeader(int request, int flags, int size) {
    /** Header size in bytes. */
    public static final int SIZE = 12;
    /** Largest payload accepted or sent, in bytes (rust-vmm {@code MAX_MSG_SIZE}). */
    public static final int MAX_PAYLOAD_SIZE = 0x1000;
    /** The only protocol version (flags bits 0-1). */
    public static final int VERSION = 0x1;
    /** Mask of the version bits. */
    public static final int VERSION_MASK = 0x3;
    /** Set on every reply. */
    public static final int REPLY = 0x4;
    /** The sender wants a {@code u64} ack (only with REPLY_ACK negotiated). */
    public static final int NEED_REPLY = 0x8;
    /** Bits that must be zero. */
    public static final int RESERVED_MASK = ~(VERSION_MASK | REPLY | NEED_REPLY);

    /** @return a request header (version 1, optional NEED_REPLY) */
    public static MessageHeader request(int code, int size, boolean needReply) {
        return new MessageHeader(code, VERSION | (needReply ? NEED_REPLY : 0), size);
    }

    /** @return a reply header (version 1, REPLY) */
    public static MessageHeader reply(int code, int size) {
        return new MessageHeader(code, VERSION | REPLY, size);
    }

    /** @return whether the REPLY bit is set */
    public boolean isReply() {
        return (flags & REPLY) != 0;
    }

    /** @return whether the NEED_REPLY bit is set */
    public boolean needsReply() {
        return (flags & NEED_REPLY) != 0;
    }

    /** Writes the header at {@code offset} bytes into {@code buf}. */
    public void encode(MemorySegment buf, long offset) {
        Wire.putU32(buf, offset, request);
        Wire.putU32(buf, offset + 4, flags);
        Wire.putU32(buf, offset + 8, size);
    }

    /**
     * Reads and validates a header.
     *
     * @throws VhostProtocolException when the version is not 1, a reserved flag bit is set, or
     *     {@code size} exceeds {@link #MAX_PAYLOAD_SIZE}
     */
    public static MessageHeader decode(MemorySegment buf, long offset) throws VhostProtocolException {
        int request = Wire.u32(buf, offset);
        int flags = Wire.u32(buf, offset + 4);
        int size = Wire.u32(buf, offset + 8);
        if ((flags & VERSION_MASK) != VERSION) {
            throw new VhostProtocolException("message header (request " + Integer.toUnsignedString(request)
                    + "): version " + (flags & VERSION_MASK) + ", expected " + VERSION);
        }
        if ((flags & RESERVED_MASK) != 0) {
            throw new VhostProtocolException(String.format(
                    "message header (request %s): reserved flag bits set (flags 0x%x)",
                    Integer.toUnsignedString(request), flags));
        }
        if (Integer.compareUnsigned(size, MAX_PAYLOAD_SIZE) > 0) {
            throw new VhostProtocolException("message header (request " + Integer.toUnsignedString(request)
                    + "): payload size " + Integer.toUnsignedString(size) + " exceeds the maximum " + MAX_PAYLOAD_SIZE
                    + " (MAX_MSG_SIZE)");
        }
        return new MessageHeader(request, flags, size);
    }
}
