package com.vhost.spi.vhost;

import static com.vhost.spi.vhost.RequestContext.call;
import static com.vhost.spi.vhost.RequestContext.callLong;
import static com.vhost.spi.vhost.RequestContext.callObj;

import com.vhost.api.ConfigSpaceBackend;
import com.vhost.api.MemoryRegion;
import com.vhost.api.VhostBackend;
import com.vhost.api.VhostDevice;
import com.vhost.api.VhostDisconnectedException;
import com.vhost.api.VhostException;
import com.vhost.api.VhostFeatureException;
import com.vhost.api.VhostFeatures;
import com.vhost.api.VhostProtocolException;
import com.vhost.api.VirtioDeviceException;
import com.vhost.api.VirtqueueException;
import com.vhost.api.VringAddr;
import com.vhost.api.user.VhostUserBackend;
import com.vhost.api.user.VhostUserProtocolFeature;
import com.vhost.api.virtio.GuestMemory;
import com.vhost.api.virtio.GuestMemoryRegion;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.api.virtio.VirtqueueConfig;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The generic vhost device (QEMU {@code hw/virtio/vhost.c}, {@code struct vhost_dev}) over any
 * {@link VhostBackend}: kernel, user or vDPA. What differs between the transports is in
 * {@link TransportHooks}, chosen once from the API extension the backend implements
 * ({@link com.vhost.api.user.VhostUserBackend}, {@link com.vhost.api.vdpa.VhostVdpaBackend}) and
 * otherwise from its capability interfaces; nothing here asks for a transport type.
 *
 * <p>Construction ({@code vhost_dev_init}): SET_OWNER, GET_FEATURES; for vhost-user when the
 * back-end offers {@code VHOST_USER_F_PROTOCOL_FEATURES} (bit 30): GET_PROTOCOL_FEATURES,
 * SET_PROTOCOL_FEATURES with the offered bits this front-end uses ({@link #WANTED_PROTOCOL_FEATURES}:
 * MQ, REPLY_ACK, CONFIG, CONFIGURE_MEM_SLOTS, RESET_DEVICE, DEVICE_STATE, LOG_SHMFD, INFLIGHT_SHMFD
 * ({@link InflightTracking}), and with MQ GET_QUEUE_NUM, which must be at least {@code numQueues}.
 *
 * <p>vhost-vdpa (QEMU {@code hw/virtio/vhost-vdpa.c}): backend features IOTLB_MSG_V2 and
 * IOTLB_BATCH when offered, device status ACKNOWLEDGE|DRIVER at construction, SET_FEATURES with
 * VIRTIO_F_ACCESS_PLATFORM added when offered (QEMU {@code vhost_vdpa_force_iommu}), FEATURES_OK after
 * SET_FEATURES (checked with GET_STATUS), ring addresses as IOVAs (= guest-physical), every ring
 * enabled and then DRIVER_OK at start; status reset and ACKNOWLEDGE|DRIVER again at stop.
 *
 * <p>Sleep and wake ({@link #suspend()}): with vhost-vdpa's SUSPEND and RESUME both negotiated
 * the device is suspended and keeps its state (status stays DRIVER_OK); the next {@link #start}
 * with the same memory, features and queues (each at the next avail index read at suspend)
 * sends VHOST_VDPA_RESUME instead of a reset and a new setup (QEMU {@code vhost_vdpa_suspend} /
 * {@code vhost_vdpa_dev_start}'s resume). Any other start resets the suspended device first.
 *
 * <p>{@link #start} and {@link #stop} follow the order stated on {@link VhostDevice}.
 * Masking ({@code vhost_virtqueue_mask}) points the back-end's call for a queue at a private
 * eventfd (the masked notifier); unmasking restores the real call fd and forwards a call that
 * arrived meanwhile.
 *
 * <p>Every failure is rethrown as the same {@link VhostException} subtype with the request and
 * queue in front of the message ("SET_VRING_ADDR for queue 1: ..."). Not thread-safe: one thread
 * drives the control path.
 */
public final class GenericVhostDevice implements VhostDevice {
    private static final Logger LOG = LoggerFactory.getLogger(GenericVhostDevice.class);

    /** Protocol features this front-end uses when the back-end offers them. */
    public static final long WANTED_PROTOCOL_FEATURES = VhostUserProtocolFeature.MQ.mask()
            | VhostUserProtocolFeature.REPLY_ACK.mask() | VhostUserProtocolFeature.CONFIG.mask()
            | VhostUserProtocolFeature.CONFIGURE_MEM_SLOTS.mask() | VhostUserProtocolFeature.RESET_DEVICE.mask()
            | VhostUserProtocolFeature.DEVICE_STATE.mask() | VhostUserProtocolFeature.LOG_SHMFD.mask()
            | VhostUserProtocolFeature.INFLIGHT_SHMFD.mask();

    /**
     * vhost-vdpa backend features this front-end sets when offered: IOTLB_MSG_V2, IOTLB_BATCH,
     * SUSPEND (used by {@link #stop()} before reading the ring bases, as QEMU's
     * {@code vhost_vdpa_suspend}) and RESUME (used by a {@link #start} after {@link #suspend()}).
     */
    public static final long WANTED_VDPA_BACKEND_FEATURES = VhostFeatures.bit(VhostFeatures.BACKEND_F_IOTLB_MSG_V2)
            | VhostFeatures.bit(VhostFeatures.BACKEND_F_IOTLB_BATCH) | VhostFeatures.bit(VhostFeatures.BACKEND_F_SUSPEND)
            | VhostFeatures.bit(VhostFeatures.BACKEND_F_RESUME);

    private static final long PROTOCOL_FEATURES_BIT = VhostFeatures.bit(VhostFeatures.F_PROTOCOL_FEATURES);

    private final VhostBackend backend;
    private final int numQueues;
    private final long backendFeatures;
    /** What differs between transports: negotiation, status handshake, ring addresses, enable, suspend. */
    private final TransportHooks hooks;
    private final long protocolFeatures;
    private final int backendQueueNum;

    private long ackedFeatures;
    private boolean started;
    /** Features and memory table {@link #prepare} sent (-1 / empty: none pending). */
    private long preparedFeatures = -1;
    private List<MemoryRegion> preparedRegions = List.of();
    private List<VirtqueueConfig> startedQueues = List.of();
    private List<MemoryRegion> startedRegions = List.of();
    private long startedFeatures;
    /** vhost-vdpa suspended by {@link #suspend()}: status DRIVER_OK, rings stopped where they were. */
    private boolean suspended;
    /** The queues at suspend, each with the next avail index the device returned. */
    private List<VirtqueueConfig> suspendedQueues = List.of();
    private boolean lastStartResumed;
    /** Call fds and their masking. */
    private final CallMasks calls;
    private boolean closed;

    /**
     * Claims the back-end and reads its features ({@code vhost_dev_init}).
     *
     * @param backend an open backend; once constructed, this device owns it and closes it in
     *     {@link #close()} (when the constructor throws, the caller still owns it)
     * @param numQueues virtqueues this device will use, at least 1
     * @throws VhostFeatureException when more than one queue is wanted and the back-end lacks MQ,
     *     or its GET_QUEUE_NUM is below {@code numQueues}
     * @throws VhostException from the backend, prefixed with the request that failed
     */
    public GenericVhostDevice(VhostBackend backend, int numQueues) throws VhostException {
        this.backend = Objects.requireNonNull(backend, "backend");
        if (numQueues < 1 || numQueues > 0xFF) {
            throw new IllegalArgumentException("numQueues " + numQueues + " outside 1..255");
        }
        this.numQueues = numQueues;
        this.calls = new CallMasks(numQueues);
        call("SET_OWNER", -1, backend::setOwner);
        this.backendFeatures = callLong("GET_FEATURES", -1, backend::getFeatures);
        this.hooks = TransportHooks.of(backend);
        hooks.init(backendFeatures, numQueues);
        this.protocolFeatures = hooks.protocolFeatures;
        this.backendQueueNum = hooks.queueNum;
        LOG.debug("{}: features 0x{}, protocol features {}, queue num {}", backend.describe(),
                Long.toHexString(backendFeatures), VhostUserProtocolFeature.describe(protocolFeatures), backendQueueNum);
    }

    /**
     * Refuses a backend whose device is of another VirtIO type than {@code expected}, where the
     * backend can tell ({@link VhostBackend#virtioDeviceId()}: vhost-vdpa, vhost-net).
     *
     * @param backend the backend about to be driven
     * @throws VhostFeatureException naming the backend, its device ID and the expected type
     * @throws VhostException when asking the device failed
     */
    public static void requireDeviceType(VhostBackend backend, com.vhost.api.virtio.VirtioDeviceType expected)
            throws VhostException {
        int id = backend.virtioDeviceId();
        if (id != 0 && id != expected.id()) {
            String what;
            try {
                what = "a virtio-" + com.vhost.api.virtio.VirtioDeviceType.fromId(id).shortName() + " device";
            } catch (IllegalArgumentException e) {
                what = "a device of another type";
            }
            throw new VhostFeatureException(backend.describe() + " is " + what + " (VirtIO device ID " + id
                    + "), not virtio-" + expected.shortName() + " (ID " + expected.id() + ")");
        }
    }

    @Override
    public VhostBackend backend() {
        return backend;
    }

    @Override
    public int numQueues() {
        return numQueues;
    }

    @Override
    public long backendFeatures() {
        return backendFeatures;
    }

    @Override
    public long protocolFeatures() {
        return protocolFeatures;
    }

    /** @return the back-end's GET_QUEUE_NUM answer, or -1 when MQ was not negotiated */
    public int backendQueueNum() {
        return backendQueueNum;
    }

    /** @return whether {@code VHOST_USER_F_PROTOCOL_FEATURES} is in force (rings start disabled) */
    public boolean usesProtocolFeatures() {
        return hooks.usesProtocolFeatures();
    }

    /**
     * @return whether the rings stop in one pipelined batch (a vhost-user back-end): every
     *     SET_VRING_ENABLE(0), in reverse start order, then every GET_VRING_BASE, sent before any
     *     reply is read; a caller that must switch some rings off before the others needs no
     *     round trip of its own then
     * @since 1.4
     */
    public boolean stopsInOneBatch() {
        return hooks.batches() != null;
    }

    /**
     * @return whether started rings are switched one by one with {@link #setVringEnable}: with
     *     vhost-user PROTOCOL_FEATURES in force, and on vhost-net (TAP attach); not on vhost-vdpa,
     *     whose rings are enabled once before DRIVER_OK
     */
    @Override
    public boolean switchesRings() {
        return hooks.switchesRings();
    }

    /**
     * {@code vhost_set_vring_enable} for one ring: SET_VRING_ENABLE (vhost-user), or
     * VHOST_NET_SET_BACKEND with the ring's TAP queue or -1 (vhost-net). For a change of the
     * active queues while started; only where {@link #switchesRings()}.
     *
     * @throws VhostFeatureException where rings are not switched one by one
     * @throws VhostException from the backend, naming SET_VRING_ENABLE and the queue
     */
    @Override
    public void setVringEnable(int index, boolean enable) throws VhostException {
        checkIndex(index);
        if (!hooks.switchesRings()) {
            throw new VhostFeatureException("SET_VRING_ENABLE for queue " + index + ": rings of " + backend.describe()
                    + " are not switched one by one");
        }
        call("SET_VRING_ENABLE", index, () -> hooks.setVringEnable(index, enable));
    }

    @Override
    public long ackFeatures(long features) throws VhostException {
        long acked = features & backendFeatures & ~PROTOCOL_FEATURES_BIT;
        if (!VirtioFeatures.has(acked, VirtioFeatures.F_VERSION_1)) {
            throw new VhostFeatureException(String.format(
                    "VIRTIO_F_VERSION_1 (bit 32) missing: driver features 0x%x, back-end features 0x%x", features, backendFeatures));
        }
        ackedFeatures = acked;
        return acked;
    }

    @Override
    public long ackedFeatures() {
        return ackedFeatures;
    }

    /**
     * Sends the device-wide part of {@link #start} ahead of it: SET_FEATURES (the features acked
     * with {@link #ackFeatures}) and SET_MEM_TABLE for {@code memory}, no ring touched. A hot-swap
     * does this on the new backend while the old one still serves, so that only the rings'
     * messages fall in the I/O pause; a later {@link #start} with the same features and memory
     * skips them (QEMU sends them in {@code vhost_dev_start} too, before any vring message). Not
     * for vhost-vdpa, whose status handshake must run in order inside {@link #start}: a no-op there.
     *
     * @param memory the memory the next start will use
     * @throws VirtioDeviceException when the device is started or closed
     * @throws VhostFeatureException when no features with VIRTIO_F_VERSION_1 were acked
     * @throws VhostException from the backend, naming the request
     */
    public void prepare(GuestMemory memory) throws VhostException {
        checkOpen();
        if (started) {
            throw new VirtioDeviceException("prepare: device on " + backend.describe() + " is already started");
        }
        if (!hooks.prepareAhead() || suspended) {
            return;
        }
        if (!VirtioFeatures.has(ackedFeatures, VirtioFeatures.F_VERSION_1)) {
            throw new VhostFeatureException("prepare: features not acked (VIRTIO_F_VERSION_1 missing), call ackFeatures first");
        }
        long features = hooks.features(ackedFeatures, backendFeatures);
        List<MemoryRegion> regions = regionsOf(memory);
        call("SET_FEATURES", -1, () -> backend.setFeatures(features));
        call("SET_MEM_TABLE", -1, () -> backend.setMemTable(regions));
        preparedFeatures = features;
        preparedRegions = List.copyOf(regions);
    }

    /**
     * SET_FEATURES with the acked features ahead of {@link #start}, as QEMU's
     * {@code vhost_dev_prepare_inflight} sends it before GET_INFLIGHT_FD: the back-end sizes and
     * reads the inflight region by the ring layout those features give (VIRTIO_F_RING_PACKED).
     * Nothing is sent when {@link #prepare} sent these features already, while started or
     * suspended, or before VIRTIO_F_VERSION_1 was acked; {@link #start} sends them again unless
     * prepared.
     *
     * @throws VhostException from the backend, naming the request
     */
    void sendFeaturesAhead() throws VhostException {
        checkOpen();
        long features = hooks.features(ackedFeatures, backendFeatures);
        if (started || suspended || features == preparedFeatures || !VirtioFeatures.has(ackedFeatures, VirtioFeatures.F_VERSION_1)) {
            return; // without VERSION_1 acked start refuses by name
        }
        call("SET_FEATURES", -1, () -> backend.setFeatures(features));
    }

    private static List<MemoryRegion> regionsOf(GuestMemory memory) {
        List<MemoryRegion> regions = new ArrayList<>();
        for (GuestMemoryRegion r : memory.regions()) {
            regions.add(new MemoryRegion(r.guestAddr(), r.size(), r.userAddr(), r.fdOffset(), r.fd()));
        }
        return regions;
    }

    @Override
    public void start(GuestMemory memory, List<VirtqueueConfig> queues) throws VhostException {
        checkOpen();
        if (started) {
            throw new VirtioDeviceException("start: device on " + backend.describe() + " is already started");
        }
        if (!VirtioFeatures.has(ackedFeatures, VirtioFeatures.F_VERSION_1)) {
            throw new VhostFeatureException("start: features not acked (VIRTIO_F_VERSION_1 missing), call ackFeatures first");
        }
        boolean[] seen = new boolean[numQueues];
        for (VirtqueueConfig q : queues) {
            if (q.index() < 0 || q.index() >= numQueues || seen[q.index()]) {
                throw new VirtqueueException(q.index(), "start: queue index " + q.index()
                        + (q.index() >= 0 && q.index() < numQueues ? " given twice" : " outside 0.." + (numQueues - 1)));
            }
            seen[q.index()] = true;
        }
        // vhost-user adds PROTOCOL_FEATURES, vhost-vdpa ACCESS_PLATFORM (QEMU vhost_vdpa_force_iommu)
        long features = hooks.features(ackedFeatures, backendFeatures);
        List<MemoryRegion> regions = regionsOf(memory);
        lastStartResumed = false;
        if (suspended) {
            if (features == startedFeatures && regions.equals(startedRegions) && queues.equals(suspendedQueues)) {
                if (resume(queues)) {
                    return;
                }
            } else {
                LOG.debug("{}: start with other memory, features or queues than at suspend: reset instead of RESUME", backend.describe());
                resetSuspended();
            }
        }
        List<VirtqueueConfig> done = new ArrayList<>();
        try {
            boolean prepared = features == preparedFeatures && regions.equals(preparedRegions);
            preparedFeatures = -1;
            preparedRegions = List.of();
            if (!prepared) {
                call("SET_FEATURES", -1, () -> backend.setFeatures(features));
            }
            hooks.featuresSet(features); // vhost-vdpa: FEATURES_OK, checked with GET_STATUS
            if (!prepared) {
                call("SET_MEM_TABLE", -1, () -> backend.setMemTable(regions));
            }
            VhostUserBackend batches = hooks.batches();
            if (batches != null) {
                RingBatches.start(batches, hooks, calls, memory, queues, done);
            } else {
                for (VirtqueueConfig q : queues) {
                    startQueue(memory, q);
                    done.add(q);
                }
                if (hooks.enablesAtStart()) {
                    for (VirtqueueConfig q : queues) {
                        call("SET_VRING_ENABLE", q.index(), () -> hooks.setVringEnable(q.index(), q.enabled()));
                    }
                }
            }
            hooks.started(); // vhost-vdpa: DRIVER_OK
        } catch (VhostException | RuntimeException e) {
            for (VirtqueueConfig q : done) {
                try {
                    backend.getVringBase(q.index());
                } catch (VhostException | RuntimeException suppressed) {
                    e.addSuppressed(suppressed);
                }
            }
            throw e;
        }
        startedQueues = List.copyOf(queues);
        startedRegions = List.copyOf(regions);
        startedFeatures = features;
        started = true;
        kickAll(queues);
    }

    /**
     * Requests the driver made while the rings were stopped were kicked into a stopped back-end;
     * a back-end that only looks at a ring when kicked (vdpa_sim, vhost-net) would never see them.
     * One kick per started queue is harmless when nothing is pending.
     */
    private static void kickAll(List<VirtqueueConfig> queues) {
        for (VirtqueueConfig q : queues) {
            if (q.kickFd() >= 0 && q.enabled()) {
                RequestContext.kick(q.kickFd());
            }
        }
    }

    /**
     * VHOST_VDPA_RESUME of a device suspended with exactly these queues; call fds re-pointed if
     * masking changed meanwhile.
     *
     * @return true when resumed; false when the back-end refused, after which the device is reset
     *     (status ACKNOWLEDGE | DRIVER) for a full setup
     * @throws VhostException when even the reset fails
     */
    private boolean resume(List<VirtqueueConfig> queues) throws VhostException {
        try {
            for (VirtqueueConfig q : queues) {
                int i = q.index();
                int fd = calls.backendFd(i, q.callFd());
                if (!calls.hasSent(i, fd)) {
                    call("SET_VRING_CALL", i, () -> backend.setVringCall(i, fd));
                    calls.sent(i, fd);
                }
            }
            hooks.resume();
        } catch (VhostException e) {
            LOG.debug("{}: RESUME refused ({}); resetting for a full start", backend.describe(), e.getMessage());
            try {
                resetSuspended();
            } catch (VhostException suppressed) {
                suppressed.addSuppressed(e);
                throw suppressed;
            }
            return false;
        }
        suspended = false;
        suspendedQueues = List.of();
        startedQueues = List.copyOf(queues);
        started = true;
        lastStartResumed = true;
        kickAll(queues);
        return true;
    }

    /** Resets a device left suspended by {@link #suspend()}: status 0, then ACKNOWLEDGE | DRIVER. */
    private void resetSuspended() throws VhostException {
        suspended = false;
        suspendedQueues = List.of();
        hooks.stopped();
    }

    /** @return whether the last {@link #start} resumed a suspended device (VHOST_VDPA_RESUME) instead of setting it up */
    public boolean lastStartResumed() {
        return lastStartResumed;
    }

    /** @return whether the device is suspended by {@link #suspend()}, waiting for a resuming {@link #start} */
    public boolean isSuspended() {
        return suspended;
    }

    /** @return whether {@link #suspend()} keeps the device's state for a RESUME (vhost-vdpa with SUSPEND and RESUME) */
    public boolean canResume() {
        return hooks.canResume();
    }

    private void startQueue(GuestMemory memory, VirtqueueConfig q) throws VhostException {
        int i = q.index();
        call("SET_VRING_NUM", i, () -> backend.setVringNum(i, q.size()));
        call("SET_VRING_BASE", i, () -> backend.setVringBase(i, q.nextAvail()));
        VringAddr addr = RingBatches.ringAddr(hooks, memory, q);
        call("SET_VRING_ADDR", i, () -> backend.setVringAddr(addr));
        call("SET_VRING_KICK", i, () -> backend.setVringKick(i, q.kickFd()));
        int fd = calls.backendFd(i, q.callFd());
        call("SET_VRING_CALL", i, () -> backend.setVringCall(i, fd));
        calls.sent(i, fd);
    }

    /**
     * Stops the rings and returns each started queue's next avail index (GET_VRING_BASE), in the
     * order the queues were given to {@link #start}; a vhost-vdpa device is reset to
     * ACKNOWLEDGE | DRIVER (also one left suspended by {@link #suspend()}).
     */
    @Override
    public int[] stop() throws VhostException {
        return stopRings(false);
    }

    /**
     * Stops the rings for a sleep, as {@link #stop()}, but when {@link #canResume()} leaves the
     * vhost-vdpa device suspended (status DRIVER_OK, every ring's state kept): a later
     * {@link #start} with the same memory, features and queues (next avail = the returned bases)
     * resumes it with VHOST_VDPA_RESUME; any other start, or {@link #stop()}, resets it first.
     * Elsewhere it is {@link #stop()}.
     *
     * @return the next avail index of each started queue, in start order
     * @throws VhostException from the backend, naming the request; the device is then reset as by stop
     */
    @Override
    public int[] suspend() throws VhostException {
        return stopRings(canResume());
    }

    private int[] stopRings(boolean keep) throws VhostException {
        if (!started) {
            if (suspended && !keep) {
                resetSuspended();
            }
            return new int[0];
        }
        started = false;
        List<VirtqueueConfig> queues = startedQueues;
        startedQueues = List.of();
        int[] bases = new int[queues.size()];
        VhostUserBackend batches = hooks.batches();
        VhostException first = batches != null ? RingBatches.stop(batches, hooks.switchesRings(), queues, bases) : stopOneByOne(queues, bases);
        if (keep && first == null) {
            List<VirtqueueConfig> at = new ArrayList<>(queues.size());
            for (int k = 0; k < queues.size(); k++) {
                at.add(queues.get(k).withNextAvail(bases[k] & 0xFFFF));
            }
            suspendedQueues = List.copyOf(at);
            suspended = true;
            return bases;
        }
        try {
            hooks.stopped(); // vhost-vdpa: status reset, then ACKNOWLEDGE | DRIVER for the next start
        } catch (VhostException e) {
            first = keep(first, e);
        }
        if (first != null) {
            throw first;
        }
        return bases;
    }

    /** The rings' stop, a request at a time: SET_VRING_ENABLE(0) where rings switch, the transport's hook, GET_VRING_BASE. */
    private VhostException stopOneByOne(List<VirtqueueConfig> queues, int[] bases) {
        VhostException first = null;
        if (hooks.switchesRings()) {
            for (VirtqueueConfig q : queues) {
                try {
                    call("SET_VRING_ENABLE(0)", q.index(), () -> hooks.setVringEnable(q.index(), false));
                } catch (VhostException e) {
                    first = keep(first, e);
                }
            }
        }
        try {
            hooks.beforeReadBases(); // vhost-vdpa with SUSPEND: stopped where it is, so the bases are exact
        } catch (VhostException e) {
            first = keep(first, e);
        }
        for (int k = 0; k < queues.size(); k++) {
            int i = queues.get(k).index();
            try {
                bases[k] = (int) callLong("GET_VRING_BASE", i, () -> backend.getVringBase(i));
            } catch (VhostException e) {
                first = keep(first, e);
                bases[k] = -1;
            }
        }
        return first;
    }

    private static VhostException keep(VhostException first, VhostException e) {
        if (first == null) {
            return e;
        }
        first.addSuppressed(e);
        return first;
    }

    @Override
    public boolean isStarted() {
        return started;
    }

    @Override
    public void virtqueueMask(int index, boolean mask) throws VhostException {
        checkIndex(index);
        calls.mask(index, mask, started && isStarted(index), (request, fd) -> call(request, index, () -> backend.setVringCall(index, fd)));
    }

    private boolean isStarted(int index) {
        for (VirtqueueConfig q : startedQueues) {
            if (q.index() == index) {
                return true;
            }
        }
        return false;
    }

    @Override
    public boolean virtqueuePending(int index) {
        checkIndex(index);
        return calls.poll(index);
    }

    @Override
    public byte[] getConfig(int length) throws VhostException {
        checkOpen();
        if (length < 0) {
            throw new IllegalArgumentException("GET_CONFIG length " + length + " < 0");
        }
        ConfigSpaceBackend config = hooks.config("GET_CONFIG");
        byte[] data = (byte[]) callObj("GET_CONFIG", -1, () -> config.getConfig(0, length));
        if (data == null || data.length != length) {
            throw new VhostProtocolException("GET_CONFIG: asked for " + length + " bytes, back-end returned "
                    + (data == null ? "none" : data.length));
        }
        return data;
    }

    @Override
    public void setConfig(int offset, byte[] data) throws VhostException {
        checkOpen();
        ConfigSpaceBackend config = hooks.config("SET_CONFIG");
        call("SET_CONFIG", -1, () -> config.setConfig(offset, data));
    }

    /**
     * Reads the device's config space for a driver whose config structure is {@code wanted} bytes
     * and which takes the first {@code needed} of them from the device: vhost-user (with CONFIG)
     * answers {@code wanted} bytes; a vhost-vdpa device's config has its own size, so only
     * {@code needed} bytes are read and the rest is zero.
     *
     * @param wanted the driver's config structure size in bytes
     * @param needed bytes at offset 0 the driver uses from the device, at most {@code wanted}
     * @return {@code wanted} bytes, or null when the backend has no config space to give
     *     (vhost-net: the front-end owns MAC and status; vhost-user without CONFIG negotiated)
     * @throws VhostException from GET_CONFIG, as {@link #getConfig(int)}
     */
    @Override
    public byte[] readDeviceConfig(int wanted, int needed) throws VhostException {
        if (needed < 0 || needed > wanted) {
            throw new IllegalArgumentException("config bytes needed " + needed + " outside 0.." + wanted);
        }
        int n = hooks.configReadLength(wanted, needed);
        if (n < 0) {
            return null;
        }
        byte[] read = getConfig(n);
        return n == wanted ? read : java.util.Arrays.copyOf(read, wanted);
    }

    /** Registers {@code notifier} where the backend has a config space ({@link ConfigSpaceBackend}); elsewhere none can fire. */
    @Override
    public void setConfigChangeNotifier(Runnable notifier) {
        if (backend instanceof ConfigSpaceBackend c) {
            c.setConfigChangeListener(notifier);
        }
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        try {
            if (started && backend.isConnected()) {
                stop();
            }
        } catch (VhostException | RuntimeException e) {
            LOG.debug("stop on close of {} failed: {}", backend.describe(), e.toString());
        } finally {
            started = false;
            closed = true;
            calls.close();
            backend.close();
        }
    }

    private void checkOpen() throws VhostDisconnectedException {
        if (closed) {
            throw new VhostDisconnectedException("vhost device on " + backend.describe() + " is closed");
        }
    }

    private void checkIndex(int index) {
        if (index < 0 || index >= numQueues) {
            throw new IndexOutOfBoundsException("queue index " + index + " outside 0.." + (numQueues - 1));
        }
    }

    @Override
    public String toString() {
        return "GenericVhostDevice[" + backend.describe() + ", " + numQueues + " queues, features 0x"
                + Long.toHexString(backendFeatures) + ", acked 0x" + Long.toHexString(ackedFeatures)
                + ", protocol " + VhostUserProtocolFeature.describe(protocolFeatures) + (started ? ", started" : "") + "]";
    }
}
