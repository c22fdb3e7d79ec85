package com.vhost.daemon.rpc;

import com.vhost.api.VhostException;
import com.vhost.api.VhostTimeoutException;
import com.vhost.spi.nativeio.OwnedFd;
import com.vhost.spi.nativeio.UnixServer;
import com.vhost.spi.nativeio.UnixSocket;
import java.io.ByteArrayOutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The control socket: accepts clients on a {@link UnixServer} (its path rules: private mode 0600,
 * a live server's socket refused, a stale one replaced) and serves each on a thread of its own:
 * one JSON-RPC request per line in, one response per line out, in order. What one client sends
 * never disturbs another: a line that is not JSON gets -32700 and the connection goes on; a line
 * longer than {@link #MAX_LINE_BYTES} is discarded up to its newline and answered with -32600
 * saying so; a line left unfinished for {@link #PARTIAL_LINE_TIMEOUT_MS} ms, or a client that
 * goes away, ends only that connection (a request already running finishes). Passed fds are
 * closed. At most {@link #MAX_CLIENTS} clients at once; the next gets a -32000 line and is closed.
 */
public final class ControlServer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ControlServer.class);
    /** Longest request line, in bytes (1 MiB), its newline excluded. */
    public static final int MAX_LINE_BYTES = 1 << 20;
    /** Milliseconds a client may leave a line unfinished before its connection is closed. */
    public static final int PARTIAL_LINE_TIMEOUT_MS = 10_000;
    /** Clients served at once. */
    public static final int MAX_CLIENTS = 64;
    private static final int READ_CHUNK = 64 * 1024;
    private static final int POLL_MS = 500;
    private static final long CLOSE_WAIT_MS = 5_000;

    private final UnixServer server;
    private final JsonRpc rpc;
    private final long partialLineTimeoutNs;
    private final Set<Client> clients = ConcurrentHashMap.newKeySet();
    private final Thread acceptor;
    private volatile boolean closed;

    /**
     * Starts accepting on {@code server}.
     *
     * @param server a listening socket, owned from now on (closed, its file removed, by {@link #close})
     */
    public ControlServer(UnixServer server, JsonRpc rpc) {
        this(server, rpc, PARTIAL_LINE_TIMEOUT_MS);
    }

    /** As {@link #ControlServer(UnixServer, JsonRpc)} with another unfinished-line limit, in milliseconds. */
    ControlServer(UnixServer server, JsonRpc rpc, long partialLineTimeoutMs) {
        this.server = server;
        this.rpc = rpc;
        this.partialLineTimeoutNs = partialLineTimeoutMs * 1_000_000L;
        this.acceptor = Thread.ofPlatform().name("vhost-control-accept").daemon().unstarted(this::acceptLoop);
        acceptor.start();
    }

    /** @return the socket path */
    public java.nio.file.Path path() {
        return server.path();
    }

    private void acceptLoop() {
        long n = 0;
        while (!closed) {
            UnixSocket s;
            try {
                s = server.accept(POLL_MS);
            } catch (VhostException e) {
                if (!closed) {
                    LOG.error("control socket {}: accept failed, no more clients: {}", server.path(), e.getMessage());
                }
                return;
            }
            if (s == null) {
                continue;
            }
            Client c = new Client(s, ++n);
            if (clients.size() >= MAX_CLIENTS) {
                c.refuse();
                continue;
            }
            clients.add(c);
            c.thread.start();
        }
    }

    /** One connection and its thread. */
    private final class Client {
        final UnixSocket socket;
        final Thread thread;

        Client(UnixSocket socket, long n) {
            this.socket = socket;
            this.thread = Thread.ofPlatform().name("vhost-control-client-" + n).daemon().unstarted(this::serve);
        }

        void refuse() {
            try (Arena arena = Arena.ofConfined(); socket) {
                send(arena, rpc.error(null, RpcException.OPERATION_FAILED, "too many control clients (" + MAX_CLIENTS + "); try again later"));
            } catch (VhostException e) {
                LOG.debug("control client refused and gone: {}", e.getMessage());
            }
        }

        private void serve() {
            try (Arena arena = Arena.ofConfined()) {
                socket.setReceiveTimeout(POLL_MS);
                MemorySegment buf = arena.allocate(READ_CHUNK);
                sendBuf = arena.allocate(READ_CHUNK);
                byte[] chunk = new byte[READ_CHUNK];
                ByteArrayOutputStream line = new ByteArrayOutputStream();
                boolean discarding = false;
                long partialSince = 0;
                List<OwnedFd> fds = new ArrayList<>();
                while (!closed) {
                    long n;
                    try {
                        n = socket.recvMsg(buf, 0, READ_CHUNK, fds);
                    } catch (VhostTimeoutException idle) {
                        if ((line.size() > 0 || discarding) && System.nanoTime() - partialSince > partialLineTimeoutNs) {
                            send(arena, rpc.error(null, RpcException.INVALID_REQUEST, "invalid request: no newline within "
                                    + partialLineTimeoutNs / 1_000_000L + " ms; closing the connection"));
                            return;
                        }
                        continue;
                    } finally {
                        fds.forEach(OwnedFd::close);
                        fds.clear();
                    }
                    if (n == 0) {
                        return; // the client went away (a half line is dropped)
                    }
                    MemorySegment.copy(buf, ValueLayout.JAVA_BYTE, 0, chunk, 0, (int) n);
                    for (int i = 0; i < n; i++) {
                        byte b = chunk[i];
                        if (b == '\n') {
                            if (discarding) {
                                discarding = false;
                                send(arena, rpc.error(null, RpcException.INVALID_REQUEST, "invalid request: line longer than "
                                        + MAX_LINE_BYTES + " bytes (the limit); discarded"));
                            } else {
                                String text = line.toString(StandardCharsets.UTF_8).strip();
                                line.reset();
                                if (!text.isEmpty()) {
                                    String response = rpc.handle(text);
                                    if (response != null) {
                                        send(arena, response);
                                    }
                                }
                            }
                            partialSince = 0;
                            continue;
                        }
                        if (line.size() == 0 && !discarding) {
                            partialSince = System.nanoTime();
                        }
                        if (discarding) {
                            continue;
                        }
                        if (line.size() >= MAX_LINE_BYTES) {
                            line.reset();
                            discarding = true;
                            continue;
                        }
                        line.write(b);
                    }
                }
            } catch (VhostException e) {
                LOG.debug("control client {}: {}", socket, e.getMessage());
            } catch (RuntimeException e) {
                LOG.warn("control client {} failed", socket, e);
            } finally {
                socket.close();
                clients.remove(this);
            }
        }

        private MemorySegment sendBuf;

        /** Sends one response line through the connection's native buffer, a chunk at a time. */
        private void send(Arena arena, String response) throws VhostException {
            if (sendBuf == null) {
                sendBuf = arena.allocate(READ_CHUNK);
            }
            byte[] bytes = (response + "\n").getBytes(StandardCharsets.UTF_8);
            for (int off = 0; off < bytes.length; off += READ_CHUNK) {
                int len = Math.min(READ_CHUNK, bytes.length - off);
                MemorySegment.copy(bytes, off, sendBuf, ValueLayout.JAVA_BYTE, 0, len);
                socket.sendMsg(sendBuf, 0, len, null);
            }
        }
    }

    /**
     * Stops accepting, removes the socket file and closes every client connection, waiting up to
     * 5 s for requests under way to finish. Idempotent.
     */
    @Override
    public void close() {
        closed = true;
        server.close();
        clients.forEach(c -> c.socket.shutdown());
        long deadline = System.nanoTime() + CLOSE_WAIT_MS * 1_000_000L;
        try {
            acceptor.join(CLOSE_WAIT_MS);
            for (Client c : List.copyOf(clients)) {
                long left = Math.max(1, (deadline - System.nanoTime()) / 1_000_000L);
                c.thread.join(left);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
