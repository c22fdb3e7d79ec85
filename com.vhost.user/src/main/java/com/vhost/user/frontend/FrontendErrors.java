package com.vhost.user.frontend;

import com.vhost.api.VhostDisconnectedException;
import com.vhost.api.VhostException;
import com.vhost.api.VhostFeatureException;
import com.vhost.api.VhostNativeException;
import com.vhost.api.VhostProtocolException;
import com.vhost.api.VhostRefusedException;
import com.vhost.api.VhostTimeoutException;
import com.vhost.user.connection.VhostUserConnection;
import com.vhost.user.message.FrontendRequest;

/** Message helpers of {@link VhostUserFrontend}'s error context ("SET_VRING_ADDR for queue 1: ..."). */
final class FrontendErrors {
    private FrontendErrors() {}

    /**
     * A request's failure with its context {@code ctx} ("SET_VRING_ADDR for queue 1") in front;
     * a broken stream (protocol error, disconnect, timeout, native error) closes {@code conn},
     * whose messages are then out of step. Feature and refusal errors name their request already.
     *
     * @param e a {@link VhostException}, or an {@link IllegalArgumentException} from encoding (a
     *     protocol error, the connection left open: nothing was sent)
     * @return the exception to throw
     */
    static VhostException inContext(String ctx, Exception e, VhostUserConnection conn) {
        return switch (e) {
            case VhostFeatureException f -> f;
            case VhostRefusedException r -> r;
            case VhostProtocolException p -> {
                conn.close();
                yield new VhostProtocolException(withContext(ctx, p.getMessage()), p);
            }
            case VhostDisconnectedException d -> {
                conn.close();
                yield new VhostDisconnectedException(withContext(ctx, d.getMessage()));
            }
            case VhostTimeoutException t -> {
                conn.close();
                yield new VhostTimeoutException(withContext(ctx, t.getMessage()));
            }
            case VhostNativeException n -> {
                conn.close();
                yield new VhostNativeException(withContext(ctx, n.call()), n.errno(), nativeDetail(n));
            }
            case VhostException v -> v;
            default -> new VhostProtocolException(withContext(ctx, e.getMessage()), e);
        };
    }

    /** @return {@code "ctx: message"}, unless the message already starts with the context */
    /** @return {@code first}, with {@code e} suppressed on it, or {@code e} when there is no first failure yet */
    static VhostException keep(VhostException first, VhostException e) {
        if (first == null) {
            return e;
        }
        first.addSuppressed(e);
        return first;
    }

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
