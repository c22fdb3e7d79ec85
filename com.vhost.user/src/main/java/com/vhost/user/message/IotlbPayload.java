package com.vhost.user.message;

import com.vhost.api.IotlbMessage;
import com.vhost.api.VhostProtocolException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * IOTLB_MSG payload, {@code struct vhost_iotlb_msg} (32 bytes with C padding): {@code u64 iova;
 * u64 size; u64 uaddr; u8 perm; u8 type; u8 padding[6]}. Perm 1..3, type 1..6.
 */
public final class IotlbPayload {
    private IotlbPayload() {}

    /** Payload size in bytes. */
    public static final int SIZE = 32;

    /** @return the payload size */
    public static int encode(IotlbMessage m, MemorySegment buf, long off) throws VhostProtocolException {
        check(m.perm(), m.type());
        Wire.putU64(buf, off, m.iova());
        Wire.putU64(buf, off + 8, m.size());
        Wire.putU64(buf, off + 16, m.uaddr());
        buf.set(ValueLayout.JAVA_BYTE, off + 24, (byte) m.perm());
        buf.set(ValueLayout.JAVA_BYTE, off + 25, (byte) m.type());
        buf.asSlice(off + 26, 6).fill((byte) 0);
        return SIZE;
    }

    /** @throws VhostProtocolException for a wrong size, unknown perm or unknown type */
    public static IotlbMessage decode(MemorySegment buf, long off, int size) throws VhostProtocolException {
        Wire.expectSize("IOTLB_MSG", size, SIZE);
        int perm = Byte.toUnsignedInt(buf.get(ValueLayout.JAVA_BYTE, off + 24));
        int type = Byte.toUnsignedInt(buf.get(ValueLayout.JAVA_BYTE, off + 25));
        check(perm, type);
        return new IotlbMessage(Wire.u64(buf, off), Wire.u64(buf, off + 8), Wire.u64(buf, off + 16), perm, type);
    }

    private static void check(int perm, int type) throws VhostProtocolException {
        if (perm < 0 || perm > IotlbMessage.PERM_RW) {
            throw new VhostProtocolException("IOTLB_MSG: unknown perm " + perm);
        }
        if (type < IotlbMessage.MISS || type > IotlbMessage.BATCH_END) {
            throw new VhostProtocolException("IOTLB_MSG: unknown type " + type);
        }
    }
}
