package com.vhost.user.backend.session;

import com.vhost.api.VhostException;
import com.vhost.api.VhostFeatures;
import com.vhost.api.user.DeviceStateDirection;
import com.vhost.api.user.VhostUserProtocolFeature;
import com.vhost.api.VringAddr;
import com.vhost.api.virtio.GuestMemory;
import com.vhost.api.VirtioDeviceException;
import com.vhost.api.virtio.VirtioDevice;
import com.vhost.api.virtio.VirtioDeviceState;
import com.vhost.api.virtio.VirtqueueConfig;
import com.vhost.spi.backend.RebindableDevice;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.spi.memory.InflightTable;
import com.vhost.spi.memory.WriteLog;
import com.vhost.spi.nativeio.EventFd;
import com.vhost.spi.nativeio.OwnedFd;
import com.vhost.user.message.BackendRequest;
import com.vhost.user.message.InflightPayload;
import com.vhost.user.message.MemRegionPayload;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The back-end's state behind one front-end connection: the mapped memory, the rings and the rules
 * for when they run, serving a {@link VirtioDevice} model (rust-vmm {@code vhost-user-backend}
 * {@code handler.rs}). It implements {@link FrontendRequestHandler}, so it sees requests, never
 * bytes or sockets, and is tested without either.
 *
 * <p>Ring rules (QEMU {@code docs/interop/vhost-user.rst}, "Ring states"): a ring starts on
 * SET_VRING_KICK and stops on GET_VRING_BASE; with {@code VHOST_USER_F_PROTOCOL_FEATURES} (bit 30)
 * negotiated, by SET_FEATURES or by a SET_PROTOCOL_FEATURES, it starts disabled until
 * SET_VRING_ENABLE(1), otherwise enabled. Size, addresses and base change only while the ring is
 * stopped. The model runs exactly the started and enabled rings ({@link ModelDriver}); a request
 * the model cannot follow is refused and leaves ring and model as they were.
 *
 * <p>Offers the model's features plus bit 30 and {@code VHOST_F_LOG_ALL} (26), and the protocol
 * features {@link #PROTOCOL_FEATURES}. Dirty logging (spec "Migration"): SET_LOG_BASE maps the log
 * ({@link MappedLog}); while LOG_ALL is acked the queues mark the buffers they write and, on rings
 * whose SET_VRING_ADDR carried {@code VHOST_VRING_F_LOG}, their used-ring writes at
 * {@code log_guest_addr} ({@link WriteLog}, reached through the memory the model runs over).
 * The model's config-change interrupt becomes a CONFIG_CHANGE_MSG on the backend request channel;
 * its needs-reset sets DEVICE_NEEDS_RESET in the status (with STATUS negotiated). Device state
 * transfers are {@link DeviceStateTransfers}'. Inflight I/O tracking (spec "Inflight I/O tracking",
 * INFLIGHT_SHMFD): GET_INFLIGHT_FD answers a new zeroed memfd, SET_INFLIGHT_FD (every ring stopped)
 * maps it ({@link MappedInflight}) and the queues track their descriptors in it and resubmit what
 * a previous back-end left in flight ({@link com.vhost.spi.memory.InflightSplitRegion}, for packed
 * rings {@link com.vhost.spi.memory.InflightPackedRegion}: the layout follows the acked
 * VIRTIO_F_RING_PACKED); a ring whose size or layout differs from the region's is refused when it
 * starts.
 *
 * <p>Not thread-safe: one session thread calls it; the model's threads only reach the
 * {@link CallInterrupt}. {@link #close()} releases everything.
 */
public final class BackendHandler implements FrontendRequestHandler, AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(BackendHandler.class);
    /** Memory slots offered with CONFIGURE_MEM_SLOTS ({@link SessionLimits#MAX_MEM_SLOTS}). */
    public static final int MAX_MEM_SLOTS = SessionLimits.MAX_MEM_SLOTS;
    /** Protocol features this back-end implements. */
    public static final long PROTOCOL_FEATURES = VhostUserProtocolFeature.MQ.mask() | VhostUserProtocolFeature.REPLY_ACK.mask()
            | VhostUserProtocolFeature.CONFIG.mask() | VhostUserProtocolFeature.CONFIGURE_MEM_SLOTS.mask()
            | VhostUserProtocolFeature.RESET_DEVICE.mask() | VhostUserProtocolFeature.STATUS.mask()
            | VhostUserProtocolFeature.BACKEND_REQ.mask() | VhostUserProtocolFeature.DEVICE_STATE.mask()
            | VhostUserProtocolFeature.LOG_SHMFD.mask() | VhostUserProtocolFeature.INFLIGHT_SHMFD.mask();
    /** Feature bits this back-end adds to the model's: {@code VHOST_USER_F_PROTOCOL_FEATURES}, {@code VHOST_F_LOG_ALL}. */
    private static final long VHOST_BITS = VhostFeatures.bit(VhostFeatures.F_PROTOCOL_FEATURES) | VhostFeatures.bit(VhostFeatures.F_LOG_ALL);

    private final String name;
    private VirtioDevice model;
    private final long offeredFeatures;
    private final Vring[] rings;
    private final AtomicInteger status = new AtomicInteger();
    private final CallInterrupt interrupt;
    private final MemoryTable memory;
    private ModelDriver driver;
    private DeviceStateTransfers states;
    private final Executor transfers;
    /** During a model handover: the state the old model was in, and the queues its sleep stopped. */
    private VirtioDeviceState handedOverFrom;
    private List<VirtqueueConfig> handedOverQueues = List.of();
    /** Dirty logging: what the queues mark (through the memory they run over), and the log mapped. */
    private final WriteLog writeLog;
    private MappedLog mappedLog;
    /** Inflight tracking: the parts the queues use (through the memory), and the region mapped. */
    private final InflightTable inflight;
    private MappedInflight mappedInflight;
    private long ackedFeatures;
    /** Read by model threads (needs-reset). */
    private volatile long ackedProtocol;
    /** SET_PROTOCOL_FEATURES was received: the front-end uses VHOST_USER_F_PROTOCOL_FEATURES. */
    private boolean protocolFeaturesSet;
    private volatile BackendChannel backendChannel;

    /**
     * @param name for log messages, e.g. the server's socket and connection number
     * @param model the device served; driven only through its interfaces
     * @param transfers runs device state transfers (SET_DEVICE_STATE_FD); the server's pool
     */
    public BackendHandler(String name, VirtioDevice model, Executor transfers) {
        this(name, model, transfers, SessionLimits.DEFAULT_MAX_MAPPED_BYTES);
    }

    /**
     * @param name for log messages, e.g. the server's socket and connection number
     * @param model the device served; driven only through its interfaces
     * @param transfers runs device state transfers (SET_DEVICE_STATE_FD); the server's pool
     * @param maxMappedBytes the most bytes of guest memory this session maps at once (the sum of
     *     the SET_MEM_TABLE / ADD_MEM_REG region sizes); more is refused naming MAX_MAPPED_BYTES
     */
    public BackendHandler(String name, VirtioDevice model, Executor transfers, long maxMappedBytes) {
        this.name = name;
        int[] sizes = model.queueMaxSizes();
        this.writeLog = new WriteLog(sizes.length);
        this.inflight = new InflightTable(sizes.length);
        this.memory = new MemoryTable(maxMappedBytes, writeLog, inflight);
        this.model = model;
        this.transfers = transfers;
        this.offeredFeatures = model.features() | VHOST_BITS;
        this.rings = new Vring[sizes.length];
        for (int i = 0; i < sizes.length; i++) {
            rings[i] = new Vring(i, sizes[i]);
        }
        this.interrupt = new CallInterrupt(name, sizes.length, status,
                () -> VhostUserProtocolFeature.STATUS.in(ackedProtocol), this::notifyConfigChanged);
        this.driver = new ModelDriver(model, interrupt, rings);
        this.states = new DeviceStateTransfers(name, model, transfers, this::startedRing, driver::forgetRunning);
    }

    // ---------------------------------------------------------------- features

    @Override
    public long getFeatures() {
        return offeredFeatures;
    }

    @Override
    public void setFeatures(long f) throws Refusal {
        if ((f & ~offeredFeatures) != 0) {
            throw new Refusal(String.format("features 0x%x were not offered (offered 0x%x)", f & ~offeredFeatures, offeredFeatures));
        }
        if (!VirtioFeatures.has(f, VirtioFeatures.F_VERSION_1)) {
            // A legacy driver cannot be served: fail even when no ack was requested.
            throw new Refusal(String.format("features 0x%x lack VIRTIO_F_VERSION_1 (bit 32); legacy front-ends are not served", f), true);
        }
        driver.ackFeatures(f & ~VHOST_BITS);
        ackedFeatures = f;
        // LOG_ALL may come and go while rings run (spec "Migration"): the queues see it at once
        writeLog.setLogAll(VhostFeatures.has(f, VhostFeatures.F_LOG_ALL));
    }

    @Override
    public void setOwner() {
        // one front-end per connection: nothing to record
    }

    @Override
    public void resetOwner() throws VhostException {
        resetDevice();
    }

    @Override
    public long getProtocolFeatures() {
        return PROTOCOL_FEATURES;
    }

    @Override
    public void setProtocolFeatures(long f) throws Refusal {
        if ((f & ~PROTOCOL_FEATURES) != 0) {
            throw new Refusal("protocol features " + VhostUserProtocolFeature.describe(f & ~PROTOCOL_FEATURES) + " were not offered");
        }
        ackedProtocol = f;
        protocolFeaturesSet = true;
    }

    @Override
    public int getQueueNum() {
        return rings.length;
    }

    @Override
    public int getMaxMemSlots() {
        return MAX_MEM_SLOTS;
    }

    // ---------------------------------------------------------------- memory

    @Override
    public void setMemTable(List<MemRegionPayload> regions, List<OwnedFd> fds) throws VhostException, Refusal {
        memory.replaceAll(regions, fds, this::memoryChanged);
    }

    @Override
    public void addMemRegion(MemRegionPayload region, OwnedFd fd) throws VhostException, Refusal {
        memory.add(region, fd, MAX_MEM_SLOTS, this::memoryChanged);
    }

    @Override
    public void removeMemRegion(MemRegionPayload region) throws VhostException, Refusal {
        memory.remove(region, this::memoryChanged);
    }

    /** Maps the new log, makes the queues mark it, then unmaps the one it replaces. */
    @Override
    public void setLogBase(long size, long offset, OwnedFd fd) throws Refusal {
        MappedLog next = MappedLog.map(size, offset, fd);
        writeLog.setBitmap(next.bitmap());
        MappedLog old = mappedLog;
        mappedLog = next;
        if (old != null) {
            old.close();
        }
        LOG.debug("{}: dirty log of {} bytes mapped ({} pages)", name, size, next.bitmap().pages());
    }

    /**
     * A new zeroed region, its size computed for the rings the acked features give (QEMU sends
     * SET_FEATURES before GET_INFLIGHT_FD): the split layout, or with VIRTIO_F_RING_PACKED the
     * packed one ({@link com.vhost.spi.memory.InflightPackedRegion}). A region of the other layout
     * mapped before (SeaBIOS's split rings before the guest's packed ones; QEMU frees its copy on
     * a device reset) is dropped when no ring runs over it.
     */
    @Override
    public InflightAnswer getInflightFd(int numQueues, int queueSize) throws VhostException, Refusal {
        // before SET_FEATURES the layout is unknown: the packed one, the larger, fits either
        boolean packed = packedRings() || !VirtioFeatures.has(ackedFeatures, VirtioFeatures.F_VERSION_1);
        if (mappedInflight != null && mappedInflight.packed() != packed && startedRing() < 0) {
            for (Vring q : rings) {
                q.inflight = null;
                inflight.set(q.index, null);
            }
            mappedInflight.close();
            mappedInflight = null;
        }
        return MappedInflight.create(numQueues, queueSize, rings.length, packed);
    }

    private boolean packedRings() {
        return VirtioFeatures.has(ackedFeatures, VirtioFeatures.F_RING_PACKED);
    }

    /** Maps the region for rings started from now on; refused while any ring is started. */
    @Override
    public void setInflightFd(InflightPayload region, OwnedFd fd) throws Refusal {
        int started = startedRing();
        if (started >= 0) {
            fd.close();
            throw new Refusal("SET_INFLIGHT_FD while queue " + started + " is started (stop the rings with GET_VRING_BASE first)");
        }
        MappedInflight next = MappedInflight.map(region, fd, rings.length, packedRings());
        MappedInflight old = mappedInflight;
        mappedInflight = next;
        for (Vring q : rings) {
            q.inflightQueueSize = region.queueSize();
        }
        inflightParts();
        if (old != null) {
            old.close();
        }
        int marked = 0;
        for (int i = 0; i < region.numQueues(); i++) {
            marked += next.countInflight(i, region.queueSize());
        }
        LOG.info("{}: {} inflight region of {} bytes mapped ({} queues of {}, {} entries in flight)", name,
                next.packed() ? "packed" : "split", region.mmapSize(), region.numQueues(), region.queueSize(), marked);
    }

    /** Hands each ring its part of {@link #mappedInflight} (SET_INFLIGHT_FD, or cut again for other features). */
    private void inflightParts() {
        for (Vring q : rings) {
            q.inflight = mappedInflight.part(q.index);
            q.inflightPacked = mappedInflight.packed();
            inflight.set(q.index, q.inflight);
        }
    }

    private void memoryChanged() throws VhostException, Refusal {
        reconcile(true, -1);
    }

    // ---------------------------------------------------------------- rings

    @Override
    public void setVringNum(int index, int num) throws Refusal {
        Vring q = ring("SET_VRING_NUM", index);
        if (num < 1 || num > q.maxSize || (num & (num - 1)) != 0) {
            throw new Refusal("queue " + q.index + ": size " + Integer.toUnsignedString(num) + " is not a power of two in 1.." + q.maxSize
                    + " (the device's Queue Size maximum)");
        }
        requireStopped("SET_VRING_NUM", q);
        q.num = num;
    }

    @Override
    public void setVringAddr(VringAddr a) throws Refusal {
        Vring q = ring("SET_VRING_ADDR", a.index());
        // spec "Migration": a front-end starts and stops logging a running ring's used writes with
        // SET_VRING_ADDR toggling VHOST_VRING_F_LOG; the ring's own addresses cannot change then
        if (!(q.started && q.addr != null && q.addr.descUserAddr() == a.descUserAddr()
                && q.addr.usedUserAddr() == a.usedUserAddr() && q.addr.availUserAddr() == a.availUserAddr())) {
            requireStopped("SET_VRING_ADDR", q);
        }
        q.addr = a;
        writeLog.setUsedLog(q.index, (a.flags() & VringAddr.F_LOG) != 0 ? a.logGuestAddr() : -1);
    }

    /**
     * SET_VRING_BASE. Split ring: the 16-bit next avail index. Packed ring (vhost-user spec:
     * bits 0-14 the next avail position, bit 15 the avail wrap counter, bits 16-30 / 31 the used
     * position and wrap counter, which QEMU sends and DPDK virtio_user leaves 0): the low 16 bits;
     * the used position starts equal to them, as a ring stops here with nothing in flight.
     */
    @Override
    public void setVringBase(int index, int base) throws Refusal {
        Vring q = ring("SET_VRING_BASE", index);
        boolean packed = packedRings();
        if (!packed && Integer.compareUnsigned(base, 0xFFFF) > 0) {
            throw new Refusal("queue " + q.index + ": base " + Integer.toUnsignedString(base) + " is not a 16-bit split-ring index");
        }
        requireStopped("SET_VRING_BASE", q);
        int used = base >>> 16;
        if (packed && used != 0 && used != (base & 0xFFFF)) {
            LOG.info("{}: queue {}: packed base 0x{}: used position 0x{} differs from avail 0x{}; starting used at avail"
                    + " (nothing is in flight while a ring is stopped)", name, q.index, Integer.toHexString(base),
                    Integer.toHexString(used), Integer.toHexString(base & 0xFFFF));
        }
        q.base = base & 0xFFFF;
    }

    /**
     * Stops the ring (the model reports its next avail index) and drops its kick fd. For a packed
     * ring the answer carries the position twice: bits 0-15 avail, bits 16-31 used (equal once
     * stopped; QEMU's {@code virtio_queue_packed_set_last_avail_idx} reads both halves).
     */
    @Override
    public int getVringBase(int index) throws VhostException, Refusal {
        Vring q = ring("GET_VRING_BASE", index);
        q.started = false;
        reconcile(false, -1);
        OwnedFd kick = q.swapKick(null);
        if (kick != null) {
            kick.close();
        }
        return packedRings() ? q.base | q.base << 16 : q.base;
    }

    /** Starts the ring; a new kick fd for a running ring restarts it with that fd. */
    @Override
    public void setVringKick(int index, OwnedFd kick) throws VhostException, Refusal {
        Vring q = ringOrClose("SET_VRING_KICK", index, kick);
        boolean wasStarted = q.started;
        OwnedFd oldKick = q.swapKick(kick);
        q.started = true;
        try {
            reconcile(false, wasStarted ? q.index : -1);
        } catch (Refusal | VhostException | RuntimeException e) {
            q.started = wasStarted;
            q.swapKick(oldKick);
            if (kick != null) {
                kick.close();
            }
            throw e;
        }
        if (oldKick != null) {
            oldKick.close();
        }
    }

    /** Installs the call fd; a running ring is restarted with it (the old fd stays open until then). */
    @Override
    public void setVringCall(int index, OwnedFd callFd) throws VhostException, Refusal {
        Vring q = ringOrClose("SET_VRING_CALL", index, callFd);
        EventFd call = callFd == null ? null : EventFd.wrap(callFd.release());
        q.callFd = call == null ? -1 : call.fd();
        EventFd old = interrupt.swap(q.index, call);
        try {
            if (driver.isRunning(q.index)) {
                reconcile(false, q.index);
            }
        } finally {
            if (old != null) {
                old.close();
            }
        }
    }

    @Override
    public void setVringErr(int index, OwnedFd err) throws Refusal {
        Vring q = ringOrClose("SET_VRING_ERR", index, err);
        EventFd old = interrupt.swapErr(q.index, err == null ? null : EventFd.wrap(err.release()));
        if (old != null) {
            old.close();
        }
    }

    @Override
    public void setVringEnable(int index, boolean enable) throws VhostException, Refusal {
        Vring q = ring("SET_VRING_ENABLE", index);
        // QEMU's vhost-user-net enables rings (virtio_net peer_attach) before it sends
        // SET_FEATURES: protocol features negotiated with SET_PROTOCOL_FEATURES suffice.
        if (!protocolFeatures()) {
            throw new Refusal("queue " + q.index + ": SET_VRING_ENABLE without VHOST_USER_F_PROTOCOL_FEATURES negotiated");
        }
        q.enableSet = true;
        q.enabled = enable;
        reconcile(false, -1);
    }

    private boolean protocolFeatures() {
        return VhostFeatures.has(ackedFeatures, VhostFeatures.F_PROTOCOL_FEATURES) || protocolFeaturesSet;
    }

    /** Runs the model with exactly the started and enabled rings (see {@link ModelDriver#apply}). */
    private void reconcile(boolean memoryChanged, int restartIndex) throws VhostException, Refusal {
        List<Integer> want = new ArrayList<>(rings.length);
        for (Vring q : rings) {
            if (q.started && (q.enableSet ? q.enabled : !protocolFeatures())) {
                want.add(q.index);
            }
        }
        if (mappedInflight != null && !want.isEmpty() && mappedInflight.packed() != packedRings()) {
            String bad = mappedInflight.relayout(packedRings());
            if (bad != null) {
                throw new Refusal("inflight region (SET_INFLIGHT_FD before the features), for " + (packedRings() ? "packed" : "split")
                        + " rings: " + bad);
            }
            inflightParts();
        }
        GuestMemory mem = memory.memory();
        driver.apply(want, mem, memoryChanged, restartIndex);
    }

    private Vring ring(String req, int index) throws Refusal {
        if (index < 0 || index >= rings.length) {
            throw new Refusal(req + ": queue index " + Integer.toUnsignedString(index) + " out of range (device has " + rings.length
                    + " queues, GET_QUEUE_NUM)");
        }
        return rings[index];
    }

    /** {@link #ring}, closing {@code fd} when the index is refused. */
    private Vring ringOrClose(String req, int index, OwnedFd fd) throws Refusal {
        try {
            return ring(req, index);
        } catch (Refusal e) {
            if (fd != null) {
                fd.close();
            }
            throw e;
        }
    }

    private static void requireStopped(String req, Vring q) throws Refusal {
        if (q.started) {
            throw new Refusal(req + " for queue " + q.index + " while the ring is started (stop it with GET_VRING_BASE first)");
        }
    }

    /** @return the index of a started ring, -1 when every ring is stopped */
    private int startedRing() {
        for (Vring q : rings) {
            if (q.started) {
                return q.index;
            }
        }
        return -1;
    }

    // ---------------------------------------------------------------- config, status, channel

    @Override
    public byte[] getConfig(int offset, int size) {
        byte[] data = new byte[size];
        model.readConfig(offset, data);
        return data;
    }

    @Override
    public void setConfig(int offset, int flags, byte[] data) {
        model.writeConfig(offset, data);
    }

    @Override
    public void setBackendReqFd(OwnedFd fd) {
        BackendChannel old = backendChannel;
        backendChannel = new BackendChannel(fd);
        if (old != null) {
            old.close();
        }
    }

    /** The model's config-change interrupt: CONFIG_CHANGE_MSG on the backend request channel. */
    private void notifyConfigChanged() {
        BackendChannel ch = backendChannel;
        if (ch == null) {
            LOG.info("{}: config change not forwarded: the front-end set up no backend request channel", name);
            return;
        }
        try {
            ch.notify(BackendRequest.CONFIG_CHANGE_MSG);
        } catch (VhostException e) {
            LOG.warn("{}: sending CONFIG_CHANGE_MSG failed: {}", name, e.getMessage());
        }
    }

    @Override
    public void setStatus(int s) {
        status.set(s);
    }

    @Override
    public int getStatus() {
        return status.get();
    }

    // ---------------------------------------------------------------- device state

    @Override
    public long setDeviceStateFd(DeviceStateDirection direction, OwnedFd fd) {
        return states.start(direction, fd);
    }

    @Override
    public long checkDeviceState() {
        return states.check();
    }

    // ---------------------------------------------------------------- model handover (issue #11)

    /**
     * First half of a model handover (a live upgrade of the model's bundle): the model is put to
     * sleep, each ring it ran keeps the next avail index the sleep reported, and its snapshot is
     * taken. The session must handle no message until {@link #resumeModel()} or
     * {@link #replaceModel} (the server's gate).
     *
     * @return the model's snapshot ({@link VirtioDevice#snapshot()})
     * @throws VirtioDeviceException when a device state transfer is running or a handover is
     *     already under way
     * @throws VhostException when the model fails to sleep or snapshot; it is woken again
     */
    public byte[] suspendModel() throws VhostException {
        if (handedOverFrom != null) {
            throw new VirtioDeviceException(name + ": a model handover is already under way");
        }
        if (states.busy()) {
            throw new VirtioDeviceException(name + ": a device state transfer (SET_DEVICE_STATE_FD) is under way; no model handover now");
        }
        VirtioDeviceState st = model.state();
        List<VirtqueueConfig> slept = st.isAsleep() ? List.of() : model.sleep();
        for (VirtqueueConfig c : slept) {
            if (c.index() >= 0 && c.index() < rings.length) {
                rings[c.index()].base = c.nextAvail();
            }
        }
        try {
            byte[] snapshot = model.snapshot();
            handedOverFrom = st;
            handedOverQueues = slept;
            return snapshot;
        } catch (VhostException | RuntimeException e) {
            if (!st.isAsleep()) {
                model.wake(slept);
            }
            throw e;
        }
    }

    /** Ends a handover without a new model: the old one is woken as it was and serves on. */
    public void resumeModel() throws VhostException {
        VirtioDeviceState st = handedOverFrom;
        handedOverFrom = null;
        if (st != null && !st.isAsleep()) {
            model.wake(handedOverQueues);
        }
        handedOverQueues = List.of();
    }

    /**
     * Second half of a model handover: {@code next} (a model of the same device, e.g. from an
     * updated bundle) is put to sleep, restores {@code snapshot}, is rebound to this session's
     * memory and interrupt and woken with the rings the old model ran, as they are now (next
     * avail index, kick and call fds); the old model is no longer used (the caller closes it).
     *
     * @throws VirtioDeviceException when {@code next} offers other features or queue sizes than
     *     the old model (the front-end negotiated against those), or cannot take this session's
     *     memory (no {@link RebindableDevice}) while rings run; the handover stays open
     * @throws VhostException when {@code next} refuses the snapshot or fails to wake; the handover
     *     stays open and {@code next} is left to the caller
     * @throws IllegalStateException when no handover is under way
     */
    public void replaceModel(VirtioDevice next, byte[] snapshot) throws VhostException {
        VirtioDeviceState st = handedOverFrom;
        if (st == null) {
            throw new IllegalStateException(name + ": no model handover under way");
        }
        if ((next.features() | VHOST_BITS) != offeredFeatures || !Arrays.equals(next.queueMaxSizes(), model.queueMaxSizes())) {
            throw new VirtioDeviceException(String.format("%s: the new model offers features 0x%x and queue sizes %s; the front-end"
                    + " negotiated against 0x%x and %s", name, next.features(), Arrays.toString(next.queueMaxSizes()),
                    offeredFeatures & ~VHOST_BITS, Arrays.toString(model.queueMaxSizes())));
        }
        if (st == VirtioDeviceState.ACTIVE && !(next instanceof RebindableDevice)) {
            throw new VirtioDeviceException(name + ": the new model cannot take over running rings (it is no RebindableDevice)");
        }
        if (!next.state().isAsleep()) {
            next.sleep();
        }
        next.restore(snapshot);
        if (st == VirtioDeviceState.ACTIVE) {
            GuestMemory mem = memory.memory();
            ((RebindableDevice) next).rebind(mem, interrupt);
            List<VirtqueueConfig> qs = new ArrayList<>(handedOverQueues.size());
            try {
                for (VirtqueueConfig c : handedOverQueues) {
                    qs.add(rings[c.index()].config(mem, driver.packed()));
                }
            } catch (Refusal e) {
                throw new VirtioDeviceException(name + ": a ring the old model ran cannot run on the new one: " + e.getMessage());
            }
            next.wake(qs);
        } else if (!st.isAsleep()) {
            next.wake(List.of());
        }
        model = next;
        driver = driver.withModel(next);
        states = new DeviceStateTransfers(name, next, transfers, this::startedRing, driver::forgetRunning);
        handedOverFrom = null;
        handedOverQueues = List.of();
    }

    // ---------------------------------------------------------------- reset and close

    /**
     * Marks the device DEVICE_NEEDS_RESET (VIRTIO 1.2 section 2.1.2; vhost-user GET_STATUS, with
     * the STATUS protocol feature negotiated) and logs {@code reason}, as the model's own
     * needs-reset does. The session calls it when handling a message faulted (issue #10).
     */
    public void signalNeedsReset(String reason) {
        interrupt.signalNeedsReset(reason);
    }

    /** The model to rest, every ring cleared, features and status forgotten; the memory stays. */
    @Override
    public void resetDevice() throws VhostException {
        driver.reset();
        clearRings();
        ackedFeatures = 0;
        writeLog.setLogAll(false);
        status.set(0);
    }

    private void clearRings() {
        for (Vring q : rings) {
            q.clear();
            writeLog.setUsedLog(q.index, -1);
            EventFd call = interrupt.swap(q.index, null);
            if (call != null) {
                call.close();
            }
            EventFd err = interrupt.swapErr(q.index, null);
            if (err != null) {
                err.close();
            }
        }
    }

    /** Ends the session: resets an active model, closes every fd and unmaps memory. Never throws. */
    @Override
    public void close() {
        try {
            driver.reset();
        } catch (VhostException | RuntimeException e) {
            LOG.error("{}: resetting the device model after disconnect failed: {}", name, e.getMessage());
        }
        clearRings();
        memory.close();
        writeLog.setBitmap(null);
        for (Vring q : rings) {
            inflight.set(q.index, null);
        }
        if (mappedInflight != null) {
            mappedInflight.close();
            mappedInflight = null;
        }
        if (mappedLog != null) {
            mappedLog.close();
            mappedLog = null;
        }
        BackendChannel ch = backendChannel;
        backendChannel = null;
        if (ch != null) {
            ch.close();
        }
    }
}
