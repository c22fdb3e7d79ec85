package com.vhost.user.message;

import com.vhost.api.VhostProtocolException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Native-endian field access for vhost-user messages (the protocol uses the host's byte order).
 * Every accessor takes a segment and a byte offset; bounds are checked by the segment.
 */
public final class Wire {
    private Wire() {}

    /** {@code u16} in native byte order, no alignment requirement. */
    public static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED;
    /** {@code u32} in native byte order, no alignment requirement. */
    public static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED;
    /** {@code u64} in native byte order, no alignment requirement. */
    public static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED;

    static int u16(MemorySegment s, long off) {
        return Short.toUnsignedInt(s.get(U16, off));
    }

    static int u32(MemorySegment s, long off) {
        return s.get(U32, off);
    }

    static long u64(MemorySegment s, long off) {
        return s.get(U64, off);
    }

    static void putU16(MemorySegment s, long off, int v) {
        s.set(U16, off, (short) v);
    }

    static void putU32(MemorySegment s, long off, int v) {
        s.set(U32, off, v);
    }

    static void putU64(MemorySegment s, long off, long v) {
        s.set(U64, off, v);
    }

    /**
     * @throws VhostProtocolException naming {@code what} when {@code actual != expected}
     */
    static void expectSize(String what, int actual, int expected) throws VhostProtocolException {
        if (actual != expected) {
            throw new VhostProtocolException(what + ": payload size " + Integer.toUnsignedString(actual)
                    + " bytes, expected " + expected);
        }
    }
}
