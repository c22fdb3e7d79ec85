package com.vhost.user.backend;

import com.vhost.api.VhostException;
import com.vhost.api.VirtioDeviceException;
import com.vhost.api.virtio.VirtioDevice;
import com.vhost.spi.nativeio.OwnedFd;
import com.vhost.user.backend.session.BackendHandler;
import com.vhost.user.backend.session.RequestDispatcher;
import com.vhost.user.connection.VhostUserConnection;
import com.vhost.user.message.FrontendRequest;
import com.vhost.user.message.MessageHeader;
import java.lang.foreign.MemorySegment;
import com.vhost.spi.nativeio.Scheduling;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executor;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The back-end side of one front-end connection, as a loop over three layers: the
 * {@link VhostUserConnection} frames each message and its fds, the {@link RequestDispatcher}
 * decodes, validates and answers it, and the {@link BackendHandler} keeps the memory, the rings and
 * the device model in line with it (QEMU {@code docs/interop/vhost-user.rst}; rust-vmm
 * {@code backend_req_handler.rs} over {@code vhost-user-backend}'s {@code handler.rs}).
 *
 * <p>Failure policy ({@link RequestDispatcher}): a malformed message ends the session; a refused
 * request is answered with a non-zero ack when the front-end asked for one, and otherwise ends it.
 *
 * <p>Faults (issue #10): {@link #serve()} is the boundary for whatever else handling a message
 * throws, above all the {@link InternalError} the JVM raises for SIGBUS when guest memory was
 * truncated under its mapping and a ring is touched, but also an {@link IndexOutOfBoundsException}
 * or any other {@link RuntimeException} or {@link Error} of a handler or the model. The device is
 * marked DEVICE_NEEDS_RESET (the model's needs-reset path, logged), and the session ends with a
 * {@link VirtioDeviceException} naming the request: {@link #close()} then resets the model,
 * unmaps the memory and closes every fd, and the server accepts the next front-end. A fault is
 * never answered as if the request had succeeded.
 *
 * <p>Scheduling: the session's thread serves under {@code SCHED_FIFO} where permitted, within a
 * CPU budget ({@link Scheduling.Budget}), so a swap's requests are handled as soon as they arrive
 * on a machine whose CPUs the data path keeps busy. An {@link OutOfMemoryError} is not the
 * front-end's message's fault and is not converted: it passes through (the server's accept loop
 * still closes the session and goes on).
 */
final class BackendSession {
    private static final Logger LOG = LoggerFactory.getLogger(BackendSession.class);
    /** Memory slots offered with CONFIGURE_MEM_SLOTS. */
    static final int MAX_MEM_SLOTS = BackendHandler.MAX_MEM_SLOTS;
    /** Protocol features this back-end implements. */
    static final long PROTOCOL_FEATURES = BackendHandler.PROTOCOL_FEATURES;
    /** How long closing waits for a model handover under way, in seconds. */
    private static final long CLOSE_GATE_WAIT_S = 60;

    private final VhostUserConnection conn;
    private final BackendHandler handler;
    private final RequestDispatcher dispatcher;
    private final List<OwnedFd> rxFds = new ArrayList<>(VhostUserConnection.MAX_FDS);
    /** The connection's receive payload buffer; each receive refills it. */
    private final MemorySegment payload;
    /** Held while a message is handled; a model handover holds it to keep the session still. */
    private final Semaphore gate;
    /**
     * The session thread runs under SCHED_FIFO while it serves ({@link Scheduling}): in a
     * hot-swap's pause each request is a wake-up of it. A front-end that keeps it busy for more
     * than {@value #BUDGET_MS} ms of CPU in {@value #WINDOW_MS} ms loses that until it is quieter.
     */
    private final Scheduling.Budget budget;
    static final long WINDOW_MS = 1000;
    static final long BUDGET_MS = 200;

    /** A session with a gate of its own (no server to hand its model over). */
    BackendSession(String name, VirtioDevice model, VhostUserConnection conn, int messageTimeoutMs, Executor transfers) {
        this(name, model, conn, messageTimeoutMs, transfers, new Semaphore(1));
    }

    /**
     * @param name for log messages
     * @param model the device served
     * @param conn the accepted connection, owned by the session from here on
     * @param messageTimeoutMs longest wait for the rest of a message once its first byte arrived
     * @param transfers runs device state transfers (SET_DEVICE_STATE_FD); the server's pool
     * @param gate the server's gate: one permit, taken for each message handled and for the close
     */
    BackendSession(String name, VirtioDevice model, VhostUserConnection conn, int messageTimeoutMs, Executor transfers,
            Semaphore gate) {
        this.conn = conn;
        this.gate = gate;
        this.handler = new BackendHandler(name, model, transfers);
        this.dispatcher = RequestDispatcher.on(name, handler, conn);
        this.payload = conn.receivePayload();
        this.budget = new Scheduling.Budget(name, WINDOW_MS, BUDGET_MS, java.util.concurrent.TimeUnit.MILLISECONDS);
        conn.setTimeouts(0, messageTimeoutMs);
    }

    /**
     * Serves requests until the front-end disconnects or breaks the protocol.
     *
     * @throws VhostException why the session ended (disconnect, malformed message, refusal), a
     *     {@link VirtioDeviceException} when handling a message faulted (the device was marked
     *     DEVICE_NEEDS_RESET)
     */
    void serve() throws VhostException {
        budget.start();
        try {
            serveRequests();
        } finally {
            budget.stop();
        }
    }

    private void serveRequests() throws VhostException {
        while (true) {
            closeRxFds();
            MessageHeader h = conn.receive(rxFds);
            budget.check();
            gate.acquireUninterruptibly();
            try {
                dispatcher.dispatch(h, payload, rxFds);
            } catch (OutOfMemoryError e) {
                throw e;
            } catch (RuntimeException | Error e) {
                throw fault(h, e);
            } finally {
                gate.release();
            }
        }
    }

    /** A fault while handling {@code h}: the device needs reset, and the session ends. */
    private VirtioDeviceException fault(MessageHeader h, Throwable e) {
        String what = e instanceof InternalError ? "fault in guest memory (truncated or unmapped under a ring?)" : "failure";
        String reason = what + " while handling " + requestName(h) + ": " + e;
        LOG.error("ending the session: {}", reason, e); // the server logs only the message
        try {
            handler.signalNeedsReset(reason);
        } catch (RuntimeException | Error again) {
            e.addSuppressed(again);
        }
        return new VirtioDeviceException(reason, e);
    }

    private static String requestName(MessageHeader h) {
        try {
            return FrontendRequest.fromCode(h.request()).toString();
        } catch (VhostException | RuntimeException e) {
            return "request " + h.request();
        }
    }

    /**
     * Ends the session: resets an active model, closes every fd and unmaps memory, closes the
     * connection. Never throws but an {@link OutOfMemoryError}: a fault while resetting the model
     * (guest memory gone under it) is logged and the rest is still released.
     */
    void close() {
        boolean held = false;
        try {
            // a model handover under way ends first (bounded by its caller); then the model is reset
            held = gate.tryAcquire(CLOSE_GATE_WAIT_S, TimeUnit.SECONDS);
            if (!held) {
                LOG.warn("a model handover did not end within {} s; the session closes anyway", CLOSE_GATE_WAIT_S);
            }
            handler.close();
        } catch (OutOfMemoryError e) {
            throw e;
        } catch (RuntimeException | Error e) {
            LOG.error("closing the session failed part-way; its connection is closed anyway", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            handler.close();
        } finally {
            if (held) {
                gate.release();
            }
            closeRxFds();
            conn.close();
        }
    }

    /** @return the handler, for a model handover run while its caller holds the gate */
    BackendHandler handler() {
        return handler;
    }

    /** Marks the device DEVICE_NEEDS_RESET and ends the session (its connection is shut down). */
    void abandon(String reason) {
        try {
            handler.signalNeedsReset(reason);
        } finally {
            conn.shutdown();
        }
    }

    private void closeRxFds() {
        for (OwnedFd fd : rxFds) {
            fd.close();
        }
        rxFds.clear();
    }
}
