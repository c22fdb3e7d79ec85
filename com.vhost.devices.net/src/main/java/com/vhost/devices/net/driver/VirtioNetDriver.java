package com.vhost.devices.net.driver;

import com.vhost.api.VhostBackend;
import com.vhost.api.VhostDisconnectedException;
import com.vhost.api.VhostException;
import com.vhost.api.VhostFeatureException;
import com.vhost.api.VhostNativeException;
import com.vhost.api.VirtioDeviceException;
import com.vhost.api.net.NetDevice;
import com.vhost.api.net.NetDeviceInfo;
import com.vhost.api.net.NetQueueStats;
import com.vhost.api.net.VirtioNet;
import com.vhost.api.virtio.GuestMemory;
import com.vhost.api.virtio.Interrupt;
import com.vhost.api.virtio.VirtioDeviceState;
import com.vhost.api.virtio.VirtioDeviceType;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.api.virtio.VirtqueueConfig;
import com.vhost.spi.driver.DriverProfile;
import com.vhost.spi.driver.VhostDriver;
import com.vhost.spi.driver.VhostDrivers;
import com.vhost.spi.nativeio.SharedMemory;
import com.vhost.spi.vhost.GenericVhostDevice;
import com.vhost.spi.virtqueue.DriverQueue;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A virtio-net driver and its transport in one, with no VM (DPDK {@code virtio_user}): the
 * platform plays the guest (OASIS VIRTIO 1.2, section 5.1.6). It negotiates through a
 * {@link VirtioNetFrontend} over a {@link GenericVhostDevice}, lays out rings and buffers in one
 * {@link SharedMemory} (memfd) that the back-end maps, keeps every receive queue filled with
 * buffers, and moves frames with one descriptor per buffer ({@code virtio_net_hdr_v1} + frame)
 * through its {@link NetQueuePair}s. Hot-swap, detach, snapshot and restore are the
 * {@link VhostDriver} engine's.
 *
 * <p><b>Memory.</b> One region whose guest-physical address equals its address in this process.
 * Per pair: the receive and transmit {@link DriverQueue}s, {@code queueSize} receive buffers of
 * {@link NetDriverOptions#rxBufferBytes()} and {@code queueSize} transmit slots of
 * {@code 12 + mtu + 18} bytes (rounded to 64); then the control queue and a command buffer.
 *
 * <p><b>Transmit</b> copies each frame behind a zeroed header into a free slot, publishes the
 * chains and kicks once per burst when the device asks for it (EVENT_IDX / NO_NOTIFY). Slots the
 * device used are reclaimed at the next burst. <b>Receive</b> consumes used buffers, joins
 * {@code num_buffers} of them into one frame with MRG_RXBUF, copies the frame out and re-posts
 * the buffers. Neither allocates.
 *
 * <p><b>Modes.</b> Notification mode ({@code poll=false}): {@link #awaitReceive} sleeps on the
 * receive queue's call eventfd. Polling mode: the device is asked not to notify, and
 * {@link #awaitReceive} spins, then parks in short steps.
 *
 * <p><b>Control</b> commands go through the control virtqueue to the front-end
 * ({@link NetControl}); the call waits at most {@value #CTRL_TIMEOUT_MS} ms for the ack.
 *
 * <p><b>Hot-swap.</b> {@link #rebind} moves the running device to another backend (any type)
 * while this {@link NetDevice} handle stays valid; {@link #detach} releases the backend and keeps
 * the handle. The rings stay where they are (they are the driver's memory): the new backend
 * starts at the bases the old one returned, so receive buffers posted stay posted and frames
 * made available for transmit and not yet consumed are sent by the new backend, once. A chain
 * the old back-end took and did not complete within the bound is made available again: its frame
 * may then go out twice ({@code retaken} counter). Each data-path call holds its pair's lock for
 * the burst (an uncontended {@link ReentrantLock}, no allocation); a swap takes every pair's
 * lock, so a call made meanwhile waits for it, at most {@link #swapWaitNanos()}. While detached,
 * transmit keeps placing frames in the ring (sent by the next backend), receive returns what was
 * received before and control commands fail with {@link VhostDisconnectedException}.
 */
public final class VirtioNetDriver extends VhostDriver<VirtioNetFrontend, NetDriverSnapshot> implements NetDevice {
    private static final Logger LOG = LoggerFactory.getLogger(VirtioNetDriver.class);
    private static final ValueLayout.OfShort LE16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    /** Longest wait for a control command's ack, ms. */
    public static final long CTRL_TIMEOUT_MS = 5000;
    /** Default bound on waiting for a swap, and on a detached device's wait for a backend, 10 s. */
    public static final long DEFAULT_SWAP_WAIT_NANOS = TimeUnit.SECONDS.toNanos(10);
    /** Bound on waiting for the old backend to complete chains it took before GET_VRING_BASE. */
    static final long STRAGGLER_WAIT_NANOS = TimeUnit.SECONDS.toNanos(1);
    /** Bound on one device state SAVE or LOAD through the back-end's pipe, 2 s. */
    static final long STATE_TRANSFER_TIMEOUT_MS = 2000;
    /**
     * Interval of liveness checks while the data path runs, ns: the data path never talks to the
     * vhost-user socket, so a back-end that went away is noticed by asking the backend whether
     * its peer hung up ({@link VhostBackend#isConnected()}, a {@code poll} on the socket for
     * vhost-user), at most this often rather than on every burst.
     */
    static final long PROBE_NANOS = 50_000_000L;
    private static final DriverProfile PROFILE = new DriverProfile(VirtioDeviceType.NET,
            Set.of(NetDevice.class), "virtio-net", "vhost-net", "frames",
            "rebind/detach/close or control command", "offering them again",
            "chains it had not completed are offered again", "closing while another swap/control command still runs",
            STRAGGLER_WAIT_NANOS, STATE_TRANSFER_TIMEOUT_MS);

    private final GuestMemory memory;
    private final int queueSize;
    private final Interrupt interrupt = new DriverInterrupt();
    private final SharedMemory shm;
    private final long acked;
    private final boolean poll;
    /** The control queue's worker, kept across the front-ends a hot-swap replaces. */
    private final ControlWorkers ctrlWorkers;
    private final int mtu;
    private final int maxFrame;
    private final NetQueuePair[] pairs;
    private final NetControlQueue ctrl;
    private final NetRings rings;
    private final NetDataPath data;
    private volatile NetDeviceInfo info;
    private volatile long lastProbe = System.nanoTime();
    /** Set by a restore's ring reset: the receive queues are filled when the data path resumes. */
    private boolean refillOnResume;
    private int droppedAtRestore;

    /**
     * Negotiates, sets up memory and queues, starts the device, fills the receive queues and
     * enables all pairs. On failure everything opened so far is released, including
     * {@code backend}.
     *
     * @param backend an open backend; the driver owns it and closes it in {@link #close()}
     * @throws VhostFeatureException when the back-end lacks VERSION_1 or the queues wanted
     * @throws VirtioDeviceException when receive buffers cannot hold a frame without MRG_RXBUF
     * @throws VhostException from the backend, naming the request that failed
     */
    public static VirtioNetDriver open(VhostBackend backend, NetDriverOptions options) throws VhostException {
        return VhostDrivers.open(backend, VirtioDeviceType.NET, 2 * options.queuePairs(), vhost -> new VirtioNetDriver(vhost, options));
    }

    private VirtioNetDriver(GenericVhostDevice vhost, NetDriverOptions o) throws VhostException {
        VirtioNetFrontend front = new VirtioNetFrontend(vhost, o.queuePairs(), o.queueSize(),
                o.mac() != null ? o.mac() : NetMacs.randomLocal());
        ControlWorkers cw = new ControlWorkers();
        front.useControlWorkers(cw);
        this.ctrlWorkers = cw;
        super(vhost, front, PROFILE, LOG, DEFAULT_SWAP_WAIT_NANOS);
        this.poll = o.poll();
        this.queueSize = o.queueSize();
        long offered = front.features();
        if (o.queuePairs() > 1 && !VirtioFeatures.has(offered, VirtioNet.F_MQ)) {
            throw new VhostFeatureException(String.format("virtio-net on %s: %d queue pairs wanted but the back-end's features 0x%x lack VIRTIO_NET_F_MQ",
                    vhost.backend().describe(), o.queuePairs(), vhost.backendFeatures()));
        }
        front.ackFeatures(o.ringFeatures(o.mergeableRxBuffers() ? offered : offered & ~VirtioFeatures.bit(VirtioNet.F_MRG_RXBUF)));
        if (o.packed() && !VirtioFeatures.has(offered, VirtioFeatures.F_RING_PACKED)) {
            LOG.info("virtio-net on {}: packed virtqueues asked for but the back-end does not offer VIRTIO_F_RING_PACKED; using split ones",
                    vhost.backend().describe());
        }
        this.acked = front.ackedFeatures();
        boolean mrg = VirtioFeatures.has(acked, VirtioNet.F_MRG_RXBUF);
        byte[] cfg = new byte[VirtioNet.CONFIG_SIZE];
        front.readConfig(0, cfg);
        this.mtu = Short.toUnsignedInt(MemorySegment.ofArray(cfg).get(LE16, VirtioNet.CFG_MTU));
        this.maxFrame = mtu + VirtioNet.ETH_HEADER + 4;
        int rxBufBytes = o.rxBufferBytes();
        if (!mrg && rxBufBytes < VirtioNet.HDR_SIZE + maxFrame) {
            throw new VirtioDeviceException("virtio-net on " + vhost.backend().describe() + ": receive buffers of " + rxBufBytes
                    + " bytes cannot hold header + a frame of " + maxFrame + " bytes without MRG_RXBUF (negotiated: no)");
        }
        NetMemory mem = NetMemory.create(o, acked, mrg, maxFrame, swap);
        this.shm = mem.shm();
        this.memory = mem.memory();
        this.rings = mem.rings();
        this.pairs = rings.pairs;
        this.ctrl = rings.ctrl;
        this.data = new NetDataPath(pairs, swap, new Checks(), poll, maxFrame, mtu);
        laidOut(memory, acked, interrupt, 2 * pairs.length, rings.count());
        try {
            front.activate(memory, interrupt, rings.configs(rings.availIndices(), 0, 1)); // VIRTIO 1.2, 5.1.6.5.5: pair 0 until VQ_PAIRS_SET
            for (NetQueuePair p : pairs) {
                p.refill();
            }
            if (pairs.length > 1) {
                setQueuePairs(pairs.length);
            }
        } catch (VhostException | RuntimeException e) {
            if (front.state() == VirtioDeviceState.ACTIVE) {
                try {
                    front.reset();
                } catch (VhostException | RuntimeException s) {
                    e.addSuppressed(s);
                }
            }
            mem.close();
            throw e;
        }
        this.info = new NetDeviceInfo(NetMacs.format(mac()), mtu, pairs.length, o.queueSize(), rxBufBytes, acked, mrg, poll,
                vhost.backend().describe());
        LOG.debug("virtio-net on {}: {}", vhost.backend().describe(), info);
    }

    /** Used-buffer notifications of the in-process control queue, and needs-reset reports. */
    private final class DriverInterrupt implements Interrupt {
        @Override
        public void signalUsedQueue(int queueIndex) {
            if (queueIndex == ctrl.ring.index()) {
                try {
                    ctrl.call.signal();
                } catch (VhostNativeException e) {
                    LOG.debug("control queue call: {}", e.getMessage());
                }
            }
        }

        @Override
        public void signalConfigChanged() {
            LOG.info("virtio-net on {}: config changed", vhost().backend().describe());
        }

        @Override
        public void signalNeedsReset(String reason) {
            fail(new VirtioDeviceException("virtio-net device needs reset: " + reason));
        }
    }

    // ---- checks ----

    /** Closed or failed, or detached for longer than {@link #swapWaitNanos()}: throws. */
    private void usable() throws VhostException {
        checkUsable();
        VhostException expired = swap.expired();
        if (expired != null) {
            throw expired;
        }
        // detached and not expired: frames go into the rings and wait there for the next backend
    }

    /**
     * Asks the backend, at most every {@link #PROBE_NANOS}, whether its peer is still there; a
     * lost one detaches the device (detach-on-loss) or fails it. Called with a pair's lock or the
     * swap lock held, so a swap cannot be closing the backend being asked about.
     */
    private void probe() throws VhostException {
        if (swap.isDetached()) {
            return;
        }
        long now = System.nanoTime();
        if (now - lastProbe >= PROBE_NANOS) {
            lastProbe = now;
            GenericVhostDevice v = vhost();
            if (!v.backend().isConnected()) {
                if (swap.detachOnLoss()) {
                    backendLost("");
                    return;
                }
                throw fail(new VhostDisconnectedException("virtio-net: backend " + v.backend().describe() + " disconnected"));
            }
        }
    }

    // ---- data path (NetDataPath) ----

    /** What the data path asks of the driver around a burst. */
    private final class Checks implements NetDataPath.Checks {
        @Override
        public void usable() throws VhostException {
            VirtioNetDriver.this.usable();
        }

        @Override
        public void probe() throws VhostException {
            VirtioNetDriver.this.probe();
        }

        @Override
        public int activePairs() {
            return frontend().activePairs();
        }

        @Override
        public boolean closed() {
            return isClosed();
        }
    }

    @Override
    public int transmit(int queuePair, MemorySegment[] frames, int[] lengths, int count) throws VhostException {
        return data.transmit(queuePair, frames, lengths, count);
    }

    @Override
    public int receive(int queuePair, MemorySegment[] into, int[] lengths, int max) throws VhostException {
        return data.receive(queuePair, into, lengths, max);
    }

    @Override
    public boolean awaitReceive(int queuePair, long timeoutNanos) throws VhostException {
        return data.awaitReceive(queuePair, timeoutNanos);
    }

    // ---- control ----

    /** Sends one control command and waits (bounded) for its ack; serialised with swaps by the swap lock. */
    private void control(int cls, int cmd, byte[] data, String what) throws VhostException {
        swap.lock(what, null);
        try {
            usable();
            probe();
            if (swap.isDetached()) {
                throw new VhostDisconnectedException(what + ": virtio-net on " + backendName()
                        + " is detached; control commands need a backend (rebind first)");
            }
            if (!VirtioFeatures.has(acked, VirtioNet.F_CTRL_VQ)) {
                throw new VhostFeatureException(what + ": VIRTIO_NET_F_CTRL_VQ not negotiated");
            }
            ctrl.send(cls, cmd, data, what, this::failure, () -> frontend().control().lastError());
        } finally {
            swap.unlock();
        }
    }

    @Override
    public int queuePairs() {
        return frontend().activePairs();
    }

    @Override
    public void setQueuePairs(int n) throws VhostException {
        if (n < 1 || n > pairs.length) {
            throw new VirtioDeviceException("MQ VQ_PAIRS_SET: " + n + " pairs outside 1.." + pairs.length);
        }
        if (!VirtioFeatures.has(acked, VirtioNet.F_MQ)) {
            if (n == 1) {
                return;
            }
            throw new VhostFeatureException("MQ VQ_PAIRS_SET(" + n + "): VIRTIO_NET_F_MQ not negotiated");
        }
        control(VirtioNet.CTRL_MQ, VirtioNet.CTRL_MQ_VQ_PAIRS_SET, new byte[] {(byte) n, (byte) (n >>> 8)}, "MQ VQ_PAIRS_SET(" + n + ")");
    }

    @Override
    public byte[] mac() {
        byte[] cfg = new byte[VirtioNet.MAC_BYTES];
        frontend().readConfig(VirtioNet.CFG_MAC, cfg);
        return cfg;
    }

    @Override
    public void setMac(byte[] mac) throws VhostException {
        if (mac == null || mac.length != VirtioNet.MAC_BYTES) {
            throw new VirtioDeviceException("MAC ADDR_SET: " + (mac == null ? "null" : mac.length + " bytes") + ", 6 wanted");
        }
        control(VirtioNet.CTRL_MAC, VirtioNet.CTRL_MAC_ADDR_SET, mac, "MAC ADDR_SET(" + NetMacs.format(mac) + ")");
    }

    @Override
    public void setPromiscuous(boolean on) throws VhostException {
        control(VirtioNet.CTRL_RX, VirtioNet.CTRL_RX_PROMISC, new byte[] {(byte) (on ? 1 : 0)}, "RX PROMISC(" + on + ")");
    }

    @Override
    public void setAllMulticast(boolean on) throws VhostException {
        control(VirtioNet.CTRL_RX, VirtioNet.CTRL_RX_ALLMULTI, new byte[] {(byte) (on ? 1 : 0)}, "RX ALLMULTI(" + on + ")");
    }

    /**
     * Sends raw bytes as a control command (class, command, data), for tests and tools.
     *
     * @throws VirtioDeviceException when the device answers ERR, with its reason
     */
    public void rawControl(byte[] command) throws VhostException {
        if (command.length < 2 || command.length > VirtioNetFrontend.CTRL_MAX_BYTES) {
            // still sent: the device must judge malformed commands
            byte[] data = command.length >= 2 ? Arrays.copyOfRange(command, 2, command.length) : new byte[0];
            control(command.length > 0 ? command[0] : 0xFF, command.length > 1 ? command[1] : 0xFF, data,
                    "control command of " + command.length + " bytes");
            return;
        }
        control(command[0], command[1], Arrays.copyOfRange(command, 2, command.length),
                "control command class " + command[0] + " command " + command[1]);
    }

    @Override
    public boolean linkUp() {
        byte[] s = new byte[2];
        frontend().readConfig(VirtioNet.CFG_STATUS, s);
        return (s[0] & VirtioNet.S_LINK_UP) != 0 && !isClosed() && failure() == null;
    }

    @Override
    public int mtu() {
        return mtu;
    }

    @Override
    public NetQueueStats stats(int queuePair) {
        if (queuePair < 0 || queuePair >= pairs.length) {
            throw new IndexOutOfBoundsException("queue pair " + queuePair + " outside 0.." + (pairs.length - 1));
        }
        NetQueuePair p = pairs[queuePair];
        return new NetQueueStats(queuePair, p.txPackets, p.txBytes, p.txFull, p.txErrors, p.rxPackets, p.rxBytes,
                p.rxErrors, p.posted());
    }

    @Override
    public NetDeviceInfo info() {
        return info;
    }

    // ---- the engine's hooks (VhostDriver) ----

    @Override
    protected VirtioNetFrontend newFrontend(GenericVhostDevice vhost) {
        VirtioNetFrontend f = new VirtioNetFrontend(vhost, pairs.length, queueSize, mac());
        f.useControlWorkers(ctrlWorkers);
        return f;
    }

    /** The control state (active pairs, RX modes, MAC) is the front-end's and carried over. */
    @Override
    protected void adopt(VirtioNetFrontend next, VirtioNetFrontend old) {
        next.adoptControlState(old);
    }

    /**
     * Every acked feature (MRG_RXBUF, MQ, EVENT_IDX, MTU, ...) offered, GET_QUEUE_NUM enough for
     * every pair, and the same MTU (the transmit slots and frame checks are sized for it).
     */
    @Override
    protected void checkCompatible(VirtioNetFrontend nf, String name, String from) throws VhostException {
        long offered = nf.features();
        long missing = acked & ~offered;
        if (missing != 0) {
            StringBuilder named = new StringBuilder();
            if (VirtioFeatures.has(missing, VirtioNet.F_MRG_RXBUF)) {
                named.append(" VIRTIO_NET_F_MRG_RXBUF");
            }
            if (VirtioFeatures.has(missing, VirtioNet.F_MQ)) {
                named.append(" VIRTIO_NET_F_MQ");
            }
            if (VirtioFeatures.has(missing, VirtioNet.F_MTU)) {
                named.append(" VIRTIO_NET_F_MTU");
            }
            if (VirtioFeatures.has(missing, VirtioFeatures.F_EVENT_IDX)) {
                named.append(" VIRTIO_RING_F_EVENT_IDX");
            }
            if (VirtioFeatures.has(missing, VirtioFeatures.F_RING_PACKED)) {
                named.append(" VIRTIO_F_RING_PACKED");
            }
            if (VirtioFeatures.has(missing, VirtioFeatures.F_IN_ORDER)) {
                named.append(" VIRTIO_F_IN_ORDER (open the driver with in.order=false to move between back-ends without it)");
            }
            throw new VhostFeatureException(String.format(
                    "rebind to %s refused, the device stays on %s: it does not offer feature bits 0x%x%s acked so far"
                            + " (acked 0x%x, offered 0x%x)", name, from, missing, named, acked, offered));
        }
        byte[] cfg = new byte[VirtioNet.CONFIG_SIZE];
        nf.readConfig(0, cfg);
        int m = Short.toUnsignedInt(MemorySegment.ofArray(cfg).get(LE16, VirtioNet.CFG_MTU));
        if (m != mtu) {
            throw new VhostFeatureException("rebind to " + name + " refused, the device stays on " + from + ": its MTU is " + m
                    + ", the device's transmit slots and frame checks are sized for MTU " + mtu);
        }
    }

    /** Takes every pair's lock: data-path calls meanwhile wait, at most {@link #swapWaitNanos()}. */
    @Override
    protected void holdDataPath() {
        rings.lockAll();
    }

    /** Fills the receive queues after a restore, releases the pairs and wakes receivers. */
    @Override
    protected int resumeDataPath(boolean attached) {
        rings.unlockAll(attached && refillOnResume);
        if (attached) {
            refillOnResume = false; // detached: packed rings reset by takeOutstanding are filled at the rebind
        }
        return 0;
    }

    /** The control queue has nothing in flight under the swap lock: not waited for. */
    @Override
    protected DriverQueue ringQueue(int ring) {
        return ring < 2 * pairs.length ? rings.ring(ring) : null;
    }

    @Override
    protected void reap(int ring) throws VhostException {
        rings.reap(ring);
    }

    /**
     * Rings restart at their used index; chains taken and not completed are offered again
     * ({@code retaken}). Packed rings restart fresh instead ({@link NetRings#takeRestartPoints}):
     * frames waiting to be sent are dropped, receive buffers posted again when the data path resumes.
     */
    @Override
    protected int takeOutstanding(int[] bases, String why) {
        if (VirtioFeatures.has(acked, VirtioFeatures.F_RING_PACKED)) {
            refillOnResume = true;
        }
        return rings.takeRestartPoints(bases, backendName());
    }

    /** Packed rings move on rebind and detach, restarted fresh: see {@link #takeOutstanding}. */
    @Override
    protected boolean movesPackedRings() {
        return true;
    }

    @Override
    protected List<VirtqueueConfig> restartConfigs(VirtioNetFrontend next) {
        return rings.restartConfigs(next.activePairs());
    }

    @Override
    protected void attachedTo(GenericVhostDevice vhost, String name) {
        NetDeviceInfo i = info;
        this.info = new NetDeviceInfo(i.mac(), i.mtu(), i.maxQueuePairs(), i.queueSize(), i.rxBufferBytes(), i.features(),
                i.mergeableRxBuffers(), i.poll(), name);
        rings.restarted();
        lastProbe = System.nanoTime();
    }

    @Override
    protected long lastCompletionNanos() {
        return rings.lastDoneNanos();
    }

    @Override
    protected void swapped(String from, String to, long switchNanos, int taken, int placed) {
        LOG.info("virtio-net swap: from {} to {}, switch {} us, {} active pair(s) replayed", from, to,
                TimeUnit.NANOSECONDS.toMicros(switchNanos), frontend().activePairs());
    }

    /**
     * Transmit rings off first: a back-end that loops or forwards frames to a receive queue never
     * takes one for a receive ring that is already off (it would drop it); untaken frames stay in
     * the ring past the base. A stop one ring at a time disables in queue order (rx before tx, as
     * QEMU does), so they are switched off here first; a one-batch stop (vhost-user,
     * {@link GenericVhostDevice#stopsInOneBatch}) goes in reverse start order, tx first, in its
     * own round trip.
     */
    @Override
    protected void beforeStop(GenericVhostDevice vhost) throws VhostException {
        // a one-batch stop switches them off in reverse start order, tx before rx, in the same round trip
        if (vhost.usesProtocolFeatures() && !vhost.stopsInOneBatch()) {
            for (NetQueuePair p : pairs) {
                vhost.setVringEnable(p.txq.index(), false);
            }
        }
    }

    /**
     * Layout: {@link NetDriverSnapshot}: the config space, the front-end's state (features, active
     * pairs, MAC, RX modes), each ring's addresses and indices. The rings restart on the same
     * backend where they stopped: receive buffers stay posted, frames waiting to be sent go out once.
     */
    @Override
    protected NetDriverSnapshot record(VirtioNetFrontend f, int[] bases, List<VirtqueueConfig> slept) throws VhostException {
        rings.takeRestartPoints(bases, backendName());
        List<VirtqueueConfig> configs = rings.configs(bases, bases[2 * pairs.length], f.activePairs());
        byte[] cfg = new byte[VirtioNet.CONFIG_SIZE];
        f.readConfig(0, cfg);
        return new NetDriverSnapshot(acked, cfg, f.snapshot(), configs, List.copyOf(rings.record()));
    }

    /** The rings restart where they stopped, at the queue configs recorded (the used index of each). */
    @Override
    protected List<VirtqueueConfig> wakeAfter(NetDriverSnapshot s) {
        return s.queues();
    }

    @Override
    protected NetDriverSnapshot decode(byte[] snapshot) throws VhostException {
        return NetDriverSnapshot.decode(snapshot, rings.count());
    }

    /** This device's MTU, queue pairs and queue size, and its rings at this driver's addresses. */
    @Override
    protected void checkRestorable(NetDriverSnapshot s) throws VhostException {
        if (s.config().length < VirtioNet.CONFIG_SIZE) {
            throw new VirtioDeviceException("restore: snapshot config space has " + s.config().length
                    + " bytes, virtio-net needs " + VirtioNet.CONFIG_SIZE);
        }
        int m = Short.toUnsignedInt(MemorySegment.ofArray(s.config()).get(LE16, VirtioNet.CFG_MTU));
        if (VirtioFeatures.has(acked, VirtioNet.F_MTU) && m != mtu) {
            throw new VirtioDeviceException("restore: snapshot MTU " + m + ", this device's is " + mtu);
        }
        rings.checkSnapshot(s.queues());
    }

    /**
     * Each ring at the snapshot's index. Frames waiting to be sent are dropped and counted (a
     * restore resets the rings, as a device reset does, VIRTIO 1.2 5.1.6); frames received and
     * not yet returned by {@code receive} are kept; the receive queues are filled on resume.
     */
    @Override
    protected List<VirtqueueConfig> resetRings(NetDriverSnapshot s) {
        int[] dropped = new int[1];
        List<VirtqueueConfig> configs = rings.resetTo(s.queues(), poll, dropped);
        droppedAtRestore = dropped[0];
        refillOnResume = true;
        return configs;
    }

    /** The front-end takes the snapshot's state: active pairs, MAC, RX modes, features. */
    @Override
    protected void loadState(VirtioNetFrontend f, NetDriverSnapshot s) throws VhostException {
        f.restore(s.device());
    }

    @Override
    protected String restored(NetDriverSnapshot s, long micros, int placed) {
        return String.format("restored on %s in %d us: %s; %d frame(s) waiting to be sent dropped", backendName(), micros,
                s.describe(), droppedAtRestore);
    }

    /** A burst in progress finishes before the memory goes; later ones see the driver closed. */
    @Override
    protected void stopForClose() {
        rings.lockAll();
        for (NetQueuePair p : pairs) {
            p.lock.unlock();
        }
    }

    @Override
    protected void closeResources() {
        ctrlWorkers.close();
        new NetMemory(shm, memory, rings).close();
    }

    // ---- counters ----

    /**
     * @return counters summed over the queue pairs: {@code requests} and {@code bytes} (frames
     *     and frame bytes both ways, the keys every driver reports), {@code tx.frames}, {@code tx.bytes},
     *     {@code rx.frames}, {@code rx.bytes}, {@code tx.full} (frames not taken because the ring
     *     was full; the application still has them), {@code drops} (frames refused for their
     *     length plus receive buffers the device returned without a usable frame), {@code swaps},
     *     {@code retaken} (chains the old back-end took without completing, offered again),
     *     {@code states.carried} (swaps that moved the back-end's state through DEVICE_STATE),
     *     {@code last.pause.us} (-1 when none), {@code last.switch.us} (how long the last rebind
     *     held the data path; -1 when none), {@code detached} (0/1)
     */
    @Override
    public Map<String, Long> counters() {
        Map<String, Long> m = new LinkedHashMap<>();
        rings.putCounters(m);
        m.put("swaps", swap.swaps());
        m.put("retaken", rings.retaken());
        swap.putSwapCounters(m);
        m.put("detached", isDetached() ? 1L : 0L);
        return m;
    }

    /** @return a one-line summary: MAC, MTU, pairs, features, link, backend */
    @Override
    public String summary() {
        NetDeviceInfo i = info;
        return String.format("net %s, mtu %d, %d/%d queue pair(s) of %d, features 0x%x%s, link %s, %s", i.mac(), i.mtu(),
                queuePairs(), i.maxQueuePairs(), i.queueSize(), i.features(), i.mergeableRxBuffers() ? ", mrg_rxbuf" : "",
                linkUp() ? "up" : "down", i.backend());
    }

    @Override
    public String toString() {
        return "VirtioNetDriver[" + info + "]";
    }
}
