package com.vhost.user.backend.session;

import com.vhost.api.VhostException;
import com.vhost.api.VhostNativeException;
import com.vhost.spi.nativeio.Linux;
import com.vhost.spi.nativeio.OwnedFd;
import com.vhost.user.message.BackendRequest;
import com.vhost.user.message.MessageHeader;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * The back-end's end of the backend request channel (the socket SET_BACKEND_REQ_FD handed over).
 * Sends header-only notifications such as {@code CONFIG_CHANGE_MSG} without NEED_REPLY, so a
 * device thread never waits on the front-end; each send is bounded by a writability poll.
 * Thread-safe: model threads may notify concurrently with the session thread closing it.
 */
final class BackendChannel implements AutoCloseable {
    private static final int SEND_TIMEOUT_MS = 1000;

    private final OwnedFd fd;
    private final MemorySegment buf = Arena.ofAuto().allocate(MessageHeader.SIZE, 8);
    private boolean closed;

    BackendChannel(OwnedFd fd) {
        this.fd = fd;
    }

    /**
     * Sends a header-only request.
     *
     * @throws VhostNativeException when the socket is not writable in time or write fails
     */
    synchronized void notify(BackendRequest req) throws VhostException {
        if (closed) {
            throw new VhostNativeException("write(backend request channel)", Linux.EBADF, "channel closed");
        }
        int revents = Linux.poll(fd.fd(), Linux.POLLOUT, SEND_TIMEOUT_MS);
        if ((revents & Linux.POLLOUT) == 0) {
            throw new VhostNativeException("poll(backend request channel)", 0,
                    "not writable within " + SEND_TIMEOUT_MS + " ms (revents 0x" + Integer.toHexString(revents) + ")");
        }
        MessageHeader.request(req.code(), 0, false).encode(buf, 0);
        long n = Linux.write(fd.fd(), buf, MessageHeader.SIZE);
        if (n != MessageHeader.SIZE) {
            throw new VhostNativeException("write(backend request channel)", 0, "short write of " + n + " of " + MessageHeader.SIZE + " bytes");
        }
    }

    @Override
    public synchronized void close() {
        closed = true;
        fd.close();
    }
}
