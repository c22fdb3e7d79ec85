package com.vhost.user.frontend;

import com.vhost.api.VhostDisconnectedException;
import com.vhost.api.VhostException;
import com.vhost.spi.nativeio.Linux;
import com.vhost.spi.nativeio.OwnedFd;
import com.vhost.spi.nativeio.UnixSocket;
import com.vhost.user.connection.VhostUserConnection;
import com.vhost.user.message.BackendRequest;
import com.vhost.user.message.MessageHeader;
import com.vhost.user.message.U64Payload;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The front-end's end of the backend request channel (vhost-user spec, "Back-end communication";
 * QEMU {@code SET_BACKEND_REQ_FD}): a socketpair whose other end is handed to the back-end. A
 * daemon thread serves the back-end's requests: {@code CONFIG_CHANGE_MSG} runs the front-end's
 * config change listener and is acked with 0; every other request is refused with a non-zero
 * ack and logged, since this front-end has no IOTLB, host notifiers or shared objects to offer.
 * A malformed message ends the channel (logged); the main connection is unaffected.
 */
final class BackendRequestChannel implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(BackendRequestChannel.class);
    /** Ack value for a request this front-end does not serve. */
    static final long UNSUPPORTED = 1;

    private final VhostUserFrontend frontend;
    private final VhostUserConnection conn;
    private final String name;
    private UnixSocket peer;
    private final Thread thread;
    private volatile boolean closing;

    private BackendRequestChannel(VhostUserFrontend frontend, UnixSocket mine, UnixSocket peer, String name) {
        this.frontend = frontend;
        this.name = name;
        this.conn = new VhostUserConnection(mine, name);
        this.peer = peer;
        conn.setTimeouts(0, 1000);
        this.thread = Thread.ofPlatform().daemon().name("vhost-user-backend-req " + name).unstarted(this::serve);
    }

    static BackendRequestChannel open(VhostUserFrontend frontend, String description) throws VhostException {
        UnixSocket[] pair = UnixSocket.pair();
        BackendRequestChannel ch = new BackendRequestChannel(frontend, pair[0], pair[1], description + " (backend requests)");
        ch.thread.start();
        return ch;
    }

    /** @return the fd to send with SET_BACKEND_REQ_FD */
    int peerFd() {
        return peer.fd();
    }

    /**
     * Closes our copy of the back-end's end once it was sent. A plain close(2): UnixSocket.close()
     * would shutdown(2) the socket itself, cutting the back-end's copy off as well.
     */
    void closePeerFd() {
        UnixSocket p = peer;
        peer = null;
        if (p != null) {
            Linux.closeQuietly(p.fd());
        }
    }

    private void serve() {
        List<OwnedFd> fds = new ArrayList<>(VhostUserConnection.MAX_FDS);
        try {
            while (!closing) {
                MessageHeader h = conn.receive(fds);
                int n = fds.size();
                fds.forEach(OwnedFd::close);
                fds.clear();
                BackendRequest req = BackendRequest.fromCode(h.request());
                long status;
                if (req == BackendRequest.CONFIG_CHANGE_MSG) {
                    frontend.fireConfigChanged();
                    status = 0;
                } else {
                    LOG.warn("{}: back-end request {} is not served by this front-end; refusing it{}", name, req,
                            n > 0 ? " (closed " + n + " fds)" : "");
                    status = UNSUPPORTED;
                }
                if (h.needsReply()) {
                    new U64Payload(status).encode(conn.sendPayload(), 0);
                    conn.send(MessageHeader.reply(h.request(), U64Payload.SIZE), null);
                }
            }
        } catch (VhostDisconnectedException e) {
            LOG.debug("{}: closed", name);
        } catch (VhostException | RuntimeException e) {
            if (!closing) {
                LOG.error("{}: dropping the backend request channel: {}", name, e.getMessage());
            }
        } finally {
            conn.close();
        }
    }

    @Override
    public void close() {
        closing = true;
        closePeerFd();
        conn.shutdown();
        try {
            thread.join(2000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        conn.close();
    }
}
