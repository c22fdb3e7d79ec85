package com.vhost.devices.net.driver;

import com.vhost.api.VhostBackend;
import com.vhost.api.VhostDisconnectedException;
import com.vhost.api.VhostException;
import com.vhost.api.VhostFeatureException;
import com.vhost.api.VhostNativeException;
import com.vhost.api.VhostTimeoutException;
import com.vhost.api.VirtioDeviceException;
import com.vhost.api.net.NetDevice;
import com.vhost.api.net.NetDeviceInfo;
import com.vhost.api.net.NetQueueStats;
import com.vhost.api.net.VirtioNet;
import com.vhost.api.virtio.GuestMemory;
import com.vhost.api.virtio.GuestMemoryRegion;
import com.vhost.api.virtio.Interrupt;
import com.vhost.api.virtio.VirtioDeviceState;
import com.vhost.api.virtio.VirtioDeviceType;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.api.virtio.VirtqueueConfig;
import com.vhost.spi.driver.VhostDriver;
import com.vhost.spi.driver.VhostDrivers;
import com.vhost.spi.memory.GuestMemoryMap;
import com.vhost.spi.nativeio.EventFd;
import com.vhost.spi.nativeio.SharedMemory;
import com.vhost.spi.vhost.GenericVhostDevice;
import com.vhost.spi.virtqueue.DriverQueue;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
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
    private static final long PAGE = 4096;
    /** Longest wait for a control command's ack, ms. */
    public static final long CTRL_TIMEOUT_MS = 5000;
    private static final long SPIN_NANOS = 50_000;
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
    private static final DriverProfile PROFILE = new DriverProfile("virtio-net", "vhost-net", "frames",
            "rebind/detach/close or control command", "offering them again",
            "chains it had not completed are offered again", "closing while another swap/control command still runs",
            STRAGGLER_WAIT_NANOS, STATE_TRANSFER_TIMEOUT_MS);

    private final GuestMemory memory;
    private final int queueSize;
    private final Interrupt interrupt = new DriverInterrupt();
    private final SharedMemory shm;
    private final long acked;
    private final boolean poll;
    private final int mtu;
    private final int maxFrame;
    private final NetQueuePair[] pairs;
    private final NetControlQueue ctrl;
    private volatile NetDeviceInfo info;
    /** Where each data queue restarts after a stop (index = queue index), and the control queue. */
    private int[] restartBases;
    private int restartCtrl = -1;
    private final AtomicLong retaken = new AtomicLong();
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
        super(vhost, front, PROFILE, LOG, DEFAULT_SWAP_WAIT_NANOS);
        this.poll = o.poll();
        this.queueSize = o.queueSize();
        long offered = front.features();
        if (!VirtioFeatures.has(offered, VirtioFeatures.F_VERSION_1)) {
            throw new VhostFeatureException(String.format("virtio-net on %s: back-end features 0x%x lack VIRTIO_F_VERSION_1",
                    vhost.backend().describe(), vhost.backendFeatures()));
        }
        if (o.queuePairs() > 1 && !VirtioFeatures.has(offered, VirtioNet.F_MQ)) {
            throw new VhostFeatureException(String.format("virtio-net on %s: %d queue pairs wanted but the back-end's features 0x%x lack VIRTIO_NET_F_MQ",
                    vhost.backend().describe(), o.queuePairs(), vhost.backendFeatures()));
        }
        front.ackFeatures(o.mergeableRxBuffers() ? offered : offered & ~VirtioFeatures.bit(VirtioNet.F_MRG_RXBUF));
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
        int qsize = o.queueSize();
        int np = o.queuePairs();
        int txSlot = (int) alignUp(VirtioNet.HDR_SIZE + maxFrame, 64);
        long qBytes = alignUp(DriverQueue.layoutBytes(qsize, 0), PAGE);
        long rxBytes = alignUp((long) qsize * rxBufBytes, PAGE);
        long txBytes = alignUp((long) qsize * txSlot, PAGE);
        long pairBytes = 2 * qBytes + rxBytes + txBytes;
        long ctrlQBytes = alignUp(DriverQueue.layoutBytes(VirtioNetFrontend.CTRL_QUEUE_SIZE, 0), PAGE);
        long ctrlBufBytes = alignUp(VirtioNetFrontend.CTRL_MAX_BYTES + 64, PAGE);
        long total = np * pairBytes + ctrlQBytes + ctrlBufBytes;
        this.shm = SharedMemory.create("vhost-net-driver", total);
        NetQueuePair[] ps = new NetQueuePair[np];
        List<EventFd> opened = new ArrayList<>();
        try {
            long base = shm.address();
            MemorySegment all = shm.segment();
            this.memory = GuestMemoryMap.of(List.of(new GuestMemoryRegion(base, total, base, shm.fd(), 0, all)));
            for (int p = 0; p < np; p++) {
                long off = p * pairBytes;
                DriverQueue rxq = new DriverQueue(VirtioNet.rxQueue(p), qsize, all.asSlice(off, qBytes), base + off, acked, 0);
                DriverQueue txq = new DriverQueue(VirtioNet.txQueue(p), qsize, all.asSlice(off + qBytes, qBytes), base + off + qBytes, acked, 0);
                long rxOff = off + 2 * qBytes;
                long txOff = rxOff + rxBytes;
                ps[p] = new NetQueuePair(p, rxq, txq, track(opened), track(opened), track(opened), track(opened),
                        all.asSlice(rxOff, rxBytes), base + rxOff, rxBufBytes, mrg, all.asSlice(txOff, txBytes), base + txOff,
                        txSlot, swap);
                // The transmit queue is reclaimed at each burst: never ask for its notifications.
                txq.disableNotifications();
                if (poll) {
                    rxq.disableNotifications();
                }
            }
            long coff = np * pairBytes;
            this.ctrl = new NetControlQueue(new DriverQueue(VirtioNet.ctrlQueue(np), VirtioNetFrontend.CTRL_QUEUE_SIZE,
                    all.asSlice(coff, ctrlQBytes), base + coff, acked, 0), track(opened), track(opened),
                    all.asSlice(coff + ctrlQBytes, ctrlBufBytes), base + coff + ctrlQBytes);
            this.pairs = ps;
            int[] zero = new int[2 * np];
            front.activate(memory, interrupt, queueConfigs(zero, 0, 1)); // VIRTIO 1.2, 5.1.6.5.5: pair 0 until VQ_PAIRS_SET
            for (NetQueuePair p : ps) {
                p.refill();
            }
            if (np > 1) {
                setQueuePairs(np);
            }
        } catch (VhostException | RuntimeException e) {
            if (front.state() == VirtioDeviceState.ACTIVE) {
                try {
                    front.reset();
                } catch (VhostException | RuntimeException s) {
                    e.addSuppressed(s);
                }
            }
            for (EventFd f : opened) {
                f.close();
            }
            shm.close();
            throw e;
        }
        this.info = new NetDeviceInfo(NetMacs.format(mac()), mtu, np, qsize, rxBufBytes, acked, mrg, poll, vhost.backend().describe());
        LOG.debug("virtio-net on {}: {}", vhost.backend().describe(), info);
    }

    private static EventFd track(List<EventFd> opened) throws VhostException {
        EventFd f = EventFd.create();
        opened.add(f);
        return f;
    }

    private static long alignUp(long v, long a) {
        return (v + a - 1) & -a;
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

    /** Takes the pair's lock for one burst; waits (bounded by {@link #swapWaitNanos()}) while a swap holds it. */
    private void lockPair(NetQueuePair p, String what) throws VhostException {
        if (p.lock.tryLock()) {
            return;
        }
        boolean got;
        try {
            got = p.lock.tryLock(swap.swapWaitNanos(), TimeUnit.NANOSECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new VhostTimeoutException(what + " on pair " + p.index + ": interrupted while a swap of virtio-net on "
                    + backendName() + " held the queue");
        }
        if (!got) {
            throw new VhostTimeoutException(what + " on pair " + p.index + ": a swap of virtio-net on " + backendName()
                    + " held the queue longer than " + TimeUnit.NANOSECONDS.toMillis(swap.swapWaitNanos()) + " ms (swap.wait.ms)");
        }
        if (isClosed()) {
            p.lock.unlock();
            throw new VhostDisconnectedException("virtio-net on " + backendName() + " is closed");
        }
    }

    private NetQueuePair pair(int queuePair) throws VhostException {
        usable();
        int active = frontend().activePairs();
        if (queuePair < 0 || queuePair >= active) {
            throw new VirtioDeviceException("queue pair " + queuePair + " outside the " + active + " pair(s) in use (0.."
                    + (active - 1) + ")");
        }
        return pairs[queuePair];
    }

    // ---- data path ----

    @Override
    public int transmit(int queuePair, MemorySegment[] frames, int[] lengths, int count) throws VhostException {
        NetQueuePair p = pair(queuePair);
        if (count < 0 || count > frames.length || count > lengths.length) {
            throw new VirtioDeviceException("transmit on pair " + queuePair + ": count " + count + " outside 0.."
                    + Math.min(frames.length, lengths.length));
        }
        for (int i = 0; i < count; i++) {
            int len = lengths[i];
            if (len < VirtioNet.ETH_HEADER || len > maxFrame || len > frames[i].byteSize()) {
                p.txErrors++;
                throw new VirtioDeviceException("transmit on pair " + queuePair + ": frame " + i + " of " + len
                        + " bytes outside " + VirtioNet.ETH_HEADER + ".." + maxFrame + " (MTU " + mtu + " + 18)"
                        + (len > frames[i].byteSize() ? " or longer than its segment of " + frames[i].byteSize() + " bytes" : "")
                        + "; nothing of the burst was sent");
            }
        }
        lockPair(p, "transmit");
        try {
            probe();
            return p.transmit(frames, lengths, count);
        } finally {
            p.lock.unlock();
        }
    }

    @Override
    public int receive(int queuePair, MemorySegment[] into, int[] lengths, int max) throws VhostException {
        NetQueuePair p = pair(queuePair);
        if (max < 0 || max > into.length || max > lengths.length) {
            throw new VirtioDeviceException("receive on pair " + queuePair + ": max " + max + " outside 0.."
                    + Math.min(into.length, lengths.length));
        }
        lockPair(p, "receive");
        try {
            probe();
            return p.receive(into, lengths, max);
        } finally {
            p.lock.unlock();
        }
    }

    @Override
    public boolean awaitReceive(int queuePair, long timeoutNanos) throws VhostException {
        NetQueuePair p = pair(queuePair);
        if (p.hasReceived() || p.rxq.hasUsed()) {
            return true;
        }
        long deadline = System.nanoTime() + Math.max(0, timeoutNanos);
        long start = System.nanoTime();
        while (true) {
            if (poll) {
                if (p.hasReceived() || p.rxq.hasUsed()) {
                    return true;
                }
                long now = System.nanoTime();
                if (now - deadline >= 0) {
                    return false;
                }
                if (now - start < SPIN_NANOS) {
                    Thread.onSpinWait();
                } else {
                    LockSupport.parkNanos(Math.min(20_000, deadline - now));
                    usable();
                    lockPair(p, "awaitReceive");
                    try {
                        probe();
                    } finally {
                        p.lock.unlock();
                    }
                }
            } else {
                lockPair(p, "awaitReceive");
                try {
                    probe();
                    if (p.hasReceived() || p.rxq.enableNotifications()) {
                        return true;
                    }
                } finally {
                    p.lock.unlock();
                }
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    return false;
                }
                p.rxCall.await((int) Math.max(1, Math.min(100, left / 1_000_000)));
                if (p.rxq.hasUsed()) {
                    return true;
                }
                usable();
            }
        }
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
    protected VirtioDeviceType deviceType() {
        return VirtioDeviceType.NET;
    }

    @Override
    protected int vhostQueues() {
        return 2 * pairs.length;
    }

    /** Every pair's receive and transmit queue, then the control queue. */
    @Override
    protected int ringCount() {
        return 2 * pairs.length + 1;
    }

    @Override
    protected GuestMemory memory() {
        return memory;
    }

    @Override
    protected long ackedFeatures() {
        return acked;
    }

    @Override
    protected Interrupt interrupt() {
        return interrupt;
    }

    @Override
    protected Set<Class<?>> apiTypes() {
        return Set.of(NetDevice.class, VirtioNetDriver.class);
    }

    @Override
    protected VirtioNetFrontend newFrontend(GenericVhostDevice vhost) {
        return new VirtioNetFrontend(vhost, pairs.length, queueSize, mac());
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

    /** Takes every pair's lock: a burst in progress finishes first; new ones wait (bounded) for the resume. */
    @Override
    protected void holdDataPath() {
        for (NetQueuePair p : pairs) {
            p.lock.lock();
        }
    }

    /** Fills the receive queues after a restore, releases the pairs and wakes receivers (frames reaped are announced by no back-end). */
    @Override
    protected int resumeDataPath(boolean attached) {
        try {
            if (attached && refillOnResume) {
                for (NetQueuePair p : pairs) {
                    p.refill();
                }
            }
        } catch (VhostException e) {
            LOG.warn("virtio-net on {}: filling the receive queues failed: {}", backendName(), e.getMessage());
        } finally {
            refillOnResume = false;
            for (NetQueuePair p : pairs) {
                p.lock.unlock();
            }
        }
        for (NetQueuePair p : pairs) {
            try {
                p.rxCall.signal();
            } catch (VhostNativeException e) {
                LOG.debug("pair {}: waking receivers: {}", p.index, e.getMessage());
            }
        }
        return 0;
    }

    @Override
    protected DriverQueue ringQueue(int ring) {
        return ring < 2 * pairs.length ? queue(ring) : null; // the control queue has nothing in flight under the swap lock
    }

    private DriverQueue queue(int ring) {
        NetQueuePair p = pairs[ring / 2];
        return ring % 2 == 0 ? p.rxq : p.txq;
    }

    @Override
    protected void reap(int ring) throws VhostException {
        pairs[ring / 2].reap(queue(ring));
    }

    /**
     * Each data ring restarts at its used index: chains the old back-end took and did not
     * complete (base beyond the used index) are offered again and counted in {@code retaken};
     * with the base unknown everything not completed is offered again, uncounted.
     */
    @Override
    protected int takeOutstanding(int[] bases, String why) {
        int again = 0;
        for (int i = 0; i < 2 * pairs.length; i++) {
            DriverQueue q = queue(i);
            try {
                pairs[i / 2].reap(q);
            } catch (VhostException | RuntimeException e) {
                LOG.warn("queue {}: reaping the used ring of {} failed: {}", q.index(), backendName(), e.toString());
            }
            int used = q.lastUsedIdx();
            again += bases[i] < 0 ? 0 : (bases[i] - used) & 0xFFFF;
            bases[i] = used;
        }
        retaken.addAndGet(again);
        restartBases = Arrays.copyOf(bases, 2 * pairs.length);
        restartCtrl = bases[2 * pairs.length];
        return again;
    }

    @Override
    protected List<VirtqueueConfig> restartConfigs(VirtioNetFrontend next) {
        return queueConfigs(restartBases, restartCtrl, next.activePairs());
    }

    /** Queue configs for a restart at {@code bases}: same rings, same eventfds, active pairs enabled. */
    private List<VirtqueueConfig> queueConfigs(int[] bases, int ctrlBase, int active) {
        List<VirtqueueConfig> configs = new ArrayList<>(2 * pairs.length + 1);
        for (NetQueuePair p : pairs) {
            boolean on = p.index < active;
            DriverQueue r = p.rxq;
            DriverQueue t = p.txq;
            configs.add(new VirtqueueConfig(r.index(), queueSize, r.descGpa(), r.availGpa(), r.usedGpa(), bases[r.index()],
                    p.rxKick.fd(), p.rxCall.fd(), on));
            configs.add(new VirtqueueConfig(t.index(), queueSize, t.descGpa(), t.availGpa(), t.usedGpa(), bases[t.index()],
                    p.txKick.fd(), p.txCall.fd(), on));
        }
        configs.add(ctrl.config(ctrlBase));
        return configs;
    }

    @Override
    protected void attachedTo(GenericVhostDevice vhost, String name) {
        NetDeviceInfo i = info;
        this.info = new NetDeviceInfo(i.mac(), i.mtu(), i.maxQueuePairs(), i.queueSize(), i.rxBufferBytes(), i.features(),
                i.mergeableRxBuffers(), i.poll(), name);
        restartBases = null;
        restartCtrl = -1;
        lastProbe = System.nanoTime();
    }

    @Override
    protected long lastCompletionNanos() {
        long last = 0;
        for (NetQueuePair p : pairs) {
            if (p.lastDoneNanos != 0 && (last == 0 || p.lastDoneNanos - last > 0)) {
                last = p.lastDoneNanos;
            }
        }
        return last;
    }

    @Override
    protected void swapped(String from, String to, long switchNanos, int taken, int placed) {
        LOG.info("virtio-net swap: from {} to {}, switch {} us, {} active pair(s) replayed", from, to,
                TimeUnit.NANOSECONDS.toMicros(switchNanos), frontend().activePairs());
    }

    /**
     * Transmit rings off first (the sleep disables in queue order, rx before tx, as QEMU does):
     * a back-end that loops or forwards frames to a receive queue never takes one for a receive
     * ring that is already off (it would drop it); untaken frames stay in the ring past the base.
     */
    @Override
    protected void beforeStop(GenericVhostDevice vhost) throws VhostException {
        if (vhost.usesProtocolFeatures()) {
            for (NetQueuePair p : pairs) {
                vhost.backend().setVringEnable(p.txq.index(), false);
            }
        }
    }

    /**
     * Layout: {@link NetDriverSnapshot}: the config space, the front-end's state (features, active
     * pairs, MAC, RX modes), each ring's addresses and indices. The rings restart on the same
     * backend where they stopped: receive buffers stay posted, frames waiting to be sent go out once.
     */
    @Override
    protected Recorded record(VirtioNetFrontend f, int[] bases, List<VirtqueueConfig> slept) throws VhostException {
        takeOutstanding(bases, "snapshot");
        List<VirtqueueConfig> configs = queueConfigs(bases, restartCtrl, f.activePairs());
        byte[] cfg = new byte[VirtioNet.CONFIG_SIZE];
        f.readConfig(0, cfg);
        List<NetDriverSnapshot.Ring> rings = new ArrayList<>(configs.size());
        for (NetQueuePair p : pairs) {
            rings.add(new NetDriverSnapshot.Ring(p.rxq.availIdx(), p.rxq.lastUsedIdx(), p.rxq.inFlight()));
            rings.add(new NetDriverSnapshot.Ring(p.txq.availIdx(), p.txq.lastUsedIdx(), p.txq.inFlight()));
        }
        rings.add(new NetDriverSnapshot.Ring(ctrl.ring.availIdx(), ctrl.ring.lastUsedIdx(), ctrl.ring.inFlight()));
        NetDriverSnapshot snap = new NetDriverSnapshot(acked, cfg, f.snapshot(), configs, List.copyOf(rings));
        return new Recorded(snap.encode(), snap.describe(), configs);
    }

    @Override
    protected NetDriverSnapshot decode(byte[] snapshot) throws VhostException {
        return NetDriverSnapshot.decode(snapshot, 2 * pairs.length + 1);
    }

    /** This device's acked features, MTU, queue pairs and queue size, and its rings at this driver's addresses. */
    @Override
    protected void checkRestorable(NetDriverSnapshot s) throws VhostException {
        if (s.ackedFeatures() != acked) {
            throw new VhostFeatureException(String.format(
                    "restore: snapshot acked features 0x%x, this device acked 0x%x (they differ in 0x%x)",
                    s.ackedFeatures(), acked, s.ackedFeatures() ^ acked));
        }
        if (s.config().length < VirtioNet.CONFIG_SIZE) {
            throw new VirtioDeviceException("restore: snapshot config space has " + s.config().length
                    + " bytes, virtio-net needs " + VirtioNet.CONFIG_SIZE);
        }
        int m = Short.toUnsignedInt(MemorySegment.ofArray(s.config()).get(LE16, VirtioNet.CFG_MTU));
        if (VirtioFeatures.has(acked, VirtioNet.F_MTU) && m != mtu) {
            throw new VirtioDeviceException("restore: snapshot MTU " + m + ", this device's is " + mtu);
        }
        int nq = 2 * pairs.length + 1;
        if (s.queues().size() != nq) {
            throw new VirtioDeviceException("restore: snapshot has " + s.queues().size() + " queues, this device " + nq
                    + " (" + pairs.length + " pair(s) and the control queue)");
        }
        for (int i = 0; i < nq; i++) {
            VirtqueueConfig c = s.queues().get(i);
            DriverQueue q = i == nq - 1 ? ctrl.ring : queue(i);
            if (c.index() != q.index() || c.size() != q.size() || c.descAddr() != q.descGpa() || c.availAddr() != q.availGpa()
                    || c.usedAddr() != q.usedGpa()) {
                throw new VirtioDeviceException(String.format("restore: snapshot queue #%d (index %d, size %d, desc 0x%x) is"
                        + " not this driver's queue %d (size %d, desc 0x%x)", i, c.index(), c.size(), c.descAddr(), q.index(),
                        q.size(), q.descGpa()));
            }
        }
    }

    /**
     * Each ring at the snapshot's index. Frames waiting to be sent are dropped and counted (a
     * restore resets the rings, as a device reset does, VIRTIO 1.2 5.1.6); frames received and
     * not yet returned by {@code receive} are kept; the receive queues are filled on resume.
     */
    @Override
    protected List<VirtqueueConfig> resetRings(NetDriverSnapshot s) {
        int dropped = 0;
        for (NetQueuePair p : pairs) {
            dropped += p.resetRings(s.queues().get(2 * p.index).nextAvail(), s.queues().get(2 * p.index + 1).nextAvail(), poll);
        }
        ctrl.ring.reset(s.queues().get(2 * pairs.length).nextAvail());
        restartCtrl = -1;
        droppedAtRestore = dropped;
        refillOnResume = true;
        List<VirtqueueConfig> configs = new ArrayList<>(s.queues().size());
        for (VirtqueueConfig c : s.queues()) {
            int i = c.index();
            EventFd kick = i == ctrl.ring.index() ? ctrl.kick : i % 2 == 0 ? pairs[i / 2].rxKick : pairs[i / 2].txKick;
            EventFd call = i == ctrl.ring.index() ? ctrl.call : i % 2 == 0 ? pairs[i / 2].rxCall : pairs[i / 2].txCall;
            configs.add(new VirtqueueConfig(i, c.size(), c.descAddr(), c.availAddr(), c.usedAddr(), c.nextAvail(), kick.fd(),
                    call.fd(), c.enabled()));
        }
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
        holdDataPath();
        for (NetQueuePair p : pairs) {
            p.lock.unlock();
        }
    }

    @Override
    protected void closeResources() {
        for (NetQueuePair p : pairs) {
            p.closeFds();
        }
        ctrl.closeFds();
        shm.close();
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
        long txf = 0;
        long txb = 0;
        long rxf = 0;
        long rxb = 0;
        long full = 0;
        long drops = 0;
        for (NetQueuePair p : pairs) {
            txf += p.txPackets;
            txb += p.txBytes;
            rxf += p.rxPackets;
            rxb += p.rxBytes;
            full += p.txFull;
            drops += p.txErrors + p.rxErrors;
        }
        Map<String, Long> m = new LinkedHashMap<>();
        // The keys every driver has (vhost:stats, JMX Requests/Bytes): frames and bytes moved both ways.
        m.put("requests", txf + rxf);
        m.put("bytes", txb + rxb);
        m.put("tx.frames", txf);
        m.put("tx.bytes", txb);
        m.put("rx.frames", rxf);
        m.put("rx.bytes", rxb);
        m.put("tx.full", full);
        m.put("drops", drops);
        m.put("swaps", swap.swaps());
        m.put("retaken", retaken.get());
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
