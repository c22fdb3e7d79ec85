package com.vhost.user.message;

import com.vhost.api.VhostProtocolException;
import com.vhost.api.VringAddr;
import java.lang.foreign.MemorySegment;

/**
 * SET_VRING_ADDR payload, {@code struct vhost_vring_addr} (40 bytes): {@code u32 index; u32 flags;
 * u64 desc_user_addr; u64 used_user_addr; u64 avail_user_addr; u64 log_guest_addr}. The ring
 * addresses are front-end virtual addresses. Alignment (VIRTIO 1.2, 2.7): descriptor table 16
 * bytes, used ring 4, available ring 2. Flags: only bit 0 ({@link VringAddr#F_LOG}) is defined.
 */
public final class VringAddrPayload {
    private VringAddrPayload() {}

    /** Payload size in bytes. */
    public static final int SIZE = 40;
    /** Flag bits that are defined; the rest are rejected. */
    public static final int VALID_FLAGS = VringAddr.F_LOG;

    /**
     * Writes {@code addr} after validating it like {@link #decode}.
     *
     * @return the payload size
     * @throws VhostProtocolException for a misaligned ring or unknown flags
     */
    public static int encode(VringAddr addr, MemorySegment buf, long offset) throws VhostProtocolException {
        validate(addr);
        Wire.putU32(buf, offset, addr.index());
        Wire.putU32(buf, offset + 4, addr.flags());
        Wire.putU64(buf, offset + 8, addr.descUserAddr());
        Wire.putU64(buf, offset + 16, addr.usedUserAddr());
        Wire.putU64(buf, offset + 24, addr.availUserAddr());
        Wire.putU64(buf, offset + 32, addr.logGuestAddr());
        return SIZE;
    }

    /**
     * @throws VhostProtocolException when {@code size} is not 40, a ring is misaligned or an
     *     unknown flag bit is set
     */
    public static VringAddr decode(MemorySegment buf, long offset, int size) throws VhostProtocolException {
        Wire.expectSize("SET_VRING_ADDR", size, SIZE);
        VringAddr addr = new VringAddr(Wire.u32(buf, offset), Wire.u32(buf, offset + 4),
                Wire.u64(buf, offset + 8), Wire.u64(buf, offset + 16), Wire.u64(buf, offset + 24),
                Wire.u64(buf, offset + 32));
        validate(addr);
        return addr;
    }

    /** @throws VhostProtocolException for a misaligned ring or unknown flag bits */
    public static void validate(VringAddr a) throws VhostProtocolException {
        if ((a.flags() & ~VALID_FLAGS) != 0) {
            throw new VhostProtocolException(String.format("SET_VRING_ADDR for queue %d: unknown flags 0x%x",
                    Integer.toUnsignedLong(a.index()), a.flags()));
        }
        if ((a.descUserAddr() & 15) != 0) {
            throw new VhostProtocolException(String.format(
                    "SET_VRING_ADDR for queue %d: descriptor table 0x%x not 16-byte aligned", Integer.toUnsignedLong(a.index()), a.descUserAddr()));
        }
        if ((a.usedUserAddr() & 3) != 0) {
            throw new VhostProtocolException(String.format(
                    "SET_VRING_ADDR for queue %d: used ring 0x%x not 4-byte aligned", Integer.toUnsignedLong(a.index()), a.usedUserAddr()));
        }
        if ((a.availUserAddr() & 1) != 0) {
            throw new VhostProtocolException(String.format(
                    "SET_VRING_ADDR for queue %d: available ring 0x%x not 2-byte aligned", Integer.toUnsignedLong(a.index()), a.availUserAddr()));
        }
    }
}
