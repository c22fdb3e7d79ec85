package com.vhost.user.backend;

import com.vhost.api.VhostException;
import com.vhost.api.VhostFeatures;
import com.vhost.api.VhostProtocolException;
import com.vhost.api.user.VhostUserProtocolFeature;
import com.vhost.api.VringAddr;
import com.vhost.api.virtio.GuestMemory;
import com.vhost.api.virtio.GuestMemoryRegion;
import com.vhost.api.virtio.SplitVirtqueueLayout;
import com.vhost.api.virtio.VirtioDevice;
import com.vhost.api.virtio.VirtioDeviceState;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.api.virtio.VirtqueueConfig;
import com.vhost.spi.memory.GuestMemoryMap;
import com.vhost.spi.nativeio.EventFd;
import com.vhost.spi.nativeio.Linux;
import com.vhost.spi.nativeio.OwnedFd;
import com.vhost.spi.nativeio.SharedMemory;
import com.vhost.user.connection.StatePipe;
import com.vhost.spi.backend.PerQueueDevice;
import com.vhost.spi.backend.RebindableDevice;
import com.vhost.user.connection.VhostUserConnection;
import com.vhost.user.message.ConfigPayload;
import com.vhost.user.message.DeviceStatePayload;
import com.vhost.user.message.FrontendRequest;
import com.vhost.user.message.MemRegionPayload;
import com.vhost.user.message.MemTablePayload;
import com.vhost.user.message.MessageHeader;
import com.vhost.user.message.SingleMemRegionPayload;
import com.vhost.user.message.U64Payload;
import com.vhost.user.message.VringAddrPayload;
import com.vhost.user.message.VringFilePayload;
import com.vhost.user.message.VringState;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The back-end side of one front-end connection: decodes each request, keeps the vring and memory
 * state, and drives the {@link VirtioDevice} model only through its interface (rust-vmm
 * {@code backend_req_handler.rs} plus the {@code vhost-user-backend} ring rules).
 *
 * <p>Ring rules (vhost-user spec, "Ring states"): a ring starts on SET_VRING_KICK and stops on
 * GET_VRING_BASE; with {@code VHOST_USER_F_PROTOCOL_FEATURES} negotiated it starts disabled until
 * SET_VRING_ENABLE(1), otherwise enabled. Whenever the set of started and enabled rings changes,
 * the model is activated (NEW/INACTIVE); an ACTIVE model that implements {@link PerQueueDevice}
 * has just the rings that stopped stopped and those that started started, the others running on;
 * any other ACTIVE model is put to sleep and woken with the new set. Each queue's
 * {@code nextAvail} is carried across.
 *
 * <p>Device state (protocol feature DEVICE_STATE; spec "Migrating back-end state"): with every
 * ring stopped, SET_DEVICE_STATE_FD(SAVE) takes the model's {@link VirtioDevice#snapshot()} (the
 * model asleep) and writes it into the front-end's pipe (at once when it fits in PIPE_BUF, else
 * on a thread of the server's pool); SET_DEVICE_STATE_FD(LOAD) reads the pipe to end of file on
 * such a thread; both reply "no back-end fd" (bit 8). CHECK_DEVICE_STATE waits for the transfer and, for LOAD, restores the bytes into
 * the model; it answers 0, or 1 after a refused or failed transfer, whose reason is logged. Bad
 * state bytes leave the model as it was and the session serving. A model saved or restored as
 * active stays asleep (running no queue) until the first ring starts; then it is rebound to the
 * session's memory ({@link RebindableDevice}) and woken with the rings.
 *
 * <p>Failure policy: a malformed message ({@link VhostProtocolException}) ends the session. A
 * well-formed request that cannot be carried out is refused with a non-zero ack when the
 * front-end asked for one (NEED_REPLY); otherwise it also ends the session, since the front-end
 * would have no other way to learn of it.
 */
final class BackendSession {
    private static final Logger LOG = LoggerFactory.getLogger(BackendSession.class);
    /** Memory slots offered with CONFIGURE_MEM_SLOTS. */
    static final int MAX_MEM_SLOTS = 32;
    /** Protocol features this back-end implements. */
    static final long PROTOCOL_FEATURES = VhostUserProtocolFeature.MQ.mask() | VhostUserProtocolFeature.REPLY_ACK.mask()
            | VhostUserProtocolFeature.CONFIG.mask() | VhostUserProtocolFeature.CONFIGURE_MEM_SLOTS.mask()
            | VhostUserProtocolFeature.RESET_DEVICE.mask() | VhostUserProtocolFeature.STATUS.mask()
            | VhostUserProtocolFeature.BACKEND_REQ.mask() | VhostUserProtocolFeature.DEVICE_STATE.mask();
    private static final long PAGE = 4096;
    /** Bound on one device state transfer through the front-end's pipe, ms. */
    static final long STATE_TRANSFER_TIMEOUT_MS = 10_000;
    /** CHECK_DEVICE_STATE's error code for a refused or failed transfer. */
    static final long STATE_ERROR = 1;
    /** Largest SAVE written on the session thread (PIPE_BUF: a pipe with room takes it whole). */
    static final int INLINE_SAVE_BYTES = 4096;

    /** A request that was well-formed but could not be carried out. */
    static final class Refusal extends Exception {
        private static final long serialVersionUID = 1L;
        final boolean fatal;

        Refusal(String message) {
            this(message, false);
        }

        /** @param fatal the session cannot go on: refuse, then drop the connection */
        Refusal(String message, boolean fatal) {
            super(message, null, false, false);
            this.fatal = fatal;
        }
    }

    /** One mapped memory region with the fd it came from. */
    private record Mapped(MemRegionPayload wire, OwnedFd fd, SharedMemory map, GuestMemoryRegion region) {
        void close() {
            map.close();
            fd.close();
        }
    }

    /** One SET_DEVICE_STATE_FD transfer: a pooled thread moving the bytes through the front-end's pipe. */
    private static final class StateTransfer {
        final int direction;
        final CountDownLatch done = new CountDownLatch(1);
        /** LOAD: what was read, once the transfer ended without error. */
        volatile byte[] loaded;
        /** Why the transfer failed; null while running or after success. */
        volatile String error;
        /** Set by whoever runs the transfer: the pool thread, or the session thread at CHECK. */
        private final AtomicBoolean claimed = new AtomicBoolean();
        private final OwnedFd fd;
        private final byte[] save;

        /**
         * Starts the transfer: a SAVE of at most {@value #INLINE_SAVE_BYTES} bytes into an fd
         * ready for writing cannot block (a pipe takes PIPE_BUF bytes at once) and is written at
         * once, saving a thread hand-off during a hot-swap; anything else is handed to
         * {@code threads} (a LOAD not taken by a thread yet when CHECK_DEVICE_STATE arrives is read
         * by the session thread then: see {@link #finish}).
         */
        StateTransfer(Executor threads, int direction, OwnedFd fd, byte[] save) {
            this.direction = direction;
            this.fd = fd;
            this.save = save;
            boolean inline = false;
            if (direction == DeviceStatePayload.SAVE && save.length <= INLINE_SAVE_BYTES) {
                try {
                    inline = (Linux.poll(fd.fd(), Linux.POLLOUT, 0) & Linux.POLLOUT) != 0;
                } catch (VhostException e) {
                    inline = false; // the thread reports it
                }
            }
            if (inline) {
                claimed.set(true);
                run();
            } else {
                threads.execute(() -> {
                    if (claimed.compareAndSet(false, true)) {
                        run();
                    }
                });
            }
        }

        boolean running() {
            return done.getCount() != 0;
        }

        /**
         * At CHECK_DEVICE_STATE: the front-end has written and closed its end, so a LOAD no thread
         * took yet finds its bytes and the end of file in the pipe (more than the pipe holds would
         * have needed the thread to read) and is read here, saving a thread hand-off.
         *
         * @return whether the transfer ended within {@code timeoutMs}
         */
        boolean finish(long timeoutMs) throws InterruptedException {
            if (claimed.compareAndSet(false, true)) {
                run();
            }
            return done.await(timeoutMs, TimeUnit.MILLISECONDS);
        }

        private void run() {
            long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(STATE_TRANSFER_TIMEOUT_MS);
            try {
                if (direction == DeviceStatePayload.SAVE) {
                    StatePipe.writeFully(fd.fd(), save, deadline, "device state SAVE");
                } else {
                    loaded = StatePipe.readToEof(fd.fd(), com.vhost.api.DeviceStateBackend.MAX_STATE_BYTES, deadline,
                            "device state LOAD");
                }
            } catch (VhostException | RuntimeException e) {
                error = e.getMessage();
            } finally {
                fd.close(); // SAVE: end of file for the front-end
                done.countDown();
            }
        }
    }

    /** Per-queue state. */
    private static final class Queue {
        final int index;
        final int maxSize;
        int num;
        VringAddr addr;
        int base;
        OwnedFd kick;
        int kickFd = -1;
        int callFd = -1;
        OwnedFd err;
        boolean started;
        boolean enableSet;
        boolean enabled;

        Queue(int index, int maxSize) {
            this.index = index;
            this.maxSize = maxSize;
        }
    }

    private final String name;
    private final VirtioDevice model;
    private final VhostUserConnection conn;
    private final List<OwnedFd> rxFds = new ArrayList<>(VhostUserConnection.MAX_FDS);
    private final long offeredFeatures;
    private final Queue[] queues;
    private final AtomicInteger status = new AtomicInteger();
    private final CallInterrupt interrupt;
    private long ackedFeatures;
    private long ackedProtocol;
    /** SET_PROTOCOL_FEATURES was received: the front-end uses VHOST_USER_F_PROTOCOL_FEATURES. */
    private boolean protocolFeaturesSet;
    private final List<Mapped> regions = new ArrayList<>();
    private GuestMemory memory;
    private List<Integer> running = List.of();
    private volatile BackendChannel backendChannel;
    private final Executor transfers;
    private StateTransfer transfer;
    /** What CHECK_DEVICE_STATE reports: null after a successful transfer. */
    private String transferResult = "no state transfer was started with SET_DEVICE_STATE_FD";

    /**
     * @param transfers runs device state transfers (SET_DEVICE_STATE_FD); the server's pool
     */
    BackendSession(String name, VirtioDevice model, VhostUserConnection conn, int messageTimeoutMs, Executor transfers) {
        this.name = name;
        this.transfers = transfers;
        this.model = model;
        this.conn = conn;
        this.offeredFeatures = model.features() | VhostFeatures.bit(VhostFeatures.F_PROTOCOL_FEATURES);
        int[] sizes = model.queueMaxSizes();
        this.queues = new Queue[sizes.length];
        for (int i = 0; i < sizes.length; i++) {
            queues[i] = new Queue(i, sizes[i]);
        }
        this.interrupt = new CallInterrupt(name, sizes.length, status,
                () -> VhostUserProtocolFeature.STATUS.in(ackedProtocol),
                this::notifyConfigChanged);
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
            FrontendRequest req;
            try {
                req = FrontendRequest.fromCode(h.request());
            } catch (VhostProtocolException e) {
                throw new VhostProtocolException("malformed message: " + e.getMessage(), e);
            }
            if (LOG.isDebugEnabled()) {
                LOG.debug("{}: {} ({} bytes, {} fds{})", name, req, h.size(), rxFds.size(), h.needsReply() ? ", NEED_REPLY" : "");
            }
            if (h.isReply()) {
                throw new VhostProtocolException("malformed " + req + ": a front-end request has the REPLY flag set");
            }
            boolean ownReply;
            try {
                ownReply = handle(req, h.size());
            } catch (VhostProtocolException e) {
                String m = e.getMessage();
                throw new VhostProtocolException("malformed " + (m.startsWith(req.name()) ? m : req + ": " + m), e);
            } catch (Refusal e) {
                if (e.fatal) {
                    if (h.needsReply()) {
                        ack(req, 1);
                    }
                    throw new VhostProtocolException(req + " refused, cannot continue: " + e.getMessage());
                }
                if (h.needsReply()) {
                    LOG.warn("{}: refusing {}: {}", name, req, e.getMessage());
                    ack(req, 1);
                    continue;
                }
                throw new VhostProtocolException(req + " failed and the front-end asked for no reply: " + e.getMessage());
            }
            if (!ownReply && h.needsReply()) {
                ack(req, 0);
            }
        }
    }

    /** @return true when the request sent its own reply */
    private boolean handle(FrontendRequest req, int size) throws VhostException, Refusal {
        MemorySegment p = conn.receivePayload();
        switch (req) {
            case GET_FEATURES -> {
                expectNoPayload(req, size);
                replyU64(req, offeredFeatures);
                return true;
            }
            case SET_FEATURES -> setFeatures(U64Payload.decode(req.name(), p, 0, size).value());
            case SET_OWNER, RESET_OWNER -> {
                expectNoPayload(req, size);
                if (req == FrontendRequest.RESET_OWNER) {
                    resetDevice();
                }
            }
            case GET_PROTOCOL_FEATURES -> {
                expectNoPayload(req, size);
                replyU64(req, PROTOCOL_FEATURES);
                return true;
            }
            case SET_PROTOCOL_FEATURES -> {
                long f = U64Payload.decode(req.name(), p, 0, size).value();
                expectFds(req, 0);
                if ((f & ~PROTOCOL_FEATURES) != 0) {
                    throw new Refusal("protocol features " + VhostUserProtocolFeature.describe(f & ~PROTOCOL_FEATURES) + " were not offered");
                }
                ackedProtocol = f;
                protocolFeaturesSet = true;
            }
            case GET_QUEUE_NUM -> {
                expectNoPayload(req, size);
                replyU64(req, queues.length);
                return true;
            }
            case GET_MAX_MEM_SLOTS -> {
                expectNoPayload(req, size);
                replyU64(req, MAX_MEM_SLOTS);
                return true;
            }
            case SET_MEM_TABLE -> setMemTable(MemTablePayload.decode(p, 0, size));
            case ADD_MEM_REG -> addMemRegion(SingleMemRegionPayload.decode(req.name(), p, 0, size).region());
            case REM_MEM_REG -> removeMemRegion(SingleMemRegionPayload.decode(req.name(), p, 0, size).region());
            case SET_VRING_NUM -> {
                VringState s = VringState.decode(req.name(), p, 0, size);
                expectFds(req, 0);
                Queue q = queue(req, s.index());
                if (s.num() < 1 || s.num() > q.maxSize || (s.num() & (s.num() - 1)) != 0) {
                    throw new Refusal("queue " + q.index + ": size " + Integer.toUnsignedString(s.num())
                            + " is not a power of two in 1.." + q.maxSize);
                }
                requireStopped(req, q);
                q.num = s.num();
            }
            case SET_VRING_ADDR -> {
                VringAddr a = VringAddrPayload.decode(p, 0, size);
                expectFds(req, 0);
                Queue q = queue(req, a.index());
                if ((a.flags() & VringAddr.F_LOG) != 0) {
                    throw new Refusal("queue " + q.index + ": dirty logging (VHOST_VRING_F_LOG) is not offered");
                }
                requireStopped(req, q);
                q.addr = a;
            }
            case SET_VRING_BASE -> {
                VringState s = VringState.decode(req.name(), p, 0, size);
                expectFds(req, 0);
                Queue q = queue(req, s.index());
                if (Integer.compareUnsigned(s.num(), 0xFFFF) > 0) {
                    throw new Refusal("queue " + q.index + ": base " + Integer.toUnsignedString(s.num()) + " is not a 16-bit split-ring index");
                }
                requireStopped(req, q);
                q.base = s.num();
            }
            case GET_VRING_BASE -> {
                VringState s = VringState.decode(req.name(), p, 0, size);
                expectFds(req, 0);
                Queue q = queue(req, s.index());
                q.started = false;
                reconcile(false, -1);
                if (q.kick != null) {
                    q.kick.close();
                    q.kick = null;
                }
                q.kickFd = -1;
                int n = new VringState(q.index, q.base).encode(conn.sendPayload(), 0);
                conn.send(MessageHeader.reply(req.code(), n), null);
                return true;
            }
            case SET_VRING_KICK -> setVringKick(VringFilePayload.decode(req.name(), p, 0, size));
            case SET_VRING_CALL -> setVringCall(VringFilePayload.decode(req.name(), p, 0, size));
            case SET_VRING_ERR -> {
                VringFilePayload f = VringFilePayload.decode(req.name(), p, 0, size);
                expectFds(req, f.noFd() ? 0 : 1);
                Queue q = queue(req, f.index());
                if (q.err != null) {
                    q.err.close();
                }
                q.err = f.noFd() ? null : rxFds.removeFirst();
            }
            case SET_VRING_ENABLE -> {
                VringState s = VringState.decode(req.name(), p, 0, size);
                expectFds(req, 0);
                Queue q = queue(req, s.index());
                // QEMU's vhost-user-net enables rings (virtio_net peer_attach) before it sends
                // SET_FEATURES: protocol features negotiated with SET_PROTOCOL_FEATURES suffice.
                if (!VhostFeatures.has(ackedFeatures, VhostFeatures.F_PROTOCOL_FEATURES) && !protocolFeaturesSet) {
                    throw new Refusal("queue " + q.index + ": SET_VRING_ENABLE without VHOST_USER_F_PROTOCOL_FEATURES negotiated");
                }
                if (s.num() != 0 && s.num() != 1) {
                    throw new Refusal("queue " + q.index + ": enable value " + Integer.toUnsignedString(s.num()) + " is neither 0 nor 1");
                }
                q.enableSet = true;
                q.enabled = s.num() == 1;
                reconcile(false, -1);
            }
            case GET_CONFIG -> {
                requireProtocol(VhostUserProtocolFeature.CONFIG, req);
                ConfigPayload c = ConfigPayload.decode(req.name(), p, 0, size);
                expectFds(req, 0);
                byte[] data = new byte[c.size()];
                model.readConfig(c.offset(), data);
                int n = new ConfigPayload(c.offset(), c.flags(), data).encode(conn.sendPayload(), 0);
                conn.send(MessageHeader.reply(req.code(), n), null);
                return true;
            }
            case SET_CONFIG -> {
                requireProtocol(VhostUserProtocolFeature.CONFIG, req);
                ConfigPayload c = ConfigPayload.decode(req.name(), p, 0, size);
                expectFds(req, 0);
                model.writeConfig(c.offset(), c.data());
            }
            case SET_BACKEND_REQ_FD -> {
                requireProtocol(VhostUserProtocolFeature.BACKEND_REQ, req);
                if (size != 0 && size != U64Payload.SIZE) {
                    throw new VhostProtocolException("payload size " + size + " bytes, expected 0 (or a legacy 8)");
                }
                expectFds(req, 1);
                BackendChannel old = backendChannel;
                backendChannel = new BackendChannel(rxFds.removeFirst());
                if (old != null) {
                    old.close();
                }
            }
            case RESET_DEVICE -> {
                requireProtocol(VhostUserProtocolFeature.RESET_DEVICE, req);
                expectNoPayload(req, size);
                resetDevice();
            }
            case SET_STATUS -> {
                requireProtocol(VhostUserProtocolFeature.STATUS, req);
                long v = U64Payload.decode(req.name(), p, 0, size).value();
                expectFds(req, 0);
                if ((v & ~0xFFL) != 0) {
                    throw new Refusal("status 0x" + Long.toHexString(v) + " is not an 8-bit device status");
                }
                status.set((int) v);
            }
            case GET_STATUS -> {
                requireProtocol(VhostUserProtocolFeature.STATUS, req);
                expectNoPayload(req, size);
                replyU64(req, status.get());
                return true;
            }
            case SET_DEVICE_STATE_FD -> {
                requireProtocol(VhostUserProtocolFeature.DEVICE_STATE, req);
                DeviceStatePayload d = DeviceStatePayload.decode(p, 0, size);
                expectFds(req, 1);
                replyU64(req, startTransfer(d.direction(), rxFds.removeFirst()));
                return true;
            }
            case CHECK_DEVICE_STATE -> {
                requireProtocol(VhostUserProtocolFeature.DEVICE_STATE, req);
                expectNoPayload(req, size);
                replyU64(req, checkTransfer());
                return true;
            }
            default -> throw new Refusal(req + " is not supported by this back-end (its protocol feature was not offered)");
        }
        return false;
    }

    // ---------------------------------------------------------------- device state

    /**
     * SET_DEVICE_STATE_FD: refuses (error 1, reason logged and kept for CHECK_DEVICE_STATE) while
     * a ring is started or a transfer still runs; SAVE snapshots the model now; then a thread
     * moves the bytes. {@code fd} is owned from here on.
     *
     * @return the reply: {@link DeviceStatePayload#REPLY_NO_FD}, plus error 1 when refused
     */
    private long startTransfer(int direction, OwnedFd fd) {
        String dir = direction == DeviceStatePayload.SAVE ? "SAVE" : "LOAD";
        String why = null;
        if (transfer != null && transfer.running()) {
            why = "the previous state transfer (" + (transfer.direction == DeviceStatePayload.SAVE ? "SAVE" : "LOAD")
                    + ") is still running";
        }
        for (Queue q : queues) {
            if (why == null && q.started) {
                why = "ring " + q.index + " is started; stop every ring (GET_VRING_BASE) first";
            }
        }
        byte[] state = null;
        if (why == null && direction == DeviceStatePayload.SAVE) {
            try {
                state = snapshotModel();
            } catch (VhostException | RuntimeException e) {
                why = "taking the device model's snapshot failed: " + e.getMessage();
            }
        }
        if (why != null) {
            fd.close();
            transfer = null;
            transferResult = dir + " refused: " + why;
            LOG.warn("{}: SET_DEVICE_STATE_FD {}", name, transferResult);
            return DeviceStatePayload.REPLY_NO_FD | STATE_ERROR;
        }
        transferResult = null;
        try {
            transfer = new StateTransfer(transfers, direction, fd, state);
        } catch (RuntimeException e) { // the server is closing: its transfer threads are gone
            fd.close();
            transfer = null;
            transferResult = dir + " refused: no thread to run it: " + e;
            LOG.warn("{}: SET_DEVICE_STATE_FD {}", name, transferResult);
            return DeviceStatePayload.REPLY_NO_FD | STATE_ERROR;
        }
        LOG.debug("{}: device state {} started{}", name, dir, state != null ? " (" + state.length + " bytes)" : "");
        return DeviceStatePayload.REPLY_NO_FD;
    }

    /**
     * The model's snapshot, taken asleep. An active model (running no queue: every ring is
     * stopped) stays asleep until a ring starts, which saves a worker stop and start per
     * transfer; a NEW or INACTIVE one is woken at once.
     */
    private byte[] snapshotModel() throws VhostException {
        if (model.state().isAsleep()) {
            return model.snapshot();
        }
        boolean active = model.state() == VirtioDeviceState.ACTIVE;
        List<VirtqueueConfig> slept = model.sleep();
        try {
            return model.snapshot();
        } finally {
            if (!active || !slept.isEmpty()) {
                model.wake(slept);
            }
        }
    }

    /** CHECK_DEVICE_STATE: waits for the transfer, applies a LOAD. @return 0 or {@link #STATE_ERROR} */
    private long checkTransfer() {
        StateTransfer t = transfer;
        transfer = null;
        if (t != null) {
            String err;
            try {
                err = t.finish(STATE_TRANSFER_TIMEOUT_MS + 1000) ? t.error
                        : "the transfer did not end within " + STATE_TRANSFER_TIMEOUT_MS + " ms";
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                err = "interrupted while waiting for the transfer";
            }
            if (err == null && t.direction == DeviceStatePayload.LOAD) {
                err = restoreModel(t.loaded);
            }
            transferResult = err == null ? null : (t.direction == DeviceStatePayload.SAVE ? "SAVE" : "LOAD") + " failed: " + err;
        }
        if (transferResult != null) {
            LOG.warn("{}: CHECK_DEVICE_STATE reports an error: {}", name, transferResult);
            return STATE_ERROR;
        }
        return 0;
    }

    /**
     * Restores loaded state bytes into the model while every ring is stopped. On any failure the
     * model gets its own state back, so the session goes on as before.
     *
     * @return null, or why the state was not applied
     */
    private String restoreModel(byte[] bytes) {
        for (Queue q : queues) {
            if (q.started) {
                return "ring " + q.index + " was started before CHECK_DEVICE_STATE; the state is not applied";
            }
        }
        VirtioDeviceState before = model.state();
        List<VirtqueueConfig> slept;
        byte[] own;
        try {
            slept = before.isAsleep() ? List.of() : model.sleep();
            own = model.snapshot();
        } catch (VhostException | RuntimeException e) {
            return "putting the device model to sleep failed: " + e.getMessage();
        }
        try {
            model.restore(bytes);
            wakeRestored();
            LOG.info("{}: device state of {} bytes loaded; model {}", name, bytes.length, model.state());
            return null;
        } catch (VhostException | RuntimeException e) {
            String why = "the device model refused the " + bytes.length + "-byte state: " + e.getMessage();
            try {
                if (model.state().isAsleep()) {
                    model.restore(own);
                    if (!before.isAsleep()) {
                        model.wake(slept);
                    }
                }
            } catch (VhostException | RuntimeException again) {
                LOG.error("{}: putting the device model back as it was failed too: {}", name, again.getMessage());
            }
            return why;
        }
    }

    /**
     * Wakes a model just restored as NEW or INACTIVE. One restored as active stays asleep until
     * the first ring starts (then it is rebound to this session's memory and woken with the
     * rings: see {@link #reconcile}); a model that cannot be rebound must wake now, over its own
     * memory.
     */
    private void wakeRestored() throws VhostException {
        if (model.state() != VirtioDeviceState.ASLEEP_ACTIVE || !(model instanceof RebindableDevice)) {
            model.wake(List.of());
        }
        running = List.of();
    }

    // ---------------------------------------------------------------- features

    private void setFeatures(long f) throws VhostException, Refusal {
        expectFds(FrontendRequest.SET_FEATURES, 0);
        if ((f & ~offeredFeatures) != 0) {
            throw new Refusal(String.format("features 0x%x were not offered (offered 0x%x)", f & ~offeredFeatures, offeredFeatures));
        }
        if (!VirtioFeatures.has(f, VirtioFeatures.F_VERSION_1)) {
            // A legacy driver cannot be served: fail even when no ack was requested.
            throw new Refusal(String.format("features 0x%x lack VIRTIO_F_VERSION_1 (bit 32); legacy front-ends are not served", f), true);
        }
        long device = f & ~VhostFeatures.bit(VhostFeatures.F_PROTOCOL_FEATURES);
        if (device != model.ackedFeatures()) {
            try {
                model.ackFeatures(device);
            } catch (RuntimeException e) {
                throw new Refusal("the device model refused features 0x" + Long.toHexString(device) + ": " + e.getMessage());
            }
        }
        ackedFeatures = f;
    }

    private void reackFeatures() throws Refusal {
        long device = ackedFeatures & ~VhostFeatures.bit(VhostFeatures.F_PROTOCOL_FEATURES);
        if (device != 0 && model.ackedFeatures() != device) {
            try {
                model.ackFeatures(device);
            } catch (RuntimeException e) {
                throw new Refusal("the device model refused features 0x" + Long.toHexString(device) + " after a reset: " + e.getMessage());
            }
        }
    }

    private void requireProtocol(VhostUserProtocolFeature f, FrontendRequest req) throws Refusal {
        if (!f.in(ackedProtocol)) {
            throw new Refusal(req + " needs protocol feature " + f + ", which was not negotiated");
        }
    }

    // ---------------------------------------------------------------- memory

    private void setMemTable(MemTablePayload t) throws VhostException, Refusal {
        expectFds(FrontendRequest.SET_MEM_TABLE, t.regions().size());
        List<Mapped> fresh = new ArrayList<>(t.regions().size());
        try {
            for (MemRegionPayload r : t.regions()) {
                fresh.add(map(r, rxFds.removeFirst()));
            }
        } catch (Refusal | VhostException | RuntimeException e) {
            fresh.forEach(Mapped::close);
            throw e;
        }
        replaceMemory(fresh, List.copyOf(regions));
    }

    private void addMemRegion(MemRegionPayload r) throws VhostException, Refusal {
        expectFds(FrontendRequest.ADD_MEM_REG, 1);
        requireProtocol(VhostUserProtocolFeature.CONFIGURE_MEM_SLOTS, FrontendRequest.ADD_MEM_REG);
        if (regions.size() >= MAX_MEM_SLOTS) {
            throw new Refusal("all " + MAX_MEM_SLOTS + " memory slots are in use");
        }
        Mapped m = map(r, rxFds.removeFirst());
        List<Mapped> next = new ArrayList<>(regions);
        next.add(m);
        try {
            replaceMemory(next, List.of());
        } catch (Refusal | VhostException | RuntimeException e) {
            m.close();
            throw e;
        }
    }

    private void removeMemRegion(MemRegionPayload r) throws VhostException, Refusal {
        requireProtocol(VhostUserProtocolFeature.CONFIGURE_MEM_SLOTS, FrontendRequest.REM_MEM_REG);
        if (rxFds.size() > 1) {
            throw new VhostProtocolException("REM_MEM_REG carried " + rxFds.size() + " fds, expected at most 1");
        }
        closeRxFds(); // older front-ends attach the region's fd; it is not needed to unmap
        Mapped found = null;
        for (Mapped m : regions) {
            if (m.wire().guestAddr() == r.guestAddr() && m.wire().size() == r.size() && m.wire().userAddr() == r.userAddr()) {
                found = m;
            }
        }
        if (found == null) {
            throw new Refusal(String.format("no memory region at guest 0x%x of 0x%x bytes", r.guestAddr(), r.size()));
        }
        List<Mapped> next = new ArrayList<>(regions);
        next.remove(found);
        replaceMemory(next, List.of(found));
    }

    private Mapped map(MemRegionPayload r, OwnedFd fd) throws VhostException, Refusal {
        long aligned = r.mmapOffset() & -PAGE;
        long lead = r.mmapOffset() - aligned;
        SharedMemory shm;
        try {
            shm = SharedMemory.map(fd.fd(), aligned, Math.addExact(r.size(), lead));
        } catch (VhostException | RuntimeException e) {
            fd.close();
            throw new Refusal(String.format("mapping region guest 0x%x size 0x%x (fd offset 0x%x) failed: %s",
                    r.guestAddr(), r.size(), r.mmapOffset(), e.getMessage()));
        }
        MemorySegment seg = shm.segment().asSlice(lead, r.size());
        return new Mapped(r, fd, shm, new GuestMemoryRegion(r.guestAddr(), r.size(), r.userAddr(), fd.fd(), r.mmapOffset(), seg));
    }

    /** Installs {@code next} as the memory table, re-activating a running model, then unmaps {@code retired}. */
    private void replaceMemory(List<Mapped> next, List<Mapped> retired) throws VhostException, Refusal {
        List<GuestMemoryRegion> rs = new ArrayList<>(next.size());
        for (Mapped m : next) {
            rs.add(m.region());
        }
        rs.sort((a, b) -> Long.compareUnsigned(a.guestAddr(), b.guestAddr()));
        GuestMemory mem;
        try {
            mem = GuestMemoryMap.of(rs);
        } catch (RuntimeException e) {
            throw new Refusal("invalid memory table: " + e.getMessage());
        }
        GuestMemory old = memory;
        memory = mem;
        try {
            reconcile(true, -1);
        } catch (Refusal | VhostException | RuntimeException e) {
            memory = old;
            throw e;
        }
        regions.clear();
        regions.addAll(next);
        retired.forEach(Mapped::close);
    }

    // ---------------------------------------------------------------- vrings

    private Queue queue(FrontendRequest req, int index) throws Refusal {
        if (index < 0 || index >= queues.length) {
            throw new Refusal(req + ": queue index " + Integer.toUnsignedString(index) + " out of range (device has " + queues.length + " queues)");
        }
        return queues[index];
    }

    private void requireStopped(FrontendRequest req, Queue q) throws Refusal {
        if (q.started) {
            throw new Refusal(req + " for queue " + q.index + " while the ring is started (stop it with GET_VRING_BASE first)");
        }
    }

    private void setVringKick(VringFilePayload f) throws VhostException, Refusal {
        expectFds(FrontendRequest.SET_VRING_KICK, f.noFd() ? 0 : 1);
        Queue q = queue(FrontendRequest.SET_VRING_KICK, f.index());
        OwnedFd kick = f.noFd() ? null : rxFds.removeFirst();
        boolean wasStarted = q.started;
        OwnedFd oldKick = q.kick;
        q.kick = kick;
        q.kickFd = kick == null ? -1 : kick.fd();
        q.started = true;
        try {
            // a new kick fd for a running ring restarts it with the new fd
            reconcile(false, wasStarted ? q.index : -1);
        } catch (Refusal | VhostException | RuntimeException e) {
            q.started = wasStarted;
            q.kick = oldKick;
            q.kickFd = oldKick == null ? -1 : oldKick.fd();
            if (kick != null) {
                kick.close();
            }
            throw e;
        }
        if (oldKick != null) {
            oldKick.close();
        }
    }

    private void setVringCall(VringFilePayload f) throws VhostException, Refusal {
        expectFds(FrontendRequest.SET_VRING_CALL, f.noFd() ? 0 : 1);
        Queue q = queue(FrontendRequest.SET_VRING_CALL, f.index());
        EventFd call = f.noFd() ? null : EventFd.wrap(rxFds.removeFirst().release());
        q.callFd = call == null ? -1 : call.fd();
        // the old eventfd stays open until a running model was woken with the new fd
        EventFd old = interrupt.swap(q.index, call);
        try {
            if (running.contains(q.index)) {
                reconcile(false, q.index);
            }
        } finally {
            if (old != null) {
                old.close();
            }
        }
    }

    private boolean enabled(Queue q) {
        return q.enableSet ? q.enabled : !VhostFeatures.has(ackedFeatures, VhostFeatures.F_PROTOCOL_FEATURES) && !protocolFeaturesSet;
    }

    /**
     * Brings the model in line with the set of started and enabled rings.
     *
     * @param memoryChanged the memory table was replaced: a running model is reset and
     *     re-activated over the new memory (its queues keep their {@code nextAvail})
     * @param restartIndex a queue whose kick or call fd changed (-1: none): if it runs on an
     *     active model it is stopped and started again with the new fds (the whole model is put
     *     to sleep and woken when it cannot restart single queues), even when the set of rings
     *     is the same
     */
    private void reconcile(boolean memoryChanged, int restartIndex) throws VhostException, Refusal {
        List<Integer> want = new ArrayList<>();
        for (Queue q : queues) {
            if (q.started && enabled(q)) {
                want.add(q.index);
            }
        }
        VirtioDeviceState st = model.state();
        boolean restart = restartIndex >= 0 && running.contains(restartIndex) && st == VirtioDeviceState.ACTIVE;
        if (want.equals(running) && !memoryChanged && !restart) {
            return;
        }
        // Validate the new set first (memory, sizes, addresses) so that a refusal leaves the
        // model untouched; the real configs are built after sleep() reported the bases.
        configs(want);
        if (st == VirtioDeviceState.ACTIVE && !memoryChanged && model instanceof PerQueueDevice pq) {
            changeQueues(pq, want, restart ? restartIndex : -1);
            return;
        }
        if (st == VirtioDeviceState.ACTIVE) {
            List<VirtqueueConfig> slept = model.sleep();
            for (VirtqueueConfig c : slept) {
                if (c.index() >= 0 && c.index() < queues.length) {
                    queues[c.index()].base = c.nextAvail();
                }
            }
            if (memoryChanged) {
                model.wake(List.of());
                model.reset();
                running = List.of();
                // a reset forgets the acked features (VIRTIO 1.2, 2.1.2); ack them again
                reackFeatures();
                if (!want.isEmpty()) {
                    model.activate(memory, interrupt, configs(want));
                }
            } else {
                model.wake(configs(want));
            }
        } else if (st == VirtioDeviceState.NEW || st == VirtioDeviceState.INACTIVE) {
            if (!want.isEmpty()) {
                reackFeatures();
                model.activate(memory, interrupt, configs(want));
            }
        } else if (st == VirtioDeviceState.ASLEEP_ACTIVE) {
            // left asleep by a device state SAVE or LOAD while every ring was stopped: it runs
            // again with the first ring started, over this session's memory
            if (!want.isEmpty()) {
                if (model instanceof RebindableDevice r) {
                    r.rebind(memory, interrupt);
                }
                reackFeatures();
                model.wake(configs(want));
            }
        } else {
            throw new Refusal("the device model is " + st + "; cannot change its running queues");
        }
        running = List.copyOf(want);
    }

    /**
     * Stops the running queues that are not in {@code want} (and {@code restartIndex}), reading
     * their bases, then starts those of {@code want} that do not run; the others run on.
     */
    private void changeQueues(PerQueueDevice pq, List<Integer> want, int restartIndex) throws VhostException, Refusal {
        List<Integer> now = new ArrayList<>(running);
        try {
            for (int i : running) {
                if (i == restartIndex || !want.contains(i)) {
                    VirtqueueConfig c = pq.stopQueue(i);
                    if (c != null) {
                        queues[i].base = c.nextAvail();
                    }
                    now.remove(Integer.valueOf(i));
                }
            }
            for (int i : want) {
                if (!now.contains(i)) {
                    pq.startQueue(config(queues[i]));
                    now.add(i);
                }
            }
        } finally {
            now.sort(null);
            running = List.copyOf(now);
        }
    }

    private List<VirtqueueConfig> configs(List<Integer> indices) throws Refusal {
        List<VirtqueueConfig> out = new ArrayList<>(indices.size());
        for (int i : indices) {
            out.add(config(queues[i]));
        }
        return out;
    }

    private VirtqueueConfig config(Queue q) throws Refusal {
        if (memory == null) {
            throw new Refusal("queue " + q.index + " started before SET_MEM_TABLE");
        }
        if (q.num == 0) {
            throw new Refusal("queue " + q.index + " started before SET_VRING_NUM");
        }
        if (q.addr == null) {
            throw new Refusal("queue " + q.index + " started before SET_VRING_ADDR");
        }
        long desc = gpa(q, "descriptor table", q.addr.descUserAddr(), SplitVirtqueueLayout.descTableBytes(q.num));
        long avail = gpa(q, "available ring", q.addr.availUserAddr(), SplitVirtqueueLayout.availRingBytes(q.num));
        long used = gpa(q, "used ring", q.addr.usedUserAddr(), SplitVirtqueueLayout.usedRingBytes(q.num));
        try {
            return new VirtqueueConfig(q.index, q.num, desc, avail, used, q.base, q.kickFd, q.callFd, true);
        } catch (IllegalArgumentException e) {
            throw new Refusal(e.getMessage());
        }
    }

    private long gpa(Queue q, String part, long userAddr, long bytes) throws Refusal {
        long g;
        try {
            g = memory.guestAddrOfUser(userAddr);
        } catch (RuntimeException e) {
            throw new Refusal(String.format("queue %d: %s at user address 0x%x is in no memory region", q.index, part, userAddr));
        }
        if (!memory.contains(g, bytes)) {
            throw new Refusal(String.format("queue %d: %s at guest 0x%x (%d bytes) is not inside one memory region", q.index, part, g, bytes));
        }
        return g;
    }

    private void resetDevice() throws VhostException {
        resetModel();
        running = List.of();
        for (Queue q : queues) {
            clearQueue(q);
        }
        ackedFeatures = 0;
        status.set(0);
    }

    /**
     * Brings the model to rest (INACTIVE, or NEW when never activated): an asleep one is woken
     * first with no queue (over no memory when it was restored here and never activated), an
     * active one is reset.
     */
    private void resetModel() throws VhostException {
        VirtioDeviceState st = model.state();
        if (st == VirtioDeviceState.ASLEEP_ACTIVE && model instanceof RebindableDevice r) {
            r.rebind(GuestMemoryMap.of(List.of()), interrupt);
        }
        if (st.isAsleep()) {
            model.wake(List.of());
        }
        if (model.state() == VirtioDeviceState.ACTIVE) {
            model.reset();
        }
    }

    private void clearQueue(Queue q) {
        if (q.kick != null) {
            q.kick.close();
        }
        if (q.err != null) {
            q.err.close();
        }
        EventFd call = interrupt.swap(q.index, null);
        if (call != null) {
            call.close();
        }
        q.kick = null;
        q.err = null;
        q.kickFd = -1;
        q.callFd = -1;
        q.num = 0;
        q.addr = null;
        q.base = 0;
        q.started = false;
        q.enableSet = false;
        q.enabled = false;
    }

    /** Ends the session: resets an active model, closes every fd and unmaps memory. */
    void close() {
        try {
            resetModel();
        } catch (VhostException | RuntimeException e) {
            LOG.error("{}: resetting the device model after disconnect failed: {}", name, e.getMessage());
        }
        running = List.of();
        for (Queue q : queues) {
            clearQueue(q);
        }
        regions.forEach(Mapped::close);
        regions.clear();
        memory = null;
        BackendChannel ch = backendChannel;
        backendChannel = null;
        if (ch != null) {
            ch.close();
        }
        closeRxFds();
        conn.close();
    }

    /** The model's config-change interrupt: CONFIG_CHANGE_MSG on the backend request channel. */
    private void notifyConfigChanged() {
        BackendChannel ch = backendChannel;
        if (ch == null) {
            LOG.info("{}: config change not forwarded: the front-end set up no backend request channel", name);
            return;
        }
        try {
            ch.notify(com.vhost.user.message.BackendRequest.CONFIG_CHANGE_MSG);
        } catch (VhostException e) {
            LOG.warn("{}: sending CONFIG_CHANGE_MSG failed: {}", name, e.getMessage());
        }
    }

    // ---------------------------------------------------------------- replies and fds

    private void replyU64(FrontendRequest req, long v) throws VhostException {
        new U64Payload(v).encode(conn.sendPayload(), 0);
        conn.send(MessageHeader.reply(req.code(), U64Payload.SIZE), null);
    }

    private void ack(FrontendRequest req, long v) throws VhostException {
        replyU64(req, v);
    }

    private void expectNoPayload(FrontendRequest req, int size) throws VhostProtocolException {
        if (size != 0) {
            throw new VhostProtocolException("payload of " + size + " bytes, expected none");
        }
        expectFds(req, 0);
    }

    private void expectFds(FrontendRequest req, int n) throws VhostProtocolException {
        if (rxFds.size() != n) {
            throw new VhostProtocolException("carried " + rxFds.size() + " fds, expected " + n);
        }
    }

    private void closeRxFds() {
        for (OwnedFd fd : rxFds) {
            fd.close();
        }
        rxFds.clear();
    }
}
