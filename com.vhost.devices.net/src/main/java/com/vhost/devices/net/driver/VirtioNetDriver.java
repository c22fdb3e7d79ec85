package com.vhost.devices.net.driver;

import com.vhost.api.VhostBackend;
import com.vhost.api.VhostDisconnectedException;
import com.vhost.api.VhostException;
import com.vhost.api.VhostFeatureException;
import com.vhost.api.VhostNativeException;
import com.vhost.api.VhostTimeoutException;
import com.vhost.api.VirtioDeviceException;
import com.vhost.api.VirtqueueException;
import com.vhost.api.net.NetDevice;
import com.vhost.api.net.NetDeviceInfo;
import com.vhost.api.net.NetQueueStats;
import com.vhost.api.net.VirtioNet;
import com.vhost.api.virtio.GuestMemory;
import com.vhost.api.virtio.GuestMemoryRegion;
import com.vhost.api.virtio.Interrupt;
import com.vhost.api.virtio.VirtioDeviceState;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.api.virtio.VirtqueueConfig;
import com.vhost.spi.memory.GuestMemoryMap;
import com.vhost.spi.nativeio.EventFd;
import com.vhost.spi.nativeio.SharedMemory;
import com.vhost.spi.vhost.GenericVhostDevice;
import com.vhost.spi.driver.HotSwapState;
import com.vhost.spi.driver.VhostDrivers;
import com.vhost.spi.virtqueue.DriverQueue;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A virtio-net driver and its transport in one, with no VM (DPDK {@code virtio_user}): the
 * platform plays the guest (OASIS VIRTIO 1.2, section 5.1.6). It negotiates through a
 * {@link VirtioNetFrontend} over a {@link GenericVhostDevice}, lays out rings and buffers in one
 * {@link SharedMemory} (memfd) that the back-end maps, keeps every receive queue filled with
 * buffers, and moves frames with one descriptor per buffer ({@code virtio_net_hdr_v1} + frame).
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
 * made available for transmit and not yet consumed are sent by the new backend, once. Each
 * data-path call holds its pair's lock for the burst (an uncontended {@link ReentrantLock}, no
 * allocation); a swap takes every pair's lock, so a call made meanwhile waits for it, at most
 * {@link #swapWaitNanos()}.
 */
public final class VirtioNetDriver implements NetDevice {
    private static final Logger LOG = LoggerFactory.getLogger(VirtioNetDriver.class);
    private static final ValueLayout.OfShort LE16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final VarHandle U16 = LE16.varHandle();
    private static final VarHandle U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN).varHandle();
    private static final VarHandle U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN).varHandle();
    private static final long PAGE = 4096;
    /** Longest wait for a control command's ack, ms. */
    public static final long CTRL_TIMEOUT_MS = 5000;
    private static final long SPIN_NANOS = 50_000;

    /** Default bound on waiting for a swap, and on a detached device's wait for a backend, 10 s. */
    public static final long DEFAULT_SWAP_WAIT_NANOS = TimeUnit.SECONDS.toNanos(10);
    /** Bound on waiting for the old backend to complete chains it took before GET_VRING_BASE. */
    static final long STRAGGLER_WAIT_NANOS = TimeUnit.SECONDS.toNanos(1);

    /** Replaced by {@link #rebind}; read without a lock by the accessors. */
    private volatile GenericVhostDevice vhost;
    private volatile VirtioNetFrontend frontend;
    private final GuestMemory memory;
    private final int queueSize;
    private final DriverInterrupt interrupt = new DriverInterrupt();
    private final SharedMemory shm;
    private final long acked;
    private final boolean mrg;
    private final boolean poll;
    private final int mtu;
    private final int maxFrame;
    private final int rxBufBytes;
    private final Pair[] pairs;
    private final DriverQueue ctrlq;
    private final EventFd ctrlKick;
    private final EventFd ctrlCall;
    private final MemorySegment ctrlBuf;
    private final long ctrlGpa;
    private final long[] ctrlAddrs = new long[2];
    private final int[] ctrlLens = new int[2];
    private volatile NetDeviceInfo info;
    private final AtomicReference<VhostException> failure = new AtomicReference<>();
    private volatile boolean closed;
    /**
     * Hot-swap state (written under its lock with every pair's lock held): its lock serialises
     * use of the backend connection (control commands, rebind, detach and close); the detached
     * state, swap.wait.ms, detach-on-loss, swap counters and pause/switch times.
     */
    private final HotSwapState swap = new HotSwapState("virtio-net", "rebind/detach/close or control command", LOG,
            () -> vhost.backend().describe(), DEFAULT_SWAP_WAIT_NANOS);
    /** Where each data queue restarts after a detach (index = queue index), and the control queue. */
    private int[] restartBases;
    private int restartCtrl = -1;
    private final AtomicBoolean lossHandling = new AtomicBoolean();
    private final AtomicLong retaken = new AtomicLong();
    /** Bound on one device state SAVE or LOAD through the back-end's pipe, 2 s. */
    static final long STATE_TRANSFER_TIMEOUT_MS = 2000;
    private volatile long lastProbe = System.nanoTime();
    /**
     * Interval of liveness checks while the data path runs, ns: the data path never talks to the
     * vhost-user socket, so a back-end that went away is noticed by asking the backend whether
     * its peer hung up ({@link VhostBackend#isConnected()}, a {@code poll} on the socket for
     * vhost-user), at most this often rather than on every burst.
     */
    static final long PROBE_NANOS = 50_000_000L;

    /** One receive/transmit queue pair and its buffers; used by one thread at a time. */
    static final class Pair {
        final int index;
        final DriverQueue rxq;
        final DriverQueue txq;
        final EventFd rxKick;
        final EventFd rxCall;
        final EventFd txKick;
        final EventFd txCall;
        final MemorySegment rxBufs;
        final long rxGpa;
        final MemorySegment txBufs;
        final long txGpa;
        final int txSlot;
        final int size;
        final int[] txFree;
        int txFreeCount;
        final int[] rxFree;
        int rxFreeCount;
        /** Used receive buffers not yet turned into frames: slot and length, a ring. */
        final int[] compSlot;
        final int[] compLen;
        int compHead;
        int compCount;
        final long[] addrs = new long[1];
        final int[] lens = new int[1];
        final DriverQueue.UsedHandler txDone;
        final DriverQueue.UsedHandler rxDone;
        /** Held by a data-path call for its burst, and by a swap for its whole length. */
        final ReentrantLock lock = new ReentrantLock();
        /** System.nanoTime() of the last burst that saw a used element; written under {@link #lock}. */
        long lastDoneNanos;
        long txPackets;
        long txBytes;
        long txFull;
        long txErrors;
        long rxPackets;
        long rxBytes;
        long rxErrors;

        Pair(int index, DriverQueue rxq, DriverQueue txq, EventFd rxKick, EventFd rxCall, EventFd txKick, EventFd txCall,
                MemorySegment rxBufs, long rxGpa, MemorySegment txBufs, long txGpa, int txSlot) {
            this.index = index;
            this.rxq = rxq;
            this.txq = txq;
            this.rxKick = rxKick;
            this.rxCall = rxCall;
            this.txKick = txKick;
            this.txCall = txCall;
            this.rxBufs = rxBufs;
            this.rxGpa = rxGpa;
            this.txBufs = txBufs;
            this.txGpa = txGpa;
            this.txSlot = txSlot;
            this.size = rxq.size();
            this.txFree = new int[size];
            this.rxFree = new int[size];
            this.compSlot = new int[size];
            this.compLen = new int[size];
            for (int i = 0; i < size; i++) {
                txFree[i] = size - 1 - i;
                rxFree[i] = size - 1 - i;
            }
            txFreeCount = size;
            rxFreeCount = size;
            this.txDone = (token, len) -> txFree[txFreeCount++] = (int) token;
            this.rxDone = (token, len) -> {
                int at = (compHead + compCount) & (size - 1);
                compSlot[at] = (int) token;
                compLen[at] = len;
                compCount++;
            };
        }

        /**
         * Restore: forgets the chains on both rings and resets them at the given indices. Frames
         * waiting to be sent are dropped (as a device reset drops them); receive buffers that hold
         * a received frame not yet returned by {@code receive} keep it, the others become free to
         * post again. Caller holds {@link #lock}.
         *
         * @return frames waiting to be sent that were dropped
         */
        int resetRings(int rxIdx, int txIdx, boolean pollRx) {
            int dropped = txq.inFlight();
            txq.reset(txIdx);
            txq.disableNotifications();
            for (int i = 0; i < size; i++) {
                txFree[i] = size - 1 - i;
            }
            txFreeCount = size;
            rxq.reset(rxIdx);
            if (pollRx) {
                rxq.disableNotifications();
            }
            boolean[] holding = new boolean[size];
            for (int k = 0; k < compCount; k++) {
                holding[compSlot[(compHead + k) & (size - 1)]] = true;
            }
            rxFreeCount = 0;
            for (int i = size - 1; i >= 0; i--) {
                if (!holding[i]) {
                    rxFree[rxFreeCount++] = i;
                }
            }
            return dropped;
        }

        void closeFds() {
            rxKick.close();
            rxCall.close();
            txKick.close();
            txCall.close();
        }
    }

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
        return VhostDrivers.open(backend, com.vhost.api.virtio.VirtioDeviceType.NET, 2 * options.queuePairs(),
                vhost -> new VirtioNetDriver(vhost, options));
    }

    private VirtioNetDriver(GenericVhostDevice vhost, NetDriverOptions o) throws VhostException {
        this.vhost = vhost;
        this.poll = o.poll();
        this.queueSize = o.queueSize();
        byte[] mac0 = o.mac() != null ? o.mac() : NetMacs.randomLocal();
        this.frontend = new VirtioNetFrontend(vhost, o.queuePairs(), o.queueSize(), mac0);
        long offered = frontend.features();
        if (!VirtioFeatures.has(offered, VirtioFeatures.F_VERSION_1)) {
            throw new VhostFeatureException(String.format("virtio-net on %s: back-end features 0x%x lack VIRTIO_F_VERSION_1",
                    vhost.backend().describe(), vhost.backendFeatures()));
        }
        if (o.queuePairs() > 1 && !VirtioFeatures.has(offered, VirtioNet.F_MQ)) {
            throw new VhostFeatureException(String.format("virtio-net on %s: %d queue pairs wanted but the back-end's features 0x%x lack VIRTIO_NET_F_MQ",
                    vhost.backend().describe(), o.queuePairs(), vhost.backendFeatures()));
        }
        long want = offered;
        if (!o.mergeableRxBuffers()) {
            want &= ~VirtioFeatures.bit(VirtioNet.F_MRG_RXBUF);
        }
        frontend.ackFeatures(want);
        this.acked = frontend.ackedFeatures();
        this.mrg = VirtioFeatures.has(acked, VirtioNet.F_MRG_RXBUF);
        byte[] cfg = new byte[VirtioNet.CONFIG_SIZE];
        frontend.readConfig(0, cfg);
        this.mtu = Short.toUnsignedInt(MemorySegment.ofArray(cfg).get(LE16, VirtioNet.CFG_MTU));
        this.maxFrame = mtu + VirtioNet.ETH_HEADER + 4;
        this.rxBufBytes = o.rxBufferBytes();
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
        Pair[] ps = new Pair[np];
        List<EventFd> opened = new ArrayList<>();
        try {
            long base = shm.address();
            MemorySegment all = shm.segment();
            this.memory = GuestMemoryMap.of(List.of(new GuestMemoryRegion(base, total, base, shm.fd(), 0, all)));
            List<VirtqueueConfig> configs = new ArrayList<>();
            for (int p = 0; p < np; p++) {
                long off = p * pairBytes;
                DriverQueue rxq = new DriverQueue(VirtioNet.rxQueue(p), qsize, all.asSlice(off, qBytes), base + off, acked, 0);
                DriverQueue txq = new DriverQueue(VirtioNet.txQueue(p), qsize, all.asSlice(off + qBytes, qBytes), base + off + qBytes, acked, 0);
                EventFd rk = track(opened, EventFd.create());
                EventFd rc = track(opened, EventFd.create());
                EventFd tk = track(opened, EventFd.create());
                EventFd tc = track(opened, EventFd.create());
                long rxOff = off + 2 * qBytes;
                long txOff = rxOff + rxBytes;
                ps[p] = new Pair(p, rxq, txq, rk, rc, tk, tc, all.asSlice(rxOff, rxBytes), base + rxOff,
                        all.asSlice(txOff, txBytes), base + txOff, txSlot);
                // The transmit queue is reclaimed at each burst: never ask for its notifications.
                txq.disableNotifications();
                if (poll) {
                    rxq.disableNotifications();
                }
                boolean enabled = p == 0; // VIRTIO 1.2, 5.1.6.5.5: pair 0 until VQ_PAIRS_SET
                configs.add(new VirtqueueConfig(rxq.index(), qsize, rxq.descGpa(), rxq.availGpa(), rxq.usedGpa(), 0, rk.fd(), rc.fd(), enabled));
                configs.add(new VirtqueueConfig(txq.index(), qsize, txq.descGpa(), txq.availGpa(), txq.usedGpa(), 0, tk.fd(), tc.fd(), enabled));
            }
            long coff = np * pairBytes;
            int ci = VirtioNet.ctrlQueue(np);
            this.ctrlq = new DriverQueue(ci, VirtioNetFrontend.CTRL_QUEUE_SIZE, all.asSlice(coff, ctrlQBytes), base + coff, acked, 0);
            this.ctrlBuf = all.asSlice(coff + ctrlQBytes, ctrlBufBytes);
            this.ctrlGpa = base + coff + ctrlQBytes;
            this.ctrlKick = track(opened, EventFd.create());
            this.ctrlCall = track(opened, EventFd.create());
            configs.add(new VirtqueueConfig(ci, VirtioNetFrontend.CTRL_QUEUE_SIZE, ctrlq.descGpa(), ctrlq.availGpa(),
                    ctrlq.usedGpa(), 0, ctrlKick.fd(), ctrlCall.fd(), true));
            this.pairs = ps;
            frontend.activate(memory, interrupt, configs);
            for (Pair p : ps) {
                refill(p);
            }
            if (np > 1) {
                setQueuePairs(np);
            }
        } catch (VhostException | RuntimeException e) {
            if (frontend.state() == VirtioDeviceState.ACTIVE) {
                try {
                    frontend.reset();
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

    private static EventFd track(List<EventFd> opened, EventFd f) {
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
            if (queueIndex == ctrlq.index()) {
                try {
                    ctrlCall.signal();
                } catch (VhostNativeException e) {
                    LOG.debug("control queue call: {}", e.getMessage());
                }
            }
        }

        @Override
        public void signalConfigChanged() {
            LOG.info("virtio-net on {}: config changed", vhost.backend().describe());
        }

        @Override
        public void signalNeedsReset(String reason) {
            failure.compareAndSet(null, new VirtioDeviceException("virtio-net device needs reset: " + reason));
        }
    }

    // ---- checks ----

    private void checkUsable() throws VhostException {
        if (closed) {
            throw new VhostDisconnectedException("virtio-net on " + backendName() + " is closed");
        }
        VhostException f = failure.get();
        if (f != null) {
            throw f;
        }
        VhostException expired = swap.expired();
        if (expired != null) {
            throw expired;
        }
        // detached and not expired: frames go into the rings and wait there for the next backend
    }

    /**
     * Asks the backend, at most every {@link #PROBE_NANOS}, whether its peer is still there.
     * Called with a pair's lock or the swap lock held, so a swap cannot be closing the
     * backend being asked about.
     */
    private void probe() throws VhostException {
        if (swap.isDetached()) {
            return;
        }
        long now = System.nanoTime();
        if (now - lastProbe >= PROBE_NANOS) {
            lastProbe = now;
            GenericVhostDevice v = vhost;
            if (!v.backend().isConnected()) {
                if (swap.detachOnLoss()) {
                    backendLost(v.backend().describe());
                    return;
                }
                VhostException e = new VhostDisconnectedException("virtio-net: backend " + v.backend().describe() + " disconnected");
                failure.compareAndSet(null, e);
                throw failure.get();
            }
        }
    }

    /**
     * The data path found the backend gone and the device detaches on loss: detaches on a thread
     * of its own (it needs the pair locks the caller holds next). Frames keep going into the
     * rings meanwhile and wait there for {@link #rebind}.
     */
    private void backendLost(String name) {
        if (!lossHandling.compareAndSet(false, true)) {
            return;
        }
        Thread.ofPlatform().daemon().name("vhost-net-detach").start(() -> {
            try {
                LOG.warn("virtio-net on {}: backend lost; detaching, frames wait for a new backend", name);
                detach();
            } catch (VhostException | RuntimeException e) {
                failure.compareAndSet(null, new VhostDisconnectedException("virtio-net: backend " + name
                        + " lost and detaching failed: " + e.getMessage()));
            } finally {
                lossHandling.set(false);
            }
        });
    }

    private String backendName() {
        return swap.backendName();
    }

    /**
     * Takes the pair's lock for one burst; waits (bounded by {@link #swapWaitNanos()}) while a
     * swap holds it.
     */
    private void lockPair(Pair p, String what) throws VhostException {
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
        if (closed) {
            p.lock.unlock();
            throw new VhostDisconnectedException("virtio-net on " + backendName() + " is closed");
        }
    }

    /** Notes a burst that saw used elements: the first one after a swap ends its pause. */
    private void done(Pair p) {
        long now = System.nanoTime();
        p.lastDoneNanos = now;
        swap.firstCompletion(now);
    }

    private Pair pair(int queuePair) throws VhostException {
        checkUsable();
        int active = frontend.activePairs();
        if (queuePair < 0 || queuePair >= active) {
            throw new VirtioDeviceException("queue pair " + queuePair + " outside the " + active + " pair(s) in use (0.."
                    + (active - 1) + ")");
        }
        return pairs[queuePair];
    }

    // ---- data path ----

    @Override
    public int transmit(int queuePair, MemorySegment[] frames, int[] lengths, int count) throws VhostException {
        Pair p = pair(queuePair);
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
            return transmitLocked(p, frames, lengths, count);
        } finally {
            p.lock.unlock();
        }
    }

    private int transmitLocked(Pair p, MemorySegment[] frames, int[] lengths, int count) throws VhostException {
        probe();
        if (p.txq.pollUsed(p.txDone) > 0) {
            done(p);
        }
        int sent = 0;
        for (; sent < count; sent++) {
            if (p.txFreeCount == 0) {
                if (p.txq.pollUsed(p.txDone) > 0) {
                    done(p);
                }
                if (p.txFreeCount == 0) {
                    break;
                }
            }
            int slot = p.txFree[--p.txFreeCount];
            long off = (long) slot * p.txSlot;
            int len = lengths[sent];
            U64.set(p.txBufs, off, 0L); // flags 0, GSO_NONE, hdr_len 0, gso_size 0, csum_start 0
            U32.set(p.txBufs, off + 8, 0); // csum_offset 0, num_buffers 0
            MemorySegment.copy(frames[sent], 0, p.txBufs, off + VirtioNet.HDR_SIZE, len);
            p.addrs[0] = p.txGpa + off;
            p.lens[0] = VirtioNet.HDR_SIZE + len;
            p.txq.addDeferred(p.addrs, p.lens, 1, 0, slot);
            p.txPackets++;
            p.txBytes += len;
        }
        p.txFull += count - sent;
        if (sent > 0) {
            p.txq.publish(); // one avail idx store per burst
        }
        if (sent > 0 && p.txq.kickNeeded()) {
            p.txKick.signal();
        }
        return sent;
    }

    /** Posts every free receive buffer and kicks if the device wants it. */
    private void refill(Pair p) throws VhostException {
        int posted = 0;
        while (p.rxFreeCount > 0) {
            int slot = p.rxFree[p.rxFreeCount - 1];
            p.addrs[0] = p.rxGpa + (long) slot * rxBufBytes;
            p.lens[0] = rxBufBytes;
            if (p.rxq.addDeferred(p.addrs, p.lens, 0, 1, slot) < 0) {
                break;
            }
            p.rxFreeCount--;
            posted++;
        }
        if (posted > 0) {
            p.rxq.publish();
        }
        if (posted > 0 && p.rxq.kickNeeded()) {
            p.rxKick.signal();
        }
    }

    private void consume(Pair p, int n) {
        for (int k = 0; k < n; k++) {
            p.rxFree[p.rxFreeCount++] = p.compSlot[p.compHead];
            p.compHead = (p.compHead + 1) & (p.size - 1);
            p.compCount--;
        }
    }

    @Override
    public int receive(int queuePair, MemorySegment[] into, int[] lengths, int max) throws VhostException {
        Pair p = pair(queuePair);
        if (max < 0 || max > into.length || max > lengths.length) {
            throw new VirtioDeviceException("receive on pair " + queuePair + ": max " + max + " outside 0.."
                    + Math.min(into.length, lengths.length));
        }
        lockPair(p, "receive");
        try {
            return receiveLocked(p, into, lengths, max);
        } finally {
            p.lock.unlock();
        }
    }

    private int receiveLocked(Pair p, MemorySegment[] into, int[] lengths, int max) throws VhostException {
        probe();
        if (p.rxq.pollUsed(p.rxDone) > 0) {
            done(p);
        }
        int got = 0;
        while (got < max && p.compCount > 0) {
            int slot = p.compSlot[p.compHead];
            int len0 = p.compLen[p.compHead];
            long off0 = (long) slot * rxBufBytes;
            if (len0 < VirtioNet.HDR_SIZE || len0 > rxBufBytes) {
                p.rxErrors++; // a buffer the device gave back without a frame (dropped on its side)
                consume(p, 1);
                continue;
            }
            int nb = mrg ? Short.toUnsignedInt((short) U16.get(p.rxBufs, off0 + VirtioNet.HDR_NUM_BUFFERS)) : 1;
            if (nb < 1 || nb > p.size) {
                p.rxErrors++;
                consume(p, 1);
                continue;
            }
            if (p.compCount < nb) {
                break; // the rest of the frame is not published yet
            }
            long frameLen = len0 - VirtioNet.HDR_SIZE;
            boolean bad = false;
            for (int k = 1; k < nb; k++) {
                int l = p.compLen[(p.compHead + k) & (p.size - 1)];
                if (l < 0 || l > rxBufBytes) {
                    bad = true;
                }
                frameLen += l;
            }
            MemorySegment dst = into[got];
            if (bad || frameLen > dst.byteSize()) {
                p.rxErrors++;
                consume(p, nb);
                continue;
            }
            MemorySegment.copy(p.rxBufs, off0 + VirtioNet.HDR_SIZE, dst, 0, len0 - VirtioNet.HDR_SIZE);
            long at = len0 - VirtioNet.HDR_SIZE;
            for (int k = 1; k < nb; k++) {
                int c = (p.compHead + k) & (p.size - 1);
                int l = p.compLen[c];
                MemorySegment.copy(p.rxBufs, (long) p.compSlot[c] * rxBufBytes, dst, at, l);
                at += l;
            }
            consume(p, nb);
            lengths[got++] = (int) frameLen;
            p.rxPackets++;
            p.rxBytes += frameLen;
        }
        refill(p);
        return got;
    }

    @Override
    public boolean awaitReceive(int queuePair, long timeoutNanos) throws VhostException {
        Pair p = pair(queuePair);
        if (p.compCount > 0 || p.rxq.hasUsed()) {
            return true;
        }
        long deadline = System.nanoTime() + Math.max(0, timeoutNanos);
        long start = System.nanoTime();
        while (true) {
            if (poll) {
                if (p.compCount > 0 || p.rxq.hasUsed()) {
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
                    checkUsable();
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
                    if (p.compCount > 0 || p.rxq.enableNotifications()) {
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
                checkUsable();
            }
        }
    }

    // ---- control ----

    /** Sends one control command and waits (bounded) for its ack. */
    private void control(int cls, int cmd, byte[] data, String what) throws VhostException {
        swap.lock(what, null);
        try {
            controlLocked(cls, cmd, data, what);
        } finally {
            swap.unlock();
        }
    }

    private void controlLocked(int cls, int cmd, byte[] data, String what) throws VhostException {
        checkUsable();
        probe();
        if (swap.isDetached()) {
            throw new VhostDisconnectedException(what + ": virtio-net on " + backendName()
                    + " is detached; control commands need a backend (rebind first)");
        }
        if (!VirtioFeatures.has(acked, VirtioNet.F_CTRL_VQ)) {
            throw new VhostFeatureException(what + ": VIRTIO_NET_F_CTRL_VQ not negotiated");
        }
        ctrlBuf.set(ValueLayout.JAVA_BYTE, 0, (byte) cls);
        ctrlBuf.set(ValueLayout.JAVA_BYTE, 1, (byte) cmd);
        MemorySegment.copy(MemorySegment.ofArray(data), 0, ctrlBuf, 2, data.length);
        long ackOff = VirtioNetFrontend.CTRL_MAX_BYTES;
        ctrlBuf.set(ValueLayout.JAVA_BYTE, ackOff, (byte) 0xFF);
        ctrlAddrs[0] = ctrlGpa;
        ctrlLens[0] = 2 + data.length;
        ctrlAddrs[1] = ctrlGpa + ackOff;
        ctrlLens[1] = 1;
        if (ctrlq.add(ctrlAddrs, ctrlLens, 1, 1, 1) < 0) {
            throw new VirtqueueException(ctrlq.index(), what + ": control queue full");
        }
        if (ctrlq.kickNeeded()) {
            ctrlKick.signal();
        }
        long deadline = System.nanoTime() + CTRL_TIMEOUT_MS * 1_000_000L;
        while (!ctrlq.hasUsed()) {
            if (System.nanoTime() - deadline >= 0) {
                throw new VhostTimeoutException(what + ": no answer on the control queue within " + CTRL_TIMEOUT_MS + " ms");
            }
            ctrlCall.await(50);
            VhostException f = failure.get();
            if (f != null) {
                throw f;
            }
        }
        ctrlq.pollUsed((t, l) -> { });
        int ack = Byte.toUnsignedInt(ctrlBuf.get(ValueLayout.JAVA_BYTE, ackOff));
        if (ack != VirtioNet.CTRL_OK) {
            throw new VirtioDeviceException(what + " refused by the device (ack " + ack + "): " + frontend.control().lastError());
        }
    }

    @Override
    public int queuePairs() {
        return frontend.activePairs();
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
        frontend.readConfig(VirtioNet.CFG_MAC, cfg);
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
            byte[] data = command.length >= 2 ? java.util.Arrays.copyOfRange(command, 2, command.length) : new byte[0];
            control(command.length > 0 ? command[0] : 0xFF, command.length > 1 ? command[1] : 0xFF, data,
                    "control command of " + command.length + " bytes");
            return;
        }
        control(command[0], command[1], java.util.Arrays.copyOfRange(command, 2, command.length),
                "control command class " + command[0] + " command " + command[1]);
    }

    @Override
    public boolean linkUp() {
        byte[] s = new byte[2];
        frontend.readConfig(VirtioNet.CFG_STATUS, s);
        return (s[0] & VirtioNet.S_LINK_UP) != 0 && !closed && failure.get() == null;
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
        Pair p = pairs[queuePair];
        int posted = p.size - p.rxFreeCount - p.compCount;
        return new NetQueueStats(queuePair, p.txPackets, p.txBytes, p.txFull, p.txErrors, p.rxPackets, p.rxBytes,
                p.rxErrors, posted);
    }

    @Override
    public NetDeviceInfo info() {
        return info;
    }

    /** @return the {@link com.vhost.api.virtio.VirtioDevice} view (life cycle, config, control counters) */
    public VirtioNetFrontend frontend() {
        return frontend;
    }

    /** @return the vhost device underneath */
    public GenericVhostDevice vhost() {
        return vhost;
    }

    // ---- hot-swap ----

    /** Refuses a swap of a closed or failed device (a lost backend is not a failure: it can be replaced). */
    private void checkSwappable(String what, VhostBackend toClose) throws VhostException {
        VhostException f = failure.get();
        if (closed || (f != null && !(f instanceof VhostDisconnectedException))) {
            if (toClose != null) {
                toClose.close();
            }
            throw swap.refusal(what, closed, f);
        }
    }

    private void lockPairs() {
        for (Pair p : pairs) {
            p.lock.lock(); // a burst in progress finishes first; new ones wait (bounded) for unlockPairs
        }
    }

    private void unlockPairs() {
        for (Pair p : pairs) {
            p.lock.unlock();
        }
    }

    /**
     * Moves this device to {@code newBackend} (any backend type) while this {@link NetDevice}
     * handle stays valid (QEMU {@code vhost_dev_stop}/{@code vhost_dev_start} across back-ends).
     * Steps:
     * <ol>
     *   <li>Negotiate with {@code newBackend} while the old one still serves: it must offer every
     *       feature acked so far (MRG_RXBUF, MQ, EVENT_IDX, MTU, ...), GET_QUEUE_NUM enough for
     *       every queue pair, and the same MTU; otherwise {@link VhostFeatureException} and
     *       nothing changes.</li>
     *   <li>Hold the data path (every pair's lock; calls meanwhile wait at most
     *       {@link #swapWaitNanos()}) and control commands.</li>
     *   <li>Stop the old rings (SET_VRING_ENABLE(0), GET_VRING_BASE per queue; the control
     *       queue's worker), reap the used transmit slots and received frames (they are handed to
     *       the application by the next {@link #receive}), waiting at most 1 s for chains the old
     *       back-end took before GET_VRING_BASE; close the old backend.</li>
     *   <li>Start {@code newBackend} on the same memory, rings, kick and call eventfds, each ring at
     *       the base GET_VRING_BASE returned, the rings of the active pairs enabled (the control
     *       state: active pairs, RX modes, MAC, is the front-end's and carried over). Receive
     *       buffers posted stay posted; transmit chains past the base are sent by the new
     *       back-end.</li>
     * </ol>
     * A chain the old back-end took and did not complete within the bound (or all of them, when
     * it could not answer GET_VRING_BASE) is made available again: its frame may then go out
     * twice ({@code retaken} counter). Also resumes a {@link #detach() detached} device.
     *
     * @param newBackend an open backend; owned by the driver from now on (closed on refusal)
     * @throws VhostFeatureException when {@code newBackend} lacks an acked feature, queue pairs
     *     or has another MTU (the device keeps its old backend)
     * @throws VirtioDeviceException when the driver is closed or failed
     * @throws VhostTimeoutException when another swap/close/control command holds the device for 30 s
     * @throws VhostException from the new backend while starting it; the device is then detached
     *     (frames wait, bounded by {@link #swapWaitNanos()}, for another rebind)
     */
    public void rebind(VhostBackend newBackend) throws VhostException {
        swap.lock("rebind", newBackend);
        try {
            checkSwappable("rebind", newBackend);
            rebindLocked(newBackend);
        } finally {
            swap.unlock();
        }
    }

    private void rebindLocked(VhostBackend nb) throws VhostException {
        String from = backendName();
        String name = nb.describe();
        GenericVhostDevice nv;
        try {
            GenericVhostDevice.requireDeviceType(nb, com.vhost.api.virtio.VirtioDeviceType.NET);
            nv = new GenericVhostDevice(nb, 2 * pairs.length);
        } catch (VhostFeatureException e) {
            nb.close();
            throw new VhostFeatureException("rebind to " + name + " refused, the device stays on " + from + ": " + e.getMessage());
        } catch (VhostException | RuntimeException e) {
            nb.close();
            throw e;
        }
        VirtioNetFrontend of = frontend;
        VirtioNetFrontend nf;
        try {
            nf = new VirtioNetFrontend(nv, pairs.length, queueSize, mac());
            checkCompatible(nf, name, from);
            nf.ackFeatures(acked);
            nf.adoptControlState(of);
            nf.prepare(memory); // features and memory table now, while the old backend still serves
        } catch (VhostException | RuntimeException e) {
            nv.close();
            throw e;
        }
        long t0 = System.nanoTime();
        lockPairs();
        try {
            int[] bases;
            int ctrlBase;
            boolean wasDetached = swap.isDetached();
            if (wasDetached) {
                bases = restartBases;
                ctrlBase = restartCtrl;
            } else {
                bases = quiesce("rebind to " + name, nv);
                ctrlBase = restartCtrl;
            }
            List<VirtqueueConfig> configs = queueConfigs(bases, ctrlBase, nf.activePairs());
            try {
                nf.activate(memory, interrupt, configs);
            } catch (VhostException | RuntimeException e) {
                nv.close();
                if (!wasDetached) {
                    restartBases = bases;
                    swap.markDetached(from);
                }
                VhostException v = e instanceof VhostException ve ? ve
                        : new VirtioDeviceException("rebind: starting " + name + " failed: " + e, e);
                LOG.warn("virtio-net: starting {} failed ({}); the device is detached, frames wait up to {} ms for a backend",
                        name, v.getMessage(), TimeUnit.NANOSECONDS.toMillis(swap.swapWaitNanos()));
                throw v;
            }
            this.vhost = nv;
            this.frontend = nf;
            NetDeviceInfo i = info;
            this.info = new NetDeviceInfo(i.mac(), i.mtu(), i.maxQueuePairs(), i.queueSize(), i.rxBufferBytes(), i.features(),
                    i.mergeableRxBuffers(), i.poll(), name);
            long last = 0;
            for (Pair p : pairs) {
                if (p.lastDoneNanos != 0 && (last == 0 || p.lastDoneNanos - last > 0)) {
                    last = p.lastDoneNanos;
                }
            }
            swap.attached(last != 0 ? last : t0);
            restartBases = null;
            restartCtrl = -1;
            if (failure.get() instanceof VhostDisconnectedException d) {
                failure.compareAndSet(d, null); // the lost backend is replaced
            }
            lastProbe = System.nanoTime();
            swap.swapped(t0);
        } finally {
            unlockPairs();
        }
        wakeReceivers();
        LOG.info("virtio-net swap: from {} to {}, switch {} us, {} active pair(s) replayed", from, name,
                TimeUnit.NANOSECONDS.toMicros(swap.lastSwitchNanos()), nf.activePairs());
    }

    /** Queue configs for a restart at {@code bases}: same rings, same eventfds, active pairs enabled. */
    private List<VirtqueueConfig> queueConfigs(int[] bases, int ctrlBase, int active) {
        List<VirtqueueConfig> configs = new ArrayList<>(2 * pairs.length + 1);
        for (Pair p : pairs) {
            boolean on = p.index < active;
            DriverQueue r = p.rxq;
            DriverQueue t = p.txq;
            configs.add(new VirtqueueConfig(r.index(), queueSize, r.descGpa(), r.availGpa(), r.usedGpa(), bases[r.index()],
                    p.rxKick.fd(), p.rxCall.fd(), on));
            configs.add(new VirtqueueConfig(t.index(), queueSize, t.descGpa(), t.availGpa(), t.usedGpa(), bases[t.index()],
                    p.txKick.fd(), p.txCall.fd(), on));
        }
        configs.add(new VirtqueueConfig(ctrlq.index(), VirtioNetFrontend.CTRL_QUEUE_SIZE, ctrlq.descGpa(), ctrlq.availGpa(),
                ctrlq.usedGpa(), ctrlBase >= 0 ? ctrlBase : ctrlq.availIdx(), ctrlKick.fd(), ctrlCall.fd(), true));
        return configs;
    }

    private void checkCompatible(VirtioNetFrontend nf, String name, String from) throws VhostException {
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

    /**
     * Stops the old backend's rings and control worker, reaps what it completed, moves its
     * internal state to {@code next} when both offer DEVICE_STATE, and closes it. Caller holds
     * the swap lock and every pair's lock.
     *
     * @return where each data queue restarts (index = queue index); {@link #restartCtrl} is set
     */
    private int[] quiesce(String why, GenericVhostDevice next) {
        int[] bases = stopRings(why);
        GenericVhostDevice v = vhost;
        if (next != null) {
            swap.carryState(v, next, STATE_TRANSFER_TIMEOUT_MS);
        }
        swap.leaving(v.backend().describe());
        v.close();
        return bases;
    }

    /**
     * Stops the backend's rings and control worker and reaps what it completed, keeping the
     * backend (its front-end is then ASLEEP_ACTIVE). Caller holds the swap lock and every
     * pair's lock.
     *
     * @return where each data queue restarts (index = queue index); {@link #restartCtrl} is set
     */
    private int[] stopRings(String why) {
        long t0 = System.nanoTime();
        int nq = 2 * pairs.length;
        int[] bases = new int[nq];
        Arrays.fill(bases, -1);
        int ctrlNext = -1;
        VirtioNetFrontend f = frontend;
        GenericVhostDevice v = vhost;
        String name = v.backend().describe();
        try {
            if (f.state() == VirtioDeviceState.ACTIVE) {
                if (v.usesProtocolFeatures() && v.backend().isConnected()) {
                    // Transmit rings off first (the stop below disables in queue order, rx before
                    // tx, as QEMU does): a back-end that loops or forwards frames to a receive
                    // queue never takes one for a receive ring that is already off (it would
                    // drop it); untaken frames stay in the ring past the base for the new one.
                    for (Pair p : pairs) {
                        v.setVringEnable(p.txq.index(), false);
                    }
                }
                for (VirtqueueConfig c : f.sleep()) {
                    if (c.index() >= 0 && c.index() < nq) {
                        bases[c.index()] = c.nextAvail();
                    } else if (c.index() == ctrlq.index()) {
                        ctrlNext = c.nextAvail();
                    }
                }
            }
        } catch (VhostException | RuntimeException e) {
            LOG.warn("virtio-net on {}: stopping the rings for {} failed ({}); chains it had not completed are offered again",
                    name, why, e.getMessage());
            Arrays.fill(bases, -1);
        }
        long t1 = System.nanoTime();
        long deadline = t1 + STRAGGLER_WAIT_NANOS;
        int again = 0;
        for (Pair p : pairs) {
            again += settle(p, p.rxq, p.rxDone, bases, deadline, name);
            again += settle(p, p.txq, p.txDone, bases, deadline, name);
        }
        retaken.addAndGet(again);
        restartCtrl = ctrlNext;
        LOG.debug("virtio-net: stopped the rings of {} for {}: rings {} us, reap {} us, {} chain(s) offered again", name, why,
                (t1 - t0) / 1000, (System.nanoTime() - t1) / 1000, again);
        return bases;
    }

    /**
     * Reaps {@code q} until its used index reaches the base the old back-end returned (chains it
     * took complete first: a late write would land in a buffer the new back-end owns), bounded by
     * {@code deadline}. Sets {@code bases[q]} to where the new back-end starts: the base, or the
     * used index when the base is unknown, not about this ring, or not reached in time.
     *
     * @return chains made available again (taken by the old back-end, not completed)
     */
    private int settle(Pair p, DriverQueue q, DriverQueue.UsedHandler h, int[] bases, long deadline, String name) {
        int base = bases[q.index()];
        while (true) {
            try {
                if (q.pollUsed(h) > 0) {
                    p.lastDoneNanos = System.nanoTime();
                }
            } catch (VhostException | RuntimeException e) {
                LOG.warn("queue {}: reaping the used ring of {} failed: {}", q.index(), name, e.toString());
                break;
            }
            if (base < 0) {
                break;
            }
            int missing = (base - q.lastUsedIdx()) & 0xFFFF;
            if (missing == 0) {
                break;
            }
            if (missing > q.inFlight()) {
                LOG.warn("queue {}: base {} from {} is not between the used index {} and the avail index {}; restarting at {}",
                        q.index(), base, name, q.lastUsedIdx(), q.availIdx(), q.lastUsedIdx());
                base = -1;
                break;
            }
            if (System.nanoTime() - deadline > 0) {
                LOG.warn("queue {}: {} chain(s) taken by {} not completed {} ms after GET_VRING_BASE; offering them again",
                        q.index(), missing, name, TimeUnit.NANOSECONDS.toMillis(STRAGGLER_WAIT_NANOS));
                break;
            }
            LockSupport.parkNanos(20_000);
        }
        int used = q.lastUsedIdx();
        // base unknown: everything not completed is offered again, how much of it the old
        // back-end had taken cannot be told (not counted)
        int again = base < 0 ? 0 : (base - used) & 0xFFFF;
        bases[q.index()] = used;
        return again;
    }

    // ---- snapshot / restore of the running device ----

    /**
     * Takes a snapshot while the application keeps its handle (layout: {@link NetDriverSnapshot}):
     * the data path and control commands are held, the rings stop (transmit first, then
     * GET_VRING_BASE per queue; chains the back-end took are reaped, bounded), the config space,
     * the front-end's state (features, active pairs, MAC, RX modes) and each ring's addresses
     * and indices are recorded, and the
     * rings restart on the same backend where they stopped: receive buffers stay posted and
     * frames waiting to be sent go out once.
     *
     * @throws VirtioDeviceException when the driver is closed, failed or detached
     * @throws VhostTimeoutException when another swap/close/control command holds the device for 30 s
     * @throws VhostException when the backend refused to stop or restart; the device is then
     *     handled as after a backend loss (detached under the registry, else failed)
     */
    public byte[] snapshot() throws VhostException {
        swap.lock("snapshot", null);
        try {
            checkSwappable("snapshot", null);
            requireAttached("snapshot");
            String name = backendName();
            NetDriverSnapshot snap;
            lockPairs();
            try {
                VirtioNetFrontend f = frontend;
                int[] bases = stopRings("snapshot");
                List<VirtqueueConfig> configs = queueConfigs(bases, restartCtrl, f.activePairs());
                try {
                    snap = record(f, configs);
                    f.wake(configs);
                } catch (VhostException | RuntimeException e) {
                    VhostException v = e instanceof VhostException ve ? ve
                            : new VirtioDeviceException("snapshot of virtio-net on " + name + ": " + e, e);
                    LOG.warn("virtio-net on {}: snapshot failed: {}; handling it as a backend loss", name, v.getMessage());
                    restartBases = bases;
                    lostDuringCommand(name, v);
                    throw v;
                }
                restartCtrl = -1;
            } finally {
                unlockPairs();
            }
            wakeReceivers();
            LOG.info("virtio-net on {}: snapshot taken: {}", name, snap.describe());
            return snap.encode();
        } finally {
            swap.unlock();
        }
    }

    private NetDriverSnapshot record(VirtioNetFrontend f, List<VirtqueueConfig> configs) throws VhostException {
        byte[] cfg = new byte[VirtioNet.CONFIG_SIZE];
        f.readConfig(0, cfg);
        List<NetDriverSnapshot.Ring> rings = new ArrayList<>(configs.size());
        for (Pair p : pairs) {
            rings.add(new NetDriverSnapshot.Ring(p.rxq.availIdx(), p.rxq.lastUsedIdx(), p.rxq.inFlight()));
            rings.add(new NetDriverSnapshot.Ring(p.txq.availIdx(), p.txq.lastUsedIdx(), p.txq.inFlight()));
        }
        rings.add(new NetDriverSnapshot.Ring(ctrlq.availIdx(), ctrlq.lastUsedIdx(), ctrlq.inFlight()));
        return new NetDriverSnapshot(acked, cfg, f.snapshot(), configs, List.copyOf(rings));
    }

    private void requireAttached(String what) throws VirtioDeviceException {
        swap.requireAttached(what);
    }

    /** The backend failed under an operator's command: detach (registry) or fail, as a loss noticed by the data path. */
    private void lostDuringCommand(String name, VhostException why) {
        if (swap.detachOnLoss()) {
            try {
                vhost.close();
            } catch (RuntimeException e) {
                LOG.debug("closing {}: {}", name, e.toString());
            }
            swap.markDetached(name);
        } else {
            failure.compareAndSet(null, new VhostDisconnectedException("virtio-net on " + name + ": " + why.getMessage()));
        }
    }

    /**
     * Returns the running device to a {@link #snapshot}: it must have this device's acked
     * features, MTU, number of queue pairs and queue size, and its rings at this driver's
     * addresses (a snapshot of this driver); otherwise nothing changes. Then the rings stop,
     * the front-end takes the snapshot's state (active pairs, MAC, RX modes, features), each
     * ring is reset at the snapshot's index, the backend restarts there and the receive queues
     * are filled again. Frames waiting to be sent at the
     * restore are dropped and counted in the result (a restore resets the rings, as a device
     * reset does, VirtIO 1.2 §5.1.6); frames received and not yet returned by {@code receive}
     * are kept.
     *
     * @return a one-line summary: backend, queues and indices, frames dropped
     * @throws VirtioDeviceException naming the mismatch or the truncation (nothing changed), or
     *     when the driver is closed, failed or detached
     * @throws VhostException when the backend refused to restart; the device is then handled as
     *     after a backend loss
     */
    public String restore(byte[] snapshot) throws VhostException {
        NetDriverSnapshot s = NetDriverSnapshot.decode(snapshot, 2 * pairs.length + 1);
        swap.lock("restore", null);
        try {
            checkSwappable("restore", null);
            requireAttached("restore");
            checkRestorable(s);
            String name = backendName();
            long t0 = System.nanoTime();
            int dropped = 0;
            lockPairs();
            try {
                VirtioNetFrontend f = frontend;
                stopRings("restore");
                for (Pair p : pairs) {
                    dropped += p.resetRings(s.queues().get(2 * p.index).nextAvail(), s.queues().get(2 * p.index + 1).nextAvail(),
                            poll);
                }
                ctrlq.reset(s.queues().get(2 * pairs.length).nextAvail());
                restartCtrl = -1;
                List<VirtqueueConfig> configs = new ArrayList<>(s.queues().size());
                for (VirtqueueConfig c : s.queues()) {
                    configs.add(withFds(c));
                }
                try {
                    f.restore(s.device());
                    f.wake(configs);
                } catch (VhostException | RuntimeException e) {
                    VhostException v = e instanceof VhostException ve ? ve
                            : new VirtioDeviceException("restore: restarting " + name + " failed: " + e, e);
                    LOG.warn("virtio-net on {}: restore failed: {}; handling it as a backend loss", name, v.getMessage());
                    int[] at = new int[2 * pairs.length];
                    for (int i = 0; i < at.length; i++) {
                        at[i] = s.queues().get(i).nextAvail();
                    }
                    restartBases = at;
                    lostDuringCommand(name, v);
                    throw v;
                }
                for (Pair p : pairs) {
                    refill(p);
                }
            } finally {
                unlockPairs();
            }
            wakeReceivers();
            String result = String.format("restored on %s in %d us: %s; %d frame(s) waiting to be sent dropped", name,
                    TimeUnit.NANOSECONDS.toMicros(System.nanoTime() - t0), s.describe(), dropped);
            LOG.info("virtio-net {}", result);
            return result;
        } finally {
            swap.unlock();
        }
    }

    private VirtqueueConfig withFds(VirtqueueConfig c) {
        int i = c.index();
        int kick;
        int call;
        if (i == ctrlq.index()) {
            kick = ctrlKick.fd();
            call = ctrlCall.fd();
        } else {
            Pair p = pairs[i / 2];
            kick = (i % 2 == 0 ? p.rxKick : p.txKick).fd();
            call = (i % 2 == 0 ? p.rxCall : p.txCall).fd();
        }
        return new VirtqueueConfig(i, c.size(), c.descAddr(), c.availAddr(), c.usedAddr(), c.nextAvail(), kick, call, c.enabled());
    }

    private void checkRestorable(NetDriverSnapshot s) throws VhostException {
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
            DriverQueue q = i == nq - 1 ? ctrlq : (i % 2 == 0 ? pairs[i / 2].rxq : pairs[i / 2].txq);
            if (c.index() != q.index() || c.size() != q.size() || c.descAddr() != q.descGpa() || c.availAddr() != q.availGpa()
                    || c.usedAddr() != q.usedGpa()) {
                throw new VirtioDeviceException(String.format("restore: snapshot queue #%d (index %d, size %d, desc 0x%x) is"
                        + " not this driver's queue %d (size %d, desc 0x%x)", i, c.index(), c.size(), c.descAddr(), q.index(),
                        q.size(), q.descGpa()));
            }
        }
    }

    /** Wakes receivers waiting on a call eventfd: frames reaped by a swap are not announced by any back-end. */
    private void wakeReceivers() {
        for (Pair p : pairs) {
            try {
                p.rxCall.signal();
            } catch (VhostNativeException e) {
                LOG.debug("pair {}: waking receivers: {}", p.index, e.getMessage());
            }
        }
    }

    /**
     * Stops the rings and closes the backend but keeps this handle: transmit keeps placing frames
     * in the ring (sent by the next backend, once; a full ring returns fewer, as usual), receive
     * returns what was received before; control commands fail with
     * {@link VhostDisconnectedException}. {@link #rebind} gives it a backend; after
     * {@link #swapWaitNanos()} without one the data path fails with
     * {@link VhostDisconnectedException}. A device already detached stays so.
     *
     * @throws VirtioDeviceException when the driver is closed or failed
     * @throws VhostTimeoutException when another swap/close/control command holds the device for 30 s
     */
    public void detach() throws VhostException {
        swap.lock("detach", null);
        try {
            checkSwappable("detach", null);
            if (swap.isDetached()) {
                return;
            }
            String from = backendName();
            long t0 = System.nanoTime();
            lockPairs();
            try {
                restartBases = quiesce("detach", null);
                swap.markDetached(from);
            } finally {
                unlockPairs();
            }
            wakeReceivers();
            LOG.info("virtio-net unbind: from {} to (none), switch {} us; frames wait up to {} ms for a backend", from,
                    TimeUnit.NANOSECONDS.toMicros(System.nanoTime() - t0), TimeUnit.NANOSECONDS.toMillis(swap.swapWaitNanos()));
        } finally {
            swap.unlock();
        }
    }

    /** @return whether no backend is attached ({@link #detach()} without a later {@link #rebind}) */
    public boolean isDetached() {
        return swap.isDetached();
    }

    /** @return how long the data path waits for a swap, and a detached device for a backend, in nanoseconds */
    public long swapWaitNanos() {
        return swap.swapWaitNanos();
    }

    /**
     * @param nanos how long a data-path call waits for a swap in progress, and how long a detached
     *     device waits for a backend before its data path fails (0: at once)
     * @throws IllegalArgumentException when negative
     */
    public void setSwapWaitNanos(long nanos) {
        swap.setSwapWaitNanos(nanos);
    }

    /**
     * @param on true: a backend the data path finds disconnected detaches the device (frames wait,
     *     bounded by {@link #swapWaitNanos()}, for {@link #rebind}) instead of failing it
     */
    public void setDetachOnLoss(boolean on) {
        swap.setDetachOnLoss(on);
    }

    /**
     * @return the pause of the last swap in nanoseconds: from the last burst that saw a used
     *     element on the old backend to the first on the new one; -1 before any was measured
     */
    public long lastPauseNanos() {
        return swap.lastPauseNanos();
    }

    /** @return swaps whose pause has been measured (a first used element on the new backend seen) */
    public long pausesMeasured() {
        return swap.pausesMeasured();
    }

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
    public Map<String, Long> counters() {
        long txf = 0;
        long txb = 0;
        long rxf = 0;
        long rxb = 0;
        long full = 0;
        long drops = 0;
        for (Pair p : pairs) {
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

    @Override
    public void close() {
        boolean locked = swap.tryLock();
        if (!locked) {
            LOG.warn("virtio-net on {}: closing while another swap/control command still runs", backendName());
        }
        try {
            closeLocked();
        } finally {
            if (locked) {
                swap.unlock();
            }
        }
    }

    private void closeLocked() {
        if (closed) {
            return;
        }
        closed = true;
        lockPairs(); // a burst in progress finishes before the memory goes; later ones see closed
        unlockPairs();
        try {
            if (frontend.state() == VirtioDeviceState.ACTIVE) {
                frontend.reset();
            }
        } catch (VhostException | RuntimeException e) {
            LOG.debug("virtio-net on {}: stop on close failed: {}", vhost.backend().describe(), e.toString());
        }
        vhost.close();
        for (Pair p : pairs) {
            p.closeFds();
        }
        ctrlKick.close();
        ctrlCall.close();
        shm.close();
    }

    @Override
    public String toString() {
        return "VirtioNetDriver[" + info + "]";
    }
}
