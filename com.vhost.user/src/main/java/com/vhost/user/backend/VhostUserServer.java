package com.vhost.user.backend;

import com.vhost.api.VhostDisconnectedException;
import com.vhost.api.VhostException;
import com.vhost.api.VhostTimeoutException;
import com.vhost.api.VirtioDeviceException;
import com.vhost.api.backend.SocketOptions;
import com.vhost.api.virtio.VirtioDevice;
import com.vhost.api.virtio.VirtqueueConfig;
import com.vhost.spi.nativeio.UnixServer;
import com.vhost.spi.nativeio.UnixSocket;
import com.vhost.user.connection.VhostUserConnection;
import java.nio.file.Path;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Semaphore;
import java.util.concurrent.SynchronousQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A vhost-user back-end that serves any {@link VirtioDevice} model on a UNIX socket (the
 * back-end half of QEMU {@code docs/interop/vhost-user.rst}; rust-vmm {@code vhost-user-backend}).
 *
 * <p>It offers the model's features plus {@code VHOST_USER_F_PROTOCOL_FEATURES} (bit 30) and the
 * protocol features MQ, REPLY_ACK, CONFIG, CONFIGURE_MEM_SLOTS ({@value BackendSession#MAX_MEM_SLOTS}
 * slots), RESET_DEVICE, STATUS, BACKEND_REQ (the model's config-change interrupt becomes a
 * CONFIG_CHANGE_MSG) and DEVICE_STATE (the model's snapshot saved and loaded through a pipe). One front-end is served at a time; after it disconnects (or is
 * dropped for a malformed message, which is logged naming the message) the model is reset, the
 * memory unmapped, every fd closed, and the next front-end is accepted.
 *
 * <p>Each connection is served by a {@link BackendSession}: a loop over the request dispatcher
 * (decode, validate, reply), the rings-and-memory state driving the model, and the device-state
 * transfers (package {@code com.vhost.user.backend.session}).
 *
 * <p>Threads: {@link #start()} runs one accept-and-serve thread; the model's own workers run the
 * queues and notify through the call eventfds; device state transfers (DEVICE_STATE) run on a
 * small pool whose idle threads are kept a minute, so a transfer during a hot-swap does not start
 * a thread (shut down by {@link #close()}).
 */
public final class VhostUserServer implements AutoCloseable {
    /** Default longest wait, in ms, for the rest of a message once its first byte arrived. */
    public static final int DEFAULT_MESSAGE_TIMEOUT_MS = 5000;
    private static final int ACCEPT_POLL_MS = 200;
    private static final Logger LOG = LoggerFactory.getLogger(VhostUserServer.class);

    private final Path socketPath;
    /** The model served; replaced by a completed {@link Handover}. */
    private volatile VirtioDevice model;
    private final SocketOptions socketOptions;
    private final Object lock = new Object();
    /** One permit: taken by the session for each message, and by a model handover for its whole length. */
    private final Semaphore gate = new Semaphore(1);
    /** Under {@link #lock}: the session being served, and whether a handover is under way (no new session starts). */
    private BackendSession session;
    private boolean handingOver;
    private final ExecutorService transfers;
    private UnixServer server;
    private Thread thread;
    private volatile boolean closing;
    private VhostUserConnection current;
    private volatile int messageTimeoutMs = DEFAULT_MESSAGE_TIMEOUT_MS;
    private long accepted;
    private long ended;

    /**
     * A server whose socket is private to this process's user ({@link SocketOptions#PRIVATE}).
     *
     * @see #VhostUserServer(Path, VirtioDevice, SocketOptions)
     */
    public VhostUserServer(Path socket, VirtioDevice model) {
        this(socket, model, SocketOptions.PRIVATE);
    }

    /**
     * @param socket where to listen: a stale socket file there is replaced; a socket a live server
     *     answers on, or any other file, makes {@link #start()} fail and is left alone
     * @param model the device to serve; driven only through {@link VirtioDevice}
     * @param options the socket file's mode (exactly, whatever the umask) and group
     */
    public VhostUserServer(Path socket, VirtioDevice model, SocketOptions options) {
        this.socketPath = Objects.requireNonNull(socket, "socket");
        this.model = Objects.requireNonNull(model, "model");
        this.socketOptions = Objects.requireNonNull(options, "options");
        String threadName = "vhost-user-state " + socket;
        this.transfers = new ThreadPoolExecutor(0, Integer.MAX_VALUE, 60, TimeUnit.SECONDS, new SynchronousQueue<>(),
                r -> Thread.ofPlatform().daemon().name(threadName).unstarted(r));
    }

    /**
     * Bounds how long a front-end may take to send the rest of a message once its first byte
     * arrived; a front-end that stalls longer is dropped (logged) and the next one accepted.
     * Applies to connections accepted afterwards.
     *
     * @param ms milliseconds, {@code > 0} (default {@value #DEFAULT_MESSAGE_TIMEOUT_MS})
     */
    public void setMessageTimeoutMs(int ms) {
        if (ms <= 0) {
            throw new IllegalArgumentException("message timeout must be > 0 ms, was " + ms);
        }
        messageTimeoutMs = ms;
    }

    /** @return the socket path */
    public Path socketPath() {
        return socketPath;
    }

    /**
     * Listens on the socket (see {@link UnixServer#listen(Path, int, String)}) and starts the
     * accept thread.
     *
     * @throws com.vhost.api.VhostNativeException when the socket cannot be created (errno in the
     *     message): EADDRINUSE ({@code socket P is in use by another server}) when a live server
     *     answers on the path, EEXIST when the path is another kind of file
     * @throws IllegalArgumentException when the socket group does not exist
     * @throws IllegalStateException when already started or closed
     */
    public void start() throws VhostException {
        synchronized (lock) {
            if (server != null || closing) {
                throw new IllegalStateException("vhost-user server " + socketPath + " already started or closed");
            }
            server = UnixServer.listen(socketPath, socketOptions.mode(), socketOptions.group());
            thread = Thread.ofPlatform().name("vhost-user-server " + socketPath).daemon().unstarted(this::run);
            thread.start();
        }
        LOG.info("vhost-user server listening on {} (mode 0{}{}) for a {} device", socketPath,
                Integer.toOctalString(socketOptions.mode()), socketOptions.group() == null ? "" : ", group " + socketOptions.group(),
                model.deviceType().shortName());
    }

    private void run() {
        while (!closing) {
            UnixSocket s;
            try {
                s = server.accept(ACCEPT_POLL_MS);
            } catch (VhostException | RuntimeException e) {
                if (!closing) {
                    LOG.error("vhost-user server {}: accept failed, stopping: {}", socketPath, e.getMessage());
                }
                return;
            }
            if (s == null) {
                continue;
            }
            String name = "vhost-user server " + socketPath + " #" + (accepted + 1);
            VhostUserConnection conn = new VhostUserConnection(s, "front-end");
            BackendSession session;
            synchronized (lock) {
                // a session starts over the model a handover under way ends with
                while (handingOver && !closing) {
                    try {
                        lock.wait(ACCEPT_POLL_MS);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        closing = true;
                    }
                }
                if (closing) {
                    conn.close();
                    return;
                }
                session = new BackendSession(name, model, conn, messageTimeoutMs, transfers, gate);
                this.session = session;
                current = conn;
                accepted++;
                lock.notifyAll();
            }
            LOG.info("{}: front-end connected", name);
            try {
                session.serve();
            } catch (VhostDisconnectedException e) {
                LOG.info("{}: front-end disconnected", name);
            } catch (VhostException | RuntimeException e) {
                if (closing) {
                    LOG.info("{}: closed", name);
                } else {
                    LOG.error("{}: dropping the front-end connection: {}", name, e.getMessage());
                }
            } catch (Error e) {
                // the session contains faults (BackendSession.serve); what passes it (an
                // OutOfMemoryError) must still not end this thread: the socket would stay and every
                // later front-end time out. The session's memory is released below.
                LOG.error("{}: dropping the front-end connection after an error", name, e);
            } finally {
                session.close();
                synchronized (lock) {
                    this.session = null;
                    current = null;
                    ended++;
                    lock.notifyAll();
                }
            }
        }
    }

    /**
     * Starts handing the served device over to another model (see
     * {@link com.vhost.api.backend.ServedBackend#handOver}): waits for the message being handled,
     * then holds the session still, puts the model to sleep and takes its snapshot. No session
     * starts until the handover ends.
     *
     * @param timeoutMs longest wait for the message being handled, in milliseconds
     * @throws VhostTimeoutException when the session did not become free in time
     * @throws VhostException when the model fails to sleep or snapshot (it serves on), a device
     *     state transfer runs, another handover is under way or the server is closed
     */
    public Handover handOver(long timeoutMs) throws VhostException {
        try {
            if (!gate.tryAcquire(timeoutMs, TimeUnit.MILLISECONDS)) {
                throw new VhostTimeoutException("vhost-user server " + socketPath + ": the session did not become free for a model handover within "
                        + timeoutMs + " ms");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new VhostTimeoutException("vhost-user server " + socketPath + ": interrupted while waiting for the session");
        }
        BackendSession s;
        synchronized (lock) {
            if (closing || handingOver) {
                gate.release();
                throw new VirtioDeviceException("vhost-user server " + socketPath + (closing ? " is closed" : ": a model handover is already under way"));
            }
            handingOver = true;
            s = session;
        }
        long t0 = System.nanoTime();
        try {
            byte[] snapshot;
            VirtioDevice old = model;
            if (s != null) {
                snapshot = s.handler().suspendModel();
            } else {
                boolean wasAsleep = old.state().isAsleep();
                List<VirtqueueConfig> slept = wasAsleep ? List.of() : old.sleep();
                try {
                    snapshot = old.snapshot();
                } catch (VhostException | RuntimeException e) {
                    if (!wasAsleep) {
                        old.wake(slept);
                    }
                    throw e;
                }
            }
            return new Handover(s, snapshot, t0);
        } catch (VhostException | RuntimeException | Error e) {
            endHandover();
            throw e;
        }
    }

    private void endHandover() {
        synchronized (lock) {
            handingOver = false;
            lock.notifyAll();
        }
        gate.release();
    }

    /** A model handover under way at this server; one caller drives it, and ends it once. */
    public final class Handover {
        private final BackendSession session;
        private final byte[] snapshot;
        private final long startNanos;
        private boolean ended;

        private Handover(BackendSession session, byte[] snapshot, long startNanos) {
            this.session = session;
            this.snapshot = snapshot;
            this.startNanos = startNanos;
        }

        /** @return the old model's snapshot (shared, not copied: do not modify) */
        public byte[] snapshot() {
            return snapshot;
        }

        /** @return whether a front-end session was connected when the handover began */
        public boolean sessionConnected() {
            return session != null;
        }

        /**
         * Restores the snapshot into {@code next} and serves it from now on (the session's rings
         * resume on it); the old model is no longer driven.
         *
         * @return nanoseconds from the start of the handover to {@code next} running
         * @throws VhostException when {@code next} is refused (see {@link BackendHandler#replaceModel});
         *     the handover stays open
         */
        public long complete(VirtioDevice next) throws VhostException {
            requireOpen();
            if (session != null) {
                session.handler().replaceModel(next, snapshot);
            } else {
                if (next.deviceType() != model.deviceType()) {
                    throw new VirtioDeviceException("the new model is a " + next.deviceType() + " device, the old one " + model.deviceType());
                }
                if (!next.state().isAsleep()) {
                    next.sleep();
                }
                next.restore(snapshot);
                next.wake(List.of());
            }
            model = next;
            ended = true;
            long pause = System.nanoTime() - startNanos;
            endHandover();
            LOG.info("vhost-user server {}: the device model was handed over in {} us", socketPath, pause / 1000);
            return pause;
        }

        /** Ends the handover with the old model woken as it was: it serves on. */
        public void resumeOld() throws VhostException {
            requireOpen();
            ended = true;
            try {
                if (session != null) {
                    session.handler().resumeModel();
                } else if (model.state().isAsleep()) {
                    model.wake(List.of());
                }
            } finally {
                endHandover();
            }
        }

        /** Ends the handover with no model to serve: the session ends with DEVICE_NEEDS_RESET. */
        public void abandon(String reason) {
            if (ended) {
                return;
            }
            ended = true;
            LOG.error("vhost-user server {}: model handover abandoned: {}", socketPath, reason);
            try {
                if (session != null) {
                    session.abandon(reason);
                }
            } finally {
                endHandover();
            }
        }

        /** @return whether the handover ended (completed, resumed or abandoned) */
        public boolean ended() {
            return ended;
        }

        private void requireOpen() {
            if (ended) {
                throw new IllegalStateException("model handover at " + socketPath + " already ended");
            }
        }
    }

    /**
     * Waits until a front-end is connected.
     *
     * @param ms longest wait in milliseconds
     * @return true when a front-end is connected
     */
    public boolean awaitConnection(long ms) throws InterruptedException {
        long deadline = System.nanoTime() + ms * 1_000_000;
        synchronized (lock) {
            while (current == null) {
                long left = (deadline - System.nanoTime()) / 1_000_000;
                if (left <= 0) {
                    return false;
                }
                lock.wait(left);
            }
            return true;
        }
    }

    /**
     * Waits until {@code n} front-end connections have ended (disconnected or dropped).
     *
     * @return true when at least {@code n} sessions ended within {@code ms} milliseconds
     */
    public boolean awaitSessionsEnded(long n, long ms) throws InterruptedException {
        long deadline = System.nanoTime() + ms * 1_000_000;
        synchronized (lock) {
            while (ended < n) {
                long left = (deadline - System.nanoTime()) / 1_000_000;
                if (left <= 0) {
                    return false;
                }
                lock.wait(left);
            }
            return true;
        }
    }

    /** @return how many front-end connections were accepted so far */
    public long acceptedConnections() {
        synchronized (lock) {
            return accepted;
        }
    }

    /** @return whether a front-end is connected now */
    public boolean isConnected() {
        synchronized (lock) {
            return current != null;
        }
    }

    /** Stops serving: drops the current front-end, stops the thread, closes and unlinks the socket. */
    @Override
    public void close() {
        Thread t;
        synchronized (lock) {
            if (closing) {
                return;
            }
            closing = true;
            if (current != null) {
                current.shutdown();
            }
            t = thread;
        }
        if (t != null) {
            try {
                t.join(5000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            if (t.isAlive()) {
                LOG.warn("vhost-user server {}: serving thread did not stop within 5 s", socketPath);
            }
        }
        UnixServer s = server;
        if (s != null) {
            s.close();
        }
        transfers.shutdown(); // a transfer still running ends by its own deadline
    }
}
