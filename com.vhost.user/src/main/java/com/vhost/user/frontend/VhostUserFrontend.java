package com.vhost.user.frontend;

import com.vhost.api.DeviceStateBackend;
import com.vhost.api.IotlbMessage;
import com.vhost.api.MemoryRegion;
import com.vhost.api.VhostBackend;
import com.vhost.api.VhostException;
import com.vhost.api.VhostFeatureException;
import com.vhost.api.VhostFeatures;
import com.vhost.api.VhostProtocolException;
import com.vhost.api.VhostRefusedException;
import com.vhost.api.VhostTimeoutException;
import com.vhost.api.VringAddr;
import com.vhost.api.user.DeviceStateDirection;
import com.vhost.api.user.DeviceStatePhase;
import com.vhost.api.user.InflightRegion;
import com.vhost.api.user.VhostUserBackend;
import com.vhost.api.user.VhostUserProtocolFeature;
import com.vhost.api.user.VringRequest;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.spi.nativeio.OwnedFd;
import com.vhost.user.connection.VhostUserConnection;
import com.vhost.user.message.ConfigPayload;
import com.vhost.user.message.DeviceStatePayload;
import com.vhost.user.message.FrontendRequest;
import com.vhost.user.message.InflightPayload;
import com.vhost.user.message.IotlbPayload;
import com.vhost.user.message.LogPayload;
import com.vhost.user.message.MemRegionPayload;
import com.vhost.user.message.MemTablePayload;
import com.vhost.user.message.MessageHeader;
import com.vhost.user.message.SingleMemRegionPayload;
import com.vhost.user.message.U64Payload;
import com.vhost.user.message.VringAddrPayload;
import com.vhost.user.message.VringFilePayload;
import com.vhost.user.message.VringState;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The vhost-user front-end: every {@link VhostUserBackend} operation (the neutral
 * {@link VhostBackend} ones and vhost-user's own) as a message on one {@link VhostUserConnection}
 * (QEMU {@code docs/interop/vhost-user.rst}; rust-vmm {@code vhost_user/frontend.rs}). Device
 * state moves through a pipe ({@link StateTransfer}).
 *
 * <p>Rules it enforces:
 * <ul>
 *   <li>Every reply is checked against its request: same request code, REPLY flag set, the
 *       expected payload, no fds unless the request returns one. A mismatch is a
 *       {@link VhostProtocolException} and closes the connection (the stream is out of step).</li>
 *   <li>With REPLY_ACK negotiated, requests without a reply of their own set NEED_REPLY and wait
 *       for the {@code u64} ack; a non-zero ack is a {@link VhostRefusedException} naming the
 *       request and queue. Without REPLY_ACK no ack is awaited.</li>
 *   <li>An operation that needs a protocol feature the back-end did not negotiate throws
 *       {@link VhostFeatureException} without touching the socket.</li>
 *   <li>Every wait for a reply is bounded by the reply timeout ({@link VhostTimeoutException}).</li>
 *   <li>Errors carry their context: {@code "SET_VRING_ADDR for queue 1: ..."}.</li>
 * </ul>
 *
 * <p>Like QEMU, {@link #setFeatures} adds {@code VHOST_USER_F_PROTOCOL_FEATURES} (bit 30) when the
 * back-end offered it, so that rings start disabled and {@link #setVringEnable} is available;
 * features the back-end did not offer are refused with {@link VhostFeatureException}.
 * {@link #getProtocolFeatures} first runs GET_FEATURES when that was not done yet (the protocol
 * features exist only when bit 30 is offered), and {@link #setProtocolFeatures} likewise runs
 * GET_PROTOCOL_FEATURES. Setting BACKEND_REQ opens the backend request channel
 * (SET_BACKEND_REQ_FD over a socketpair): CONFIG_CHANGE_MSG then runs the
 * {@link #setConfigChangeListener config change listener}.
 * Not thread-safe (one thread drives the control path), as {@link VhostBackend} states.
 */
public final class VhostUserFrontend implements VhostUserBackend {
    /** Default bound on each wait for a reply, in milliseconds. */
    public static final int DEFAULT_REPLY_TIMEOUT_MS = 10_000;
    /** Largest queue index a SET_VRING_KICK/CALL/ERR payload can name. */
    public static final int MAX_VRING_FILE_INDEX = 0xFF;

    private static final Logger LOG = LoggerFactory.getLogger(VhostUserFrontend.class);
    private static final long PROTOCOL_FEATURES_BIT = VhostFeatures.bit(VhostFeatures.F_PROTOCOL_FEATURES);

    final VhostUserConnection conn;
    private final String description;
    final List<OwnedFd> rxFds = new ArrayList<>(VhostUserConnection.MAX_FDS);
    private boolean backendFeaturesKnown;
    private long backendFeatures;
    private boolean protocolFeaturesKnown;
    private long offeredProtocolFeatures;
    private long ackedFeatures;
    private long ackedProtocolFeatures;
    private volatile Runnable configChangeListener;
    private BackendRequestChannel backendChannel;

    /**
     * @param connection a connected channel to the back-end; this front-end owns and closes it
     * @param description for {@link #describe()}, e.g. {@code "vhost-user:/tmp/vub.sock"}
     * @param replyTimeoutMs bound on each wait for a reply in milliseconds, {@code > 0}
     */
    public VhostUserFrontend(VhostUserConnection connection, String description, int replyTimeoutMs) {
        if (replyTimeoutMs <= 0) {
            throw new IllegalArgumentException("reply timeout must be > 0 ms, was " + replyTimeoutMs);
        }
        this.conn = connection;
        this.description = description;
        connection.setTimeouts(replyTimeoutMs, replyTimeoutMs);
    }

    @Override
    public String describe() {
        return description;
    }

    @Override
    public boolean isConnected() {
        return conn.isOpen() && !conn.peerClosed();
    }

    @Override
    public long negotiatedProtocolFeatures() {
        return ackedProtocolFeatures;
    }

    /** @return the virtio features sent by {@link #setFeatures} (0 before) */
    public long negotiatedFeatures() {
        return ackedFeatures;
    }

    // ---------------------------------------------------------------- features and ownership

    @Override
    public long getFeatures() throws VhostException {
        return call(FrontendRequest.GET_FEATURES, -1, () -> {
            long f = requestU64(FrontendRequest.GET_FEATURES, 0, null);
            backendFeatures = f;
            backendFeaturesKnown = true;
            return f;
        });
    }

    @Override
    public void setFeatures(long features) throws VhostException {
        call(FrontendRequest.SET_FEATURES, -1, () -> {
            long f = features;
            if (backendFeaturesKnown) {
                long extra = f & ~backendFeatures;
                if (extra != 0) {
                    throw new VhostFeatureException("SET_FEATURES: features 0x" + Long.toHexString(extra)
                            + " were not offered by the back-end (offered 0x" + Long.toHexString(backendFeatures) + ")");
                }
                f |= backendFeatures & PROTOCOL_FEATURES_BIT;
            }
            new U64Payload(f).encode(conn.sendPayload(), 0);
            requestWithAck(FrontendRequest.SET_FEATURES, -1, U64Payload.SIZE, null);
            ackedFeatures = f;
            return null;
        });
    }

    @Override
    public void setOwner() throws VhostException {
        simple(FrontendRequest.SET_OWNER);
    }

    @Override
    public void resetOwner() throws VhostException {
        simple(FrontendRequest.RESET_OWNER);
    }

    @Override
    public long getProtocolFeatures() throws VhostException {
        if (!backendFeaturesKnown) {
            getFeatures();
        }
        return call(FrontendRequest.GET_PROTOCOL_FEATURES, -1, () -> {
            if (!VhostFeatures.has(backendFeatures, VhostFeatures.F_PROTOCOL_FEATURES)) {
                throw new VhostFeatureException("GET_PROTOCOL_FEATURES: the back-end does not offer "
                        + "VHOST_USER_F_PROTOCOL_FEATURES (features 0x" + Long.toHexString(backendFeatures) + ")");
            }
            long p = requestU64(FrontendRequest.GET_PROTOCOL_FEATURES, 0, null);
            offeredProtocolFeatures = p;
            protocolFeaturesKnown = true;
            return p;
        });
    }

    @Override
    public void setProtocolFeatures(long features) throws VhostException {
        if (!protocolFeaturesKnown) {
            getProtocolFeatures();
        }
        call(FrontendRequest.SET_PROTOCOL_FEATURES, -1, () -> {
            long extra = features & ~offeredProtocolFeatures;
            if (extra != 0) {
                throw new VhostFeatureException("SET_PROTOCOL_FEATURES: " + VhostUserProtocolFeature.describe(extra)
                        + " not offered by the back-end (offered " + VhostUserProtocolFeature.describe(offeredProtocolFeatures) + ")");
            }
            new U64Payload(features).encode(conn.sendPayload(), 0);
            // No ack here: REPLY_ACK only takes effect once this message was processed.
            send(FrontendRequest.SET_PROTOCOL_FEATURES, U64Payload.SIZE, null, false);
            ackedProtocolFeatures = features;
            return null;
        });
        if (VhostUserProtocolFeature.BACKEND_REQ.in(features) && backendChannel == null) {
            call(FrontendRequest.SET_BACKEND_REQ_FD, -1, () -> {
                backendChannel = BackendRequestChannel.open(this, description);
                try {
                    // header only, the socket rides as the message's one fd (as QEMU and rust-vmm send it)
                    requestWithAck(FrontendRequest.SET_BACKEND_REQ_FD, -1, 0, new int[] {backendChannel.peerFd()});
                } finally {
                    backendChannel.closePeerFd();
                }
                return null;
            });
        }
    }

    @Override
    public int getQueueNum() throws VhostException {
        return call(FrontendRequest.GET_QUEUE_NUM, -1, () -> {
            requireProtocol(VhostUserProtocolFeature.MQ, FrontendRequest.GET_QUEUE_NUM);
            return FrontendErrors.toInt(FrontendRequest.GET_QUEUE_NUM, requestU64(FrontendRequest.GET_QUEUE_NUM, 0, null));
        });
    }

    @Override
    public int getMaxMemSlots() throws VhostException {
        return call(FrontendRequest.GET_MAX_MEM_SLOTS, -1, () -> {
            requireProtocol(VhostUserProtocolFeature.CONFIGURE_MEM_SLOTS, FrontendRequest.GET_MAX_MEM_SLOTS);
            return FrontendErrors.toInt(FrontendRequest.GET_MAX_MEM_SLOTS, requestU64(FrontendRequest.GET_MAX_MEM_SLOTS, 0, null));
        });
    }

    // ---------------------------------------------------------------- memory

    @Override
    public void setMemTable(List<MemoryRegion> regions) throws VhostException {
        call(FrontendRequest.SET_MEM_TABLE, -1, () -> {
            if (regions.isEmpty() || regions.size() > MemTablePayload.MAX_REGIONS) {
                throw new VhostProtocolException("SET_MEM_TABLE: " + regions.size() + " regions, expected 1.." + MemTablePayload.MAX_REGIONS);
            }
            int[] fds = new int[regions.size()];
            List<MemRegionPayload> wire = new ArrayList<>(regions.size());
            for (int i = 0; i < regions.size(); i++) {
                MemoryRegion r = regions.get(i);
                if (r.fd() < 0) {
                    throw new VhostProtocolException("SET_MEM_TABLE: region " + i + " (guest 0x" + Long.toHexString(r.guestAddr())
                            + ") has no fd; vhost-user needs shared memory");
                }
                fds[i] = r.fd();
                wire.add(MemRegionPayload.of(r));
            }
            int size = new MemTablePayload(wire).encode(conn.sendPayload(), 0);
            requestWithAck(FrontendRequest.SET_MEM_TABLE, -1, size, fds);
            return null;
        });
    }

    @Override
    public void addMemRegion(MemoryRegion region) throws VhostException {
        call(FrontendRequest.ADD_MEM_REG, -1, () -> {
            requireProtocol(VhostUserProtocolFeature.CONFIGURE_MEM_SLOTS, FrontendRequest.ADD_MEM_REG);
            if (region.fd() < 0) {
                throw new VhostProtocolException("ADD_MEM_REG: region at guest 0x" + Long.toHexString(region.guestAddr()) + " has no fd");
            }
            int size = new SingleMemRegionPayload(MemRegionPayload.of(region)).encode(conn.sendPayload(), 0);
            requestWithAck(FrontendRequest.ADD_MEM_REG, -1, size, new int[] {region.fd()});
            return null;
        });
    }

    @Override
    public void removeMemRegion(MemoryRegion region) throws VhostException {
        call(FrontendRequest.REM_MEM_REG, -1, () -> {
            requireProtocol(VhostUserProtocolFeature.CONFIGURE_MEM_SLOTS, FrontendRequest.REM_MEM_REG);
            int size = new SingleMemRegionPayload(MemRegionPayload.of(region)).encode(conn.sendPayload(), 0);
            requestWithAck(FrontendRequest.REM_MEM_REG, -1, size, null);
            return null;
        });
    }

    @Override
    public void setLogBase(int fd, long size, long offset) throws VhostException {
        call(FrontendRequest.SET_LOG_BASE, -1, () -> {
            requireProtocol(VhostUserProtocolFeature.LOG_SHMFD, FrontendRequest.SET_LOG_BASE);
            if (fd < 0) {
                throw new VhostProtocolException("SET_LOG_BASE: vhost-user needs the log's shared-memory fd, got " + fd);
            }
            send(FrontendRequest.SET_LOG_BASE, new LogPayload(size, offset).encode(conn.sendPayload(), 0), new int[] {fd}, replyAck());
            // The back-end replies once it mapped the log; payloads differ: this back-end a u64 0 (1 refused),
            // libvhost-user a u64 left holding mmap_size, DPDK none, rust-vmm the request's 16 bytes (QEMU reads none).
            MessageHeader h = receiveReply(FrontendRequest.SET_LOG_BASE, false);
            long v = h.size() == U64Payload.SIZE ? U64Payload.decode("SET_LOG_BASE reply", conn.receivePayload(), 0, h.size()).value() : 0;
            if (v != 0 && v != size) {
                throw new VhostRefusedException(FrontendRequest.SET_LOG_BASE.name(), v, "log of " + size + " bytes");
            }
            return null;
        });
    }

    // ---------------------------------------------------------------- vrings

    @Override
    public void setVringNum(int index, int num) throws VhostException {
        vringState(FrontendRequest.SET_VRING_NUM, index, num);
    }

    @Override
    public void setVringAddr(VringAddr addr) throws VhostException {
        call(FrontendRequest.SET_VRING_ADDR, addr.index(), () -> {
            int n = VringAddrPayload.encode(addr, conn.sendPayload(), 0);
            requestWithAck(FrontendRequest.SET_VRING_ADDR, addr.index(), n, null);
            return null;
        });
    }

    @Override
    public void setVringBase(int index, int base) throws VhostException {
        vringState(FrontendRequest.SET_VRING_BASE, index, base);
    }

    @Override
    public int getVringBase(int index) throws VhostException {
        return call(FrontendRequest.GET_VRING_BASE, index, () -> {
            int n = new VringState(index, 0).encode(conn.sendPayload(), 0);
            send(FrontendRequest.GET_VRING_BASE, n, null, false);
            MessageHeader h = receiveReply(FrontendRequest.GET_VRING_BASE, false);
            VringState s = VringState.decode("GET_VRING_BASE reply", conn.receivePayload(), 0, h.size());
            if (s.index() != index) {
                throw new VhostProtocolException("GET_VRING_BASE reply names queue " + Integer.toUnsignedString(s.index())
                        + ", expected " + index);
            }
            return s.num();
        });
    }

    @Override
    public void setVringKick(int index, int fd) throws VhostException {
        vringFile(FrontendRequest.SET_VRING_KICK, index, fd);
    }

    @Override
    public void setVringCall(int index, int fd) throws VhostException {
        vringFile(FrontendRequest.SET_VRING_CALL, index, fd);
    }

    @Override
    public void setVringErr(int index, int fd) throws VhostException {
        vringFile(FrontendRequest.SET_VRING_ERR, index, fd);
    }

    /** Sends the batch at once and then reads the replies in order ({@link FrontendPipeline}). */
    @Override
    public long[] pipeline(List<VringRequest> requests) throws VhostException {
        return FrontendPipeline.run(this, requests);
    }

    @Override
    public void setVringEnable(int index, boolean enable) throws VhostException {
        call(FrontendRequest.SET_VRING_ENABLE, index, () -> {
            if (!VhostFeatures.has(ackedFeatures, VhostFeatures.F_PROTOCOL_FEATURES)) {
                throw new VhostFeatureException("SET_VRING_ENABLE for queue " + index
                        + " needs VHOST_USER_F_PROTOCOL_FEATURES negotiated by SET_FEATURES");
            }
            int n = new VringState(index, enable ? 1 : 0).encode(conn.sendPayload(), 0);
            requestWithAck(FrontendRequest.SET_VRING_ENABLE, index, n, null);
            return null;
        });
    }

    // ---------------------------------------------------------------- config

    @Override
    public byte[] getConfig(int offset, int size) throws VhostException {
        return call(FrontendRequest.GET_CONFIG, -1, () -> {
            requireProtocol(VhostUserProtocolFeature.CONFIG, FrontendRequest.GET_CONFIG);
            if (size < 0 || offset < 0) {
                throw new VhostProtocolException("GET_CONFIG: negative offset " + offset + " or size " + size);
            }
            int n = new ConfigPayload(offset, 0, new byte[size]).encode(conn.sendPayload(), 0);
            send(FrontendRequest.GET_CONFIG, n, null, false);
            MessageHeader h = receiveReply(FrontendRequest.GET_CONFIG, false);
            ConfigPayload reply = ConfigPayload.decode("GET_CONFIG reply", conn.receivePayload(), 0, h.size());
            if (reply.offset() != offset || reply.size() != size) {
                throw new VhostProtocolException("GET_CONFIG reply covers offset " + reply.offset() + " size " + reply.size()
                        + ", asked for offset " + offset + " size " + size);
            }
            return reply.data();
        });
    }

    @Override
    public void setConfig(int offset, byte[] data) throws VhostException {
        call(FrontendRequest.SET_CONFIG, -1, () -> {
            requireProtocol(VhostUserProtocolFeature.CONFIG, FrontendRequest.SET_CONFIG);
            if (offset < 0) {
                throw new VhostProtocolException("SET_CONFIG: negative offset " + offset);
            }
            int n = new ConfigPayload(offset, 0, data).encode(conn.sendPayload(), 0);
            requestWithAck(FrontendRequest.SET_CONFIG, -1, n, null);
            return null;
        });
    }

    // ---------------------------------------------------------------- inflight, device state, iotlb

    @Override
    public InflightRegion getInflightFd(int numQueues, int queueSize) throws VhostException {
        return call(FrontendRequest.GET_INFLIGHT_FD, -1, () -> {
            requireProtocol(VhostUserProtocolFeature.INFLIGHT_SHMFD, FrontendRequest.GET_INFLIGHT_FD);
            int n = new InflightPayload(0, 0, numQueues, queueSize).encode(conn.sendPayload(), 0);
            send(FrontendRequest.GET_INFLIGHT_FD, n, null, false);
            MessageHeader h = receiveReply(FrontendRequest.GET_INFLIGHT_FD, true);
            try {
                InflightPayload p = InflightPayload.decode("GET_INFLIGHT_FD reply", conn.receivePayload(), 0, h.size());
                int expectedFds = p.mmapSize() == 0 ? 0 : 1;
                if (rxFds.size() != expectedFds) {
                    throw new VhostProtocolException("GET_INFLIGHT_FD reply of " + p.mmapSize() + " bytes carried " + rxFds.size()
                            + " fds, expected " + expectedFds);
                }
                int fd = expectedFds == 0 ? -1 : rxFds.get(0).release();
                rxFds.clear();
                return new InflightRegion(p.mmapSize(), p.mmapOffset(), p.numQueues(), p.queueSize(), fd);
            } finally {
                closeRxFds();
            }
        });
    }

    @Override
    public void setInflightFd(InflightRegion region) throws VhostException {
        call(FrontendRequest.SET_INFLIGHT_FD, -1, () -> {
            requireProtocol(VhostUserProtocolFeature.INFLIGHT_SHMFD, FrontendRequest.SET_INFLIGHT_FD);
            if (region.fd() < 0) {
                throw new VhostProtocolException("SET_INFLIGHT_FD: the region has no fd");
            }
            int n = new InflightPayload(region.mmapSize(), region.mmapOffset(), region.numQueues(), region.queueSize())
                    .encode(conn.sendPayload(), 0);
            requestWithAck(FrontendRequest.SET_INFLIGHT_FD, -1, n, new int[] {region.fd()});
            return null;
        });
    }

    /** SET_DEVICE_STATE_FD and its reply ({@link StateTransfer#sendSetFd}, {@link StateTransfer#receiveSetFd}). */
    @Override
    public int setDeviceStateFd(DeviceStateDirection direction, DeviceStatePhase phase, int fd) throws VhostException {
        StateTransfer.sendSetFd(this, direction, phase, fd);
        return StateTransfer.receiveSetFd(this, direction);
    }

    /** CHECK_DEVICE_STATE and its reply ({@link StateTransfer#sendCheck}, {@link StateTransfer#receiveCheck}). */
    @Override
    public void checkDeviceState() throws VhostException {
        StateTransfer.sendCheck(this);
        StateTransfer.receiveCheck(this);
    }

    /** @return whether DEVICE_STATE was negotiated (SET_PROTOCOL_FEATURES) */
    @Override
    public boolean canTransferState() {
        return VhostUserProtocolFeature.DEVICE_STATE.in(ackedProtocolFeatures);
    }

    /** SAVE through a pipe, then CHECK_DEVICE_STATE ({@link StateTransfer#save}). */
    @Override
    public byte[] saveState(long timeoutMs) throws VhostException {
        return StateTransfer.save(this, timeoutMs);
    }

    /** LOAD through a pipe, then CHECK_DEVICE_STATE ({@link StateTransfer#load}). */
    @Override
    public void loadState(byte[] state, long timeoutMs) throws VhostException {
        StateTransfer.load(this, state, timeoutMs);
    }

    /**
     * Into another vhost-user back-end: both transfers overlapped ({@link StateTransfer#carry});
     * into any other {@link DeviceStateBackend}, SAVE then LOAD.
     */
    @Override
    public int carryTo(DeviceStateBackend to, long timeoutMs) throws VhostException {
        if (to instanceof VhostUserFrontend next && next != this) {
            return StateTransfer.carry(this, next, timeoutMs);
        }
        byte[] state = saveState(timeoutMs);
        to.loadState(state, timeoutMs);
        return state.length;
    }

    @Override
    public void iotlbMessage(IotlbMessage message) throws VhostException {
        call(FrontendRequest.IOTLB_MSG, -1, () -> {
            if (!VirtioFeatures.has(ackedFeatures, VirtioFeatures.F_ACCESS_PLATFORM)) {
                throw new VhostFeatureException("IOTLB_MSG needs VIRTIO_F_ACCESS_PLATFORM negotiated by SET_FEATURES");
            }
            int n = IotlbPayload.encode(message, conn.sendPayload(), 0);
            // The spec has the back-end acknowledge every IOTLB message, REPLY_ACK or not.
            send(FrontendRequest.IOTLB_MSG, n, null, true);
            awaitAck(FrontendRequest.IOTLB_MSG, -1);
            return null;
        });
    }

    // ---------------------------------------------------------------- status and reset

    @Override
    public void setStatus(int status) throws VhostException {
        call(FrontendRequest.SET_STATUS, -1, () -> {
            requireProtocol(VhostUserProtocolFeature.STATUS, FrontendRequest.SET_STATUS);
            new U64Payload(status & 0xFF).encode(conn.sendPayload(), 0);
            requestWithAck(FrontendRequest.SET_STATUS, -1, U64Payload.SIZE, null);
            return null;
        });
    }

    @Override
    public int getStatus() throws VhostException {
        return call(FrontendRequest.GET_STATUS, -1, () -> {
            requireProtocol(VhostUserProtocolFeature.STATUS, FrontendRequest.GET_STATUS);
            long v = requestU64(FrontendRequest.GET_STATUS, 0, null);
            if ((v & ~0xFFL) != 0) {
                throw new VhostProtocolException("GET_STATUS reply 0x" + Long.toHexString(v) + " is not an 8-bit status");
            }
            return (int) v;
        });
    }

    @Override
    public void resetDevice() throws VhostException {
        if (VhostUserProtocolFeature.RESET_DEVICE.in(ackedProtocolFeatures)) {
            simple(FrontendRequest.RESET_DEVICE);
        } else {
            simple(FrontendRequest.RESET_OWNER);
        }
    }

    @Override
    public void setConfigChangeListener(Runnable listener) {
        this.configChangeListener = listener;
    }

    /** Runs the listener; called by the backend request channel on CONFIG_CHANGE_MSG. */
    void fireConfigChanged() {
        Runnable l = configChangeListener;
        if (l != null) {
            l.run();
        } else {
            LOG.info("{}: back-end reported a config change; no listener registered", description);
        }
    }

    @Override
    public void close() {
        BackendRequestChannel ch = backendChannel;
        backendChannel = null;
        if (ch != null) {
            ch.close();
        }
        closeRxFds();
        conn.close();
    }

    // ---------------------------------------------------------------- plumbing

    @FunctionalInterface
    interface Op<T> {
        T run() throws VhostException;
    }

    /** Runs {@code op}, adding "REQUEST for queue N: " to failures and closing a broken stream. */
    <T> T call(FrontendRequest req, int queue, Op<T> op) throws VhostException {
        try {
            return op.run();
        } catch (VhostException | IllegalArgumentException e) {
            throw FrontendErrors.inContext(queue >= 0 ? req.name() + " for queue " + queue : req.name(), e, conn);
        } finally {
            closeRxFds();
        }
    }

    private void simple(FrontendRequest req) throws VhostException {
        call(req, -1, () -> {
            requestWithAck(req, -1, 0, null);
            return null;
        });
    }

    private void vringState(FrontendRequest req, int index, int num) throws VhostException {
        call(req, index, () -> {
            int n = new VringState(index, num).encode(conn.sendPayload(), 0);
            requestWithAck(req, index, n, null);
            return null;
        });
    }

    private void vringFile(FrontendRequest req, int index, int fd) throws VhostException {
        call(req, index, () -> {
            if (index < 0 || index > MAX_VRING_FILE_INDEX) {
                throw new VhostProtocolException("queue index " + index + " does not fit the 8-bit vring file index");
            }
            int n = new VringFilePayload(index, fd < 0).encode(conn.sendPayload(), 0);
            requestWithAck(req, index, n, fd < 0 ? null : new int[] {fd});
            return null;
        });
    }

    void requireProtocol(VhostUserProtocolFeature f, FrontendRequest req) throws VhostFeatureException {
        if (!f.in(ackedProtocolFeatures)) {
            throw new VhostFeatureException(req.name() + " needs protocol feature " + f.name()
                    + ", which was not negotiated (negotiated: " + VhostUserProtocolFeature.describe(ackedProtocolFeatures) + ")");
        }
    }

    boolean replyAck() {
        return VhostUserProtocolFeature.REPLY_ACK.in(ackedProtocolFeatures);
    }

    void send(FrontendRequest req, int size, int[] fds, boolean needReply) throws VhostException {
        conn.send(MessageHeader.request(req.code(), size, needReply), fds);
    }

    /** Sends a request without a reply of its own; waits for the ack when REPLY_ACK is on. */
    private void requestWithAck(FrontendRequest req, int queue, int size, int[] fds) throws VhostException {
        boolean ack = replyAck();
        send(req, size, fds, ack);
        if (ack) {
            awaitAck(req, queue);
        }
    }

    private void awaitAck(FrontendRequest req, int queue) throws VhostException {
        MessageHeader h = receiveReply(req, false);
        long status = U64Payload.decode(req.name() + " ack", conn.receivePayload(), 0, h.size()).value();
        if (status != 0) {
            throw new VhostRefusedException(req.name(), status, queue >= 0 ? "queue " + queue : "");
        }
    }

    private long requestU64(FrontendRequest req, int size, int[] fds) throws VhostException {
        send(req, size, fds, false);
        MessageHeader h = receiveReply(req, false);
        return U64Payload.decode(req.name() + " reply", conn.receivePayload(), 0, h.size()).value();
    }

    /** Receives the reply to {@code req} and checks code, REPLY flag and (unless allowed) fds. */
    MessageHeader receiveReply(FrontendRequest req, boolean fdsAllowed) throws VhostException {
        closeRxFds();
        MessageHeader h = conn.receive(rxFds);
        if (h.request() != req.code()) {
            String got;
            try {
                got = FrontendRequest.fromCode(h.request()).name();
            } catch (VhostProtocolException e) {
                got = "code " + Integer.toUnsignedString(h.request());
            }
            throw new VhostProtocolException("reply is for " + got + ", expected " + req.name());
        }
        if (!h.isReply()) {
            throw new VhostProtocolException("reply lacks the REPLY flag (flags 0x" + Integer.toHexString(h.flags()) + ")");
        }
        if (!fdsAllowed && !rxFds.isEmpty()) {
            int n = rxFds.size();
            closeRxFds();
            throw new VhostProtocolException("reply carried " + n + " unexpected fds; closed them");
        }
        return h;
    }

    void closeRxFds() {
        for (OwnedFd fd : rxFds) {
            fd.close();
        }
        rxFds.clear();
    }
}
