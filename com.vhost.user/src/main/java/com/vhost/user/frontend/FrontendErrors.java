package com.vhost.user.frontend;

import com.vhost.api.VhostNativeException;
import com.vhost.api.VhostProtocolException;
import com.vhost.user.message.FrontendRequest;

/** Message helpers of {@link VhostUserFrontend}'s error context ("SET_VRING_ADDR for queue 1: ..."). */
final class FrontendErrors {
    private FrontendErrors() {}

    /** @return {@code "ctx: message"}, unless the message already starts with the context */
    static String withContext(String ctx, String message) {
        return message != null && message.startsWith(ctx) ? message : ctx + ": " + message;
    }

    /** @return the errno detail of {@code e} without its call prefix and errno suffix */
    static String nativeDetail(VhostNativeException e) {
        String m = e.getMessage();
        String prefix = e.call() + " failed: ";
        String d = m.startsWith(prefix) ? m.substring(prefix.length()) : m;
        String suffix = " (errno " + e.errno() + ")";
        return e.errno() != 0 && d.endsWith(suffix) ? d.substring(0, d.length() - suffix.length()) : d;
    }

    /** @return {@code v} as an int, or a protocol error naming {@code req} when it is out of range */
    static int toInt(FrontendRequest req, long v) throws VhostProtocolException {
        if (v < 0 || v > Integer.MAX_VALUE) {
            throw new VhostProtocolException(req.name() + " reply " + Long.toUnsignedString(v) + " is out of range");
        }
        return (int) v;
    }
}
