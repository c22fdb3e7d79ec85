package com.vhost.user.connection;

import com.vhost.api.VhostDisconnectedException;
import com.vhost.api.VhostException;
import com.vhost.api.VhostNativeException;
import com.vhost.api.VhostProtocolException;
import com.vhost.api.VhostTimeoutException;
import com.vhost.spi.nativeio.OwnedFd;
import com.vhost.spi.nativeio.UnixSocket;
import com.vhost.user.message.MessageHeader;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * One vhost-user channel over an AF_UNIX stream socket: owns message framing and fd passing
 * (rust-vmm {@code vhost_user/connection.rs}). A message is the 12-byte {@link MessageHeader}
 * followed by exactly {@code size} payload bytes; fds ride as SCM_RIGHTS only on the chunk that
 * carries the header, at most {@link #MAX_FDS} of them. A receive never reads past the end of
 * the current message.
 *
 * <p>Buffers are preallocated: callers encode a payload into {@link #sendPayload()} and then call
 * {@link #send}; after {@link #receive} the payload is in {@link #receivePayload()}. Received fds
 * are wrapped in {@link OwnedFd} at once; fds arriving where none may (on payload bytes, or more
 * than the limit) are closed and reported as a {@link VhostProtocolException}.
 *
 * <p>Not thread-safe: one thread sends and receives; {@link #shutdown()} may be called from any
 * thread to unblock a pending receive.
 */
public final class VhostUserConnection implements AutoCloseable {
    /** Most fds one message may carry (8 memory regions). */
    public static final int MAX_FDS = 8;

    private static final int EPIPE = 32;
    private static final int ECONNRESET = 104;

    private final UnixSocket socket;
    private final String name;
    private final MemorySegment sendBuf;
    private final MemorySegment recvBuf;
    private final List<OwnedFd> strayFds = new ArrayList<>(MAX_FDS);
    private int headerTimeoutMs;
    private int bodyTimeoutMs;
    private int currentTimeoutMs = -1;
    private volatile boolean closed;

    /**
     * @param socket the connected socket; this connection owns it and closes it
     * @param name for messages, e.g. {@code "vhost-user:/tmp/vub.sock"}
     */
    public VhostUserConnection(UnixSocket socket, String name) {
        this.socket = socket;
        this.name = name;
        // GC-managed: a receive blocked in another thread never sees its buffer freed under it
        Arena arena = Arena.ofAuto();
        this.sendBuf = arena.allocate(MessageHeader.SIZE + MessageHeader.MAX_PAYLOAD_SIZE, 8);
        this.recvBuf = arena.allocate(MessageHeader.SIZE + MessageHeader.MAX_PAYLOAD_SIZE, 8);
    }

    /** @return the name given at construction */
    public String name() {
        return name;
    }

    /** @return the socket's fd */
    public int fd() {
        return socket.fd();
    }

    /**
     * Bounds every wait of {@link #receive}.
     *
     * @param headerTimeoutMs longest wait for the first byte of a message, 0 = forever
     * @param bodyTimeoutMs longest wait for each later chunk once a header arrived, 0 = forever
     */
    public void setTimeouts(int headerTimeoutMs, int bodyTimeoutMs) {
        if (headerTimeoutMs < 0 || bodyTimeoutMs < 0) {
            throw new IllegalArgumentException("timeouts must be >= 0 ms: " + headerTimeoutMs + ", " + bodyTimeoutMs);
        }
        this.headerTimeoutMs = headerTimeoutMs;
        this.bodyTimeoutMs = bodyTimeoutMs;
    }

    /** @return the send buffer's payload area ({@link MessageHeader#MAX_PAYLOAD_SIZE} bytes) */
    public MemorySegment sendPayload() {
        return sendBuf.asSlice(MessageHeader.SIZE, MessageHeader.MAX_PAYLOAD_SIZE);
    }

    /** @return the receive buffer's payload area; valid until the next {@link #receive} */
    public MemorySegment receivePayload() {
        return recvBuf.asSlice(MessageHeader.SIZE, MessageHeader.MAX_PAYLOAD_SIZE);
    }

    /** @return the raw send buffer: header at 0, payload at {@link MessageHeader#SIZE} */
    public MemorySegment sendBuffer() {
        return sendBuf;
    }

    /** @return the raw receive buffer: header at 0, payload at {@link MessageHeader#SIZE} */
    public MemorySegment receiveBuffer() {
        return recvBuf;
    }

    /**
     * Sends {@code header} and the first {@code header.size()} bytes of {@link #sendPayload()} in
     * one message, with {@code fds} on it.
     *
     * @param fds fds to pass (not closed here), or null
     * @throws VhostProtocolException when the size exceeds the maximum or there are too many fds
     * @throws VhostNativeException when sendmsg fails
     * @throws VhostDisconnectedException when the connection was closed here or by the peer
     *     (EPIPE, ECONNRESET)
     */
    public void send(MessageHeader header, int[] fds) throws VhostException {
        ensureOpen();
        if (Integer.compareUnsigned(header.size(), MessageHeader.MAX_PAYLOAD_SIZE) > 0) {
            throw new VhostProtocolException(name + ": refusing to send a " + Integer.toUnsignedString(header.size())
                    + "-byte payload (max " + MessageHeader.MAX_PAYLOAD_SIZE + ")");
        }
        if (fds != null && fds.length > MAX_FDS) {
            throw new VhostProtocolException(name + ": refusing to send " + fds.length + " fds (max " + MAX_FDS + ", VHOST_MEMORY_BASELINE_NREGIONS)");
        }
        header.encode(sendBuf, 0);
        try {
            socket.sendMsg(sendBuf, 0, MessageHeader.SIZE + header.size(), fds == null || fds.length == 0 ? null : fds);
        } catch (VhostNativeException e) {
            if (e.errno() == EPIPE || e.errno() == ECONNRESET) {
                throw new VhostDisconnectedException(name + ": peer closed the connection (" + e.getMessage() + ")");
            }
            throw e;
        }
    }

    /**
     * Receives one whole message: the header (validated by {@link MessageHeader#decode}), then
     * exactly {@code size} payload bytes into {@link #receivePayload()}.
     *
     * @param fdsOut receives the fds that came with the header, already owned; the caller closes
     *     them. Left empty when the message fails.
     * @return the header
     * @throws VhostDisconnectedException when the peer closed the connection (0 bytes read)
     * @throws VhostTimeoutException when a bounded wait ran out
     * @throws VhostProtocolException for a bad header, more than {@link #MAX_FDS} fds, or fds on
     *     payload bytes (all such fds are closed)
     * @throws VhostNativeException when recvmsg fails otherwise
     */
    public MessageHeader receive(List<OwnedFd> fdsOut) throws VhostException {
        ensureOpen();
        int first = fdsOut.size();
        boolean ok = false;
        try {
            applyTimeout(headerTimeoutMs);
            long got = recv(0, MessageHeader.SIZE, fdsOut, "message header");
            if (got == 0) {
                throw new VhostDisconnectedException(name + ": peer closed the connection");
            }
            if (fdsOut.size() - first > MAX_FDS) {
                throw new VhostProtocolException(name + ": message carried " + (fdsOut.size() - first) + " fds (max " + MAX_FDS + ", VHOST_MEMORY_BASELINE_NREGIONS)");
            }
            if (got < MessageHeader.SIZE) {
                applyTimeout(bodyTimeoutMs);
                recvRest(got, MessageHeader.SIZE - got, "message header");
            }
            MessageHeader h = MessageHeader.decode(recvBuf, 0);
            if (h.size() > 0) {
                applyTimeout(bodyTimeoutMs);
                recvRest(MessageHeader.SIZE, h.size(), "payload of request " + Integer.toUnsignedString(h.request()));
            }
            ok = true;
            return h;
        } finally {
            if (!ok) {
                while (fdsOut.size() > first) {
                    fdsOut.remove(fdsOut.size() - 1).close();
                }
            }
        }
    }

    private void recvRest(long offset, long length, String what) throws VhostException {
        long done = 0;
        while (done < length) {
            long n = recv(offset + done, length - done, strayFds, what);
            if (!strayFds.isEmpty()) {
                int count = strayFds.size();
                closeAll(strayFds);
                throw new VhostProtocolException(name + ": " + count + " unexpected fds arrived with the " + what + "; closed them");
            }
            if (n == 0) {
                throw new VhostDisconnectedException(name + ": peer closed the connection in the middle of the " + what
                        + " (" + (done) + " of " + length + " bytes)");
            }
            done += n;
        }
    }

    private long recv(long offset, long length, List<OwnedFd> fds, String what) throws VhostException {
        try {
            return socket.recvMsg(recvBuf, offset, length, fds);
        } catch (VhostTimeoutException e) {
            throw new VhostTimeoutException(name + ": no " + what + " within " + currentTimeoutMs + " ms");
        } catch (VhostNativeException e) {
            if (e.errno() == ECONNRESET) {
                throw new VhostDisconnectedException(name + ": peer reset the connection (" + e.getMessage() + ")");
            }
            throw e;
        }
    }

    private void applyTimeout(int ms) throws VhostException {
        if (ms != currentTimeoutMs) {
            socket.setReceiveTimeout(ms);
            currentTimeoutMs = ms;
        }
    }

    private void ensureOpen() throws VhostDisconnectedException {
        if (closed) {
            throw new VhostDisconnectedException(name + ": connection closed");
        }
    }

    private static void closeAll(List<OwnedFd> fds) {
        for (OwnedFd fd : fds) {
            fd.close();
        }
        fds.clear();
    }

    /** @return false once {@link #close()} ran */
    public boolean isOpen() {
        return !closed;
    }

    /** poll(2) events: POLLERR, POLLHUP, POLLNVAL, POLLRDHUP (Linux). */
    private static final short POLLERR = 0x8;
    private static final short POLLNVAL = 0x20;
    private static final short POLLRDHUP = 0x2000;

    /**
     * Asks the kernel, without waiting or consuming data, whether the peer closed its end (a
     * back-end process that died leaves POLLHUP/POLLRDHUP on the socket even when no message is
     * under way).
     *
     * @return true when the connection is closed here or the peer hung up
     */
    public boolean peerClosed() {
        if (closed) {
            return true;
        }
        try {
            int revents = com.vhost.spi.nativeio.Linux.poll(socket.fd(), POLLRDHUP, 0);
            return (revents & (POLLERR | com.vhost.spi.nativeio.Linux.POLLHUP | POLLNVAL | POLLRDHUP)) != 0;
        } catch (VhostException e) {
            return true;
        }
    }

    /** Shuts the socket down in both directions: a pending receive returns (disconnected). */
    public void shutdown() {
        try {
            socket.shutdown();
        } catch (Exception e) {
            // already shut or closed: nothing left to wake
        }
    }

    /** Shuts down and closes the socket. Idempotent. The buffers are freed by the GC. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        shutdown();
        try {
            socket.close();
        } catch (Exception e) {
            // closing a socket whose peer vanished: nothing to report
        }
    }
}
