package com.vhost.spi.vhost;

import com.vhost.api.VhostDisconnectedException;
import com.vhost.api.VhostException;
import com.vhost.api.VhostFeatureException;
import com.vhost.api.VhostNativeException;
import com.vhost.api.VhostProtocolException;
import com.vhost.api.VhostRefusedException;
import com.vhost.api.VhostTimeoutException;
import com.vhost.api.VirtioDeviceException;
import com.vhost.api.VirtqueueException;
import com.vhost.spi.nativeio.Linux;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Signals eventfds, and runs one backend request for {@link GenericVhostDevice} and its {@link TransportHooks}, and
 * rethrows a failure as the same {@link VhostException} subtype with the request and queue in
 * front of its message ("SET_VRING_ADDR for queue 1: ...").
 */
final class RequestContext {
    /** The 8-byte counter value 1 written to an eventfd to signal it. */
    private static final MemorySegment ONE = one();

    private RequestContext() {}

    private static MemorySegment one() {
        MemorySegment s = Arena.global().allocate(ValueLayout.JAVA_LONG);
        s.set(ValueLayout.JAVA_LONG, 0, 1L);
        return s;
    }

    /** Signals eventfd {@code fd} (adds 1 to its counter). */
    static void signal(int fd) throws VhostException {
        Linux.write(fd, ONE, 8);
    }

    /** Kicks the driver's own eventfd {@code fd}; a failure only loses the catch-up kick. */
    static void kick(int fd) {
        try {
            signal(fd);
        } catch (VhostException e) {
            // the driver's own eventfd: a failure here only loses the catch-up kick
        }
    }

    @FunctionalInterface
    interface Op {
        void run() throws VhostException;
    }

    @FunctionalInterface
    interface LongOp {
        long run() throws VhostException;
    }

    @FunctionalInterface
    interface ObjOp {
        Object run() throws VhostException;
    }

    static void call(String request, int queue, Op op) throws VhostException {
        try {
            op.run();
        } catch (VhostException e) {
            throw withContext(context(request, queue), e);
        }
    }

    static long callLong(String request, int queue, LongOp op) throws VhostException {
        try {
            return op.run();
        } catch (VhostException e) {
            throw withContext(context(request, queue), e);
        }
    }

    static Object callObj(String request, int queue, ObjOp op) throws VhostException {
        try {
            return op.run();
        } catch (VhostException e) {
            throw withContext(context(request, queue), e);
        }
    }

    private static String context(String request, int queue) {
        return queue >= 0 ? request + " for queue " + queue : request;
    }

    /**
     * Rebuilds {@code e} as the same subtype with {@code context} in front of its message; the
     * original is attached as a suppressed exception (the hierarchy's constructors fix the cause).
     */
    static VhostException withContext(String context, VhostException e) {
        String msg = e.getMessage() == null ? "" : e.getMessage();
        int sp = context.indexOf(' ');
        String request = sp < 0 ? context : context.substring(0, sp);
        int q = context.indexOf(" for queue ");
        String queue = q < 0 ? null : context.substring(q + " for ".length());
        if (msg.startsWith(context) || (msg.startsWith(request + " ") && (queue == null || msg.contains(queue)))) {
            return e; // the transport already named the request and queue
        }
        VhostException w = switch (e) {
            case VhostProtocolException p -> new VhostProtocolException(context + ": " + msg, p.getCause());
            case VhostNativeException n -> new VhostNativeException(context + ": " + n.call(), n.errno(), nativeDetail(n));
            case VhostDisconnectedException d -> new VhostDisconnectedException(context + ": " + msg);
            case VhostFeatureException f -> new VhostFeatureException(context + ": " + msg);
            case VhostRefusedException r -> new VhostRefusedException(r.request(), r.code(), context + (msg.isEmpty() ? "" : " (" + msg + ")"));
            case VhostTimeoutException t -> new VhostTimeoutException(context + ": " + msg);
            case VirtqueueException v -> new VirtqueueException(-1, context + ": "
                    + (v.queueIndex() >= 0 && msg.startsWith("queue " + v.queueIndex() + ": ") ? msg.substring(("queue " + v.queueIndex() + ": ").length()) : msg));
            case VirtioDeviceException v -> new VirtioDeviceException(context + ": " + msg, v.getCause());
        };
        w.addSuppressed(e);
        return w;
    }

    private static String nativeDetail(VhostNativeException n) {
        String msg = n.getMessage();
        String prefix = n.call() + " failed: ";
        String suffix = n.errno() != 0 ? " (errno " + n.errno() + ")" : "";
        if (msg.startsWith(prefix)) {
            msg = msg.substring(prefix.length());
        }
        if (!suffix.isEmpty() && msg.endsWith(suffix)) {
            msg = msg.substring(0, msg.length() - suffix.length());
        }
        return msg;
    }
}
