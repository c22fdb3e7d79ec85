package com.vhost.user.backend;

import com.vhost.api.VhostException;
import com.vhost.api.virtio.VirtioDevice;
import com.vhost.spi.nativeio.OwnedFd;
import com.vhost.user.backend.session.BackendHandler;
import com.vhost.user.backend.session.RequestDispatcher;
import com.vhost.user.connection.VhostUserConnection;
import com.vhost.user.message.MessageHeader;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executor;

/**
 * The back-end side of one front-end connection, as a loop over three layers: the
 * {@link VhostUserConnection} frames each message and its fds, the {@link RequestDispatcher}
 * decodes, validates and answers it, and the {@link BackendHandler} keeps the memory, the rings and
 * the device model in line with it (QEMU {@code docs/interop/vhost-user.rst}; rust-vmm
 * {@code backend_req_handler.rs} over {@code vhost-user-backend}'s {@code handler.rs}).
 *
 * <p>Failure policy ({@link RequestDispatcher}): a malformed message ends the session; a refused
 * request is answered with a non-zero ack when the front-end asked for one, and otherwise ends it.
 */
final class BackendSession {
    /** Memory slots offered with CONFIGURE_MEM_SLOTS. */
    static final int MAX_MEM_SLOTS = BackendHandler.MAX_MEM_SLOTS;
    /** Protocol features this back-end implements. */
    static final long PROTOCOL_FEATURES = BackendHandler.PROTOCOL_FEATURES;

    private final VhostUserConnection conn;
    private final BackendHandler handler;
    private final RequestDispatcher dispatcher;
    private final List<OwnedFd> rxFds = new ArrayList<>(VhostUserConnection.MAX_FDS);
    /** The connection's receive payload buffer; each receive refills it. */
    private final MemorySegment payload;

    /**
     * @param name for log messages
     * @param model the device served
     * @param conn the accepted connection, owned by the session from here on
     * @param messageTimeoutMs longest wait for the rest of a message once its first byte arrived
     * @param transfers runs device state transfers (SET_DEVICE_STATE_FD); the server's pool
     */
    BackendSession(String name, VirtioDevice model, VhostUserConnection conn, int messageTimeoutMs, Executor transfers) {
        this.conn = conn;
        this.handler = new BackendHandler(name, model, transfers);
        this.dispatcher = RequestDispatcher.on(name, handler, conn);
        this.payload = conn.receivePayload();
        conn.setTimeouts(0, messageTimeoutMs);
    }

    /**
     * Serves requests until the front-end disconnects or breaks the protocol.
     *
     * @throws VhostException why the session ended (disconnect, malformed message, refusal)
     */
    void serve() throws VhostException {
        while (true) {
            closeRxFds();
            MessageHeader h = conn.receive(rxFds);
            dispatcher.dispatch(h, payload, rxFds);
        }
    }

    /** Ends the session: resets an active model, closes every fd and unmaps memory, closes the connection. */
    void close() {
        handler.close();
        closeRxFds();
        conn.close();
    }

    private void closeRxFds() {
        for (OwnedFd fd : rxFds) {
            fd.close();
        }
        rxFds.clear();
    }
}
