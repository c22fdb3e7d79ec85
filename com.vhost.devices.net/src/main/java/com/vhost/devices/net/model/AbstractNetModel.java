package com.vhost.devices.net.model;

import com.vhost.api.VhostException;
import com.vhost.api.VirtioDeviceException;
import com.vhost.api.VirtqueueException;
import com.vhost.api.net.VirtioNet;
import com.vhost.api.virtio.GuestMemory;
import com.vhost.api.virtio.Interrupt;
import com.vhost.api.virtio.VirtioDeviceState;
import com.vhost.api.virtio.VirtioDeviceType;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.api.virtio.VirtqueueConfig;
import com.vhost.spi.virtqueue.DescriptorChain;
import com.vhost.spi.virtqueue.DeviceQueue;
import com.vhost.spi.backend.PerQueueDevice;
import com.vhost.spi.backend.QueueWorker;
import com.vhost.spi.backend.WorkerDevice;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The common part of the virtio-net back-end models served by the vhost-user back-end server
 * (OASIS VIRTIO 1.2, section 5.1): config space, features, life cycle, the transmit-queue worker
 * and frame delivery into receive chains. A subclass says what happens to a transmitted frame
 * ({@link #transmitted}) and may run a host port ({@link #portStarted} / {@link #portStopping})
 * that delivers frames with {@link #deliver}.
 *
 * <p><b>Queues</b>: {@code 2 × pairs} virtqueues, rx0, tx0, rx1, tx1, ... The control virtqueue is
 * not part of a vhost back-end: the front-end handles it (QEMU {@code virtio_net_handle_ctrl},
 * DPDK {@code virtio_user_handle_cq}) and enables/disables rings with SET_VRING_ENABLE.
 *
 * <p><b>Features offered</b>: VERSION_1, EVENT_IDX, INDIRECT_DESC, MRG_RXBUF, MTU, MAC, STATUS,
 * RING_PACKED (packed rings, see {@code DeviceQueue}) and MQ when {@code pairs > 1}. No checksum or segmentation offloads: a transmitted header is ignored
 * and a delivered header is all zero except {@code num_buffers}.
 *
 * <p><b>Data path</b>: one {@link QueueWorker} thread serves the transmit queues (receive queues
 * wait for frames, so the worker would see their buffers as pending work forever; they ask the
 * driver for no kicks). Frames are copied straight between guest memory and their destination, no
 * allocation. Without MRG_RXBUF one receive chain must hold header + frame; with it, a frame spans
 * as many chains as needed and the first header's {@code num_buffers} says how many. A frame with
 * no receive buffer posted is dropped and counted ({@link NetPortCounters#rxNoBuffer()}); receive
 * chains too small for a frame are returned with used length 0 and counted
 * ({@link NetPortCounters#rxTooBig()}); a transmit chain shorter than header + Ethernet header is
 * completed and counted as a {@link NetPortCounters#txErrors()}.
 *
 * <p>Life cycle per {@link VirtioDeviceState}; a call in a state that does not allow it throws
 * {@link VirtioDeviceException}. Snapshot: acked features, the state slept from and the queue
 * states (not fds).
 *
 * <p><b>One ring at a time</b> ({@link PerQueueDevice}; vhost-user spec, "Ring states"): while
 * ACTIVE a single queue stops ({@link #stopQueue}, GET_VRING_BASE) or starts ({@link #startQueue})
 * and the others run on, as in {@code FileBlockModel}: a transmit queue leaves or joins the one
 * worker thread between two frames ({@link QueueWorker#removeQueue} / {@link
 * QueueWorker#addQueue}); a receive queue stops under its pair's {@link #rxLock}, and every
 * delivery, by the worker or a port thread, reads the running receive queue under that lock, so
 * once {@code stopQueue} returned nothing writes that ring. A frame for a receive queue that does
 * not run is held back as during a sleep, never taken and dropped: see each model
 * ({@link #transmitWaitsForReceive}). After the last queue stopped the idle worker is kept through
 * a sleep for the wake.
 */
public abstract class AbstractNetModel extends WorkerDevice implements PerQueueDevice, AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(AbstractNetModel.class);
    /** How long sleep/reset wait for the worker, ms. */
    public static final long STOP_TIMEOUT_MS = 10_000;
    /** The snapshot format version, declared as {@code net.model:N} in the bundle's Vhost-Snapshot-Writes header. */
    static final int SNAPSHOT_VERSION = NetModelSnapshot.VERSION;

    private final String name;
    private final int pairs;
    private final int queueSize;
    private final int mtu;
    private final byte[] mac;
    private volatile long offered;
    private final byte[] config = new byte[VirtioNet.CONFIG_SIZE];
    private final NetPortCounters[] counters;
    private final DescriptorChain[] txChains;
    private final NetReceivePath receive;
    /** Held while a receive queue is written or stopped (the worker and a port thread may both deliver). */
    private final Object[] rxLocks;

    private volatile boolean polling;
    /** Kick fds of the running queues by index, as the transport gave them (polling hides them from the worker). */
    private final int[] kickFds;
    private QueueWorker worker;
    /** A running worker serving no queue, kept by {@link #stopQueues} for the next start (no thread start then). */
    private QueueWorker spare;
    private boolean closed;
    /** The running queues by index (a held transmit queue included); replaced whole, a receive queue's under its rxLock. */
    private volatile DeviceQueue[] byIndex;
    /** Per pair: its transmit queue when it runs but is held off the worker ({@link #transmitWaitsForReceive()}). */
    private final DeviceQueue[] parked;

    /**
     * @param pairs queue pairs, 1..128
     * @param queueSize largest queue size, a power of two in 2..32768
     * @param mac the MAC address the config space reports, 6 bytes
     * @param mtu the MTU the config space reports, 68..65535 bytes
     */
    protected AbstractNetModel(String name, int pairs, int queueSize, byte[] mac, int mtu) {
        super(LOG, name);
        this.name = name;
        if (pairs < 1 || pairs > 128) {
            throw new IllegalArgumentException("queue pairs " + pairs + " not in 1..128");
        }
        if (queueSize < 2 || queueSize > 32768 || Integer.bitCount(queueSize) != 1) {
            throw new IllegalArgumentException("queue size " + queueSize + " is not a power of two in 2..32768");
        }
        if (mac == null || mac.length != VirtioNet.MAC_BYTES) {
            throw new IllegalArgumentException("MAC must be 6 bytes");
        }
        if (mtu < 68 || mtu > 65535) {
            throw new IllegalArgumentException("MTU " + mtu + " not in 68..65535");
        }
        this.pairs = pairs;
        this.queueSize = queueSize;
        this.mtu = mtu;
        this.mac = mac.clone();
        long f = VirtioFeatures.bit(VirtioFeatures.F_VERSION_1) | VirtioFeatures.bit(VirtioFeatures.F_EVENT_IDX)
                | VirtioFeatures.bit(VirtioFeatures.F_INDIRECT_DESC) | VirtioFeatures.bit(VirtioNet.F_MRG_RXBUF)
                | VirtioFeatures.bit(VirtioNet.F_MTU) | VirtioFeatures.bit(VirtioNet.F_MAC)
                | VirtioFeatures.bit(VirtioNet.F_STATUS) | VirtioFeatures.bit(VirtioFeatures.F_RING_PACKED)
                | VirtioFeatures.bit(VirtioFeatures.F_IN_ORDER); // every queue completes in pop order (VIRTIO 1.2 2.7.9)
        if (pairs > 1) {
            f |= VirtioFeatures.bit(VirtioNet.F_MQ);
        }
        this.offered = f;
        this.counters = new NetPortCounters[pairs];
        this.txChains = new DescriptorChain[pairs];
        this.receive = new NetReceivePath(pairs, queueSize);
        this.rxLocks = new Object[pairs];
        this.kickFds = new int[2 * pairs];
        this.byIndex = new DeviceQueue[2 * pairs];
        this.parked = new DeviceQueue[pairs];
        for (int p = 0; p < pairs; p++) {
            counters[p] = new NetPortCounters();
            txChains[p] = new DescriptorChain(queueSize);
            rxLocks[p] = new Object();
        }
        ByteBuffer b = ByteBuffer.wrap(config).order(ByteOrder.LITTLE_ENDIAN);
        b.put(VirtioNet.CFG_MAC, this.mac);
        b.putShort(VirtioNet.CFG_STATUS, (short) VirtioNet.S_LINK_UP);
        b.putShort(VirtioNet.CFG_MAX_VIRTQUEUE_PAIRS, (short) pairs);
        b.putShort(VirtioNet.CFG_MTU, (short) mtu);
        b.putInt(VirtioNet.CFG_SPEED, -1); // unknown
        b.put(VirtioNet.CFG_DUPLEX, (byte) 0xFF); // unknown
    }

    /**
     * Busy polling: from the next activation or wake on, the worker spins on the transmit queues
     * instead of waiting for kicks, and asks the driver not to kick (as DPDK's vhost PMD does);
     * idle, it backs off to short sleeps (at most 8 ms). Costs a CPU while traffic flows.
     */
    public void setPolling(boolean on) {
        polling = on;
    }

    /**
     * Stops offering {@code featureBits} (DPDK {@code rte_vhost_driver_disable_features}), e.g.
     * a back-end without VIRTIO_NET_F_MRG_RXBUF. Allowed before the first activation only.
     *
     * @param featureBits bits to withhold; VIRTIO_F_VERSION_1 cannot be withheld
     * @throws IllegalStateException once the device was activated
     * @throws IllegalArgumentException for VIRTIO_F_VERSION_1
     */
    public synchronized void withholdFeatures(long featureBits) {
        VirtioDeviceState state = state();
        if (state != VirtioDeviceState.NEW) {
            throw new IllegalStateException(name + ": withholdFeatures: not allowed in state " + state + " (NEW only)");
        }
        if (VirtioFeatures.has(featureBits, VirtioFeatures.F_VERSION_1)) {
            throw new IllegalArgumentException(name + ": VIRTIO_F_VERSION_1 cannot be withheld");
        }
        offered &= ~featureBits;
    }

    /** @return queue pairs */
    public int pairs() {
        return pairs;
    }

    /**
     * @param pair 0..pairs-1
     * @return the live counters of {@code pair}
     */
    public NetPortCounters counters(int pair) {
        return counters[pair];
    }

    /** Releases the host port when the model is closed (default: nothing). */
    protected void closePort() {}

    // ---- identity, features, config ----

    @Override
    public VirtioDeviceType deviceType() {
        return VirtioDeviceType.NET;
    }

    @Override
    public int[] queueMaxSizes() {
        int[] s = new int[2 * pairs];
        Arrays.fill(s, queueSize);
        return s;
    }

    @Override
    public long features() {
        return offered;
    }

    /** Config space per {@link VirtioNet}{@code .CFG_*}; bytes past {@link VirtioNet#CONFIG_SIZE} read 0. */
    @Override
    public void readConfig(long offset, byte[] data) {
        if (offset < 0) {
            throw new IllegalArgumentException("config offset " + offset + " is negative");
        }
        for (int i = 0; i < data.length; i++) {
            long at = offset + i;
            data[i] = at < config.length ? config[(int) at] : 0;
        }
    }

    /** The virtio-net config space is read-only for the driver (VIRTIO 1.2, 5.1.4): writes are ignored. */
    @Override
    public void writeConfig(long offset, byte[] data) {
        LOG.debug(name + ": ignoring config write of {} bytes at {}", data.length, offset);
    }

    // ---- life cycle ----

    /**
     * Whether a pair's transmit queue is served only while its receive queue runs (default
     * false). A model whose transmitted frames go to the receive queue of the same pair (the
     * loopback) says true: while that receive queue is stopped, its transmit queue is held out of
     * the worker and its frames wait on the transmit ring, as they do while the device sleeps,
     * instead of being taken and dropped for want of a receive buffer.
     */
    protected boolean transmitWaitsForReceive() {
        return false;
    }

    /**
     * Called (on the life-cycle thread) after the receive queue of {@code pair} started running,
     * by activate, wake or {@link #startQueue}; a model whose port waits for it wakes the port here
     * (default: nothing).
     */
    protected void receiveQueueStarted(int pair) {}

    private void checkQueue(VirtqueueConfig c) throws VirtqueueException {
        if (c.index() < 0 || c.index() >= 2 * pairs) {
            throw new VirtqueueException(c.index(), name + " has queues 0.." + (2 * pairs - 1));
        }
        if (c.size() > queueSize) {
            throw new VirtqueueException(c.index(), "size " + c.size() + " exceeds the maximum " + queueSize);
        }
    }

    /** @return the running queue for {@code c}: a polled transmit queue has no kick fd, a receive queue asks for no kicks */
    private DeviceQueue newQueue(GuestMemory mem, VirtqueueConfig c) throws VirtqueueException {
        VirtqueueConfig run = c;
        if (polling && (c.index() & 1) == 1) {
            // a queue without kick fd is busy-polled by the worker, with kicks suppressed
            run = new VirtqueueConfig(c.index(), c.size(), c.descAddr(), c.availAddr(), c.usedAddr(), c.nextAvail(), -1,
                    c.callFd(), c.enabled());
        }
        DeviceQueue q = new DeviceQueue(mem, run, ackedFeatures());
        if ((c.index() & 1) == 0) {
            q.disableNotifications(); // frames arrive on TX: a receive queue needs no kicks
        }
        return q;
    }

    /** @return {@code q} as it stopped: nextAvail where it stopped, fds as the transport gave them, enabled as it ran */
    private VirtqueueConfig stoppedConfig(DeviceQueue q) {
        VirtqueueConfig c = q.config();
        return new VirtqueueConfig(c.index(), c.size(), c.descAddr(), c.availAddr(), c.usedAddr(), c.nextAvail(),
                kickFds[c.index()], c.callFd(), q.isEnabled());
    }

    /** Replaces the running queue at {@code index} (copy on write; a receive queue's under its pair's rxLock). */
    private void setRunning(int index, DeviceQueue q) {
        DeviceQueue[] idx = byIndex.clone();
        idx[index] = q;
        byIndex = idx;
    }

    private boolean noQueueRuns() {
        for (DeviceQueue q : byIndex) {
            if (q != null) {
                return false;
            }
        }
        return true;
    }

    @Override
    protected final void startQueues(GuestMemory mem, Interrupt irq, List<VirtqueueConfig> qs) throws VhostException {
        DeviceQueue[] idx = new DeviceQueue[2 * pairs];
        int[] kicks = new int[2 * pairs];
        Arrays.fill(kicks, -1);
        for (VirtqueueConfig c : qs) {
            checkQueue(c);
            if (idx[c.index()] != null) {
                throw new VirtqueueException(c.index(), "given twice");
            }
            kicks[c.index()] = c.kickFd();
            idx[c.index()] = newQueue(mem, c);
        }
        List<DeviceQueue> served = new ArrayList<>(qs.size());
        DeviceQueue[] held = new DeviceQueue[pairs];
        for (int p = 0; p < pairs; p++) {
            DeviceQueue tx = idx[VirtioNet.txQueue(p)];
            if (tx != null && transmitWaitsForReceive() && idx[VirtioNet.rxQueue(p)] == null) {
                held[p] = tx;
            } else if (tx != null) {
                served.add(tx);
            }
        }
        System.arraycopy(kicks, 0, kickFds, 0, kicks.length);
        System.arraycopy(held, 0, parked, 0, pairs);
        byIndex = idx;
        LOG.debug(name + ": serving queues {}", qs);
        QueueWorker w = worker;
        if (w != null) { // kept idle, with its port, across a sleep after the last queue stopped
            try {
                for (DeviceQueue q : served) {
                    w.addQueue(q, STOP_TIMEOUT_MS);
                }
            } catch (VhostException | RuntimeException e) {
                stopQueues();
                throw e;
            }
        } else {
            QueueWorker s = spare;
            spare = null;
            if (s != null && s.isRunning()) { // kept by stopQueues: HotSpot's Thread.start waits for the thread to run
                s.rebind(irq);
                w = s;
                try {
                    for (DeviceQueue q : served) {
                        w.addQueue(q, STOP_TIMEOUT_MS);
                    }
                } catch (VhostException | RuntimeException e) {
                    w.stop(STOP_TIMEOUT_MS);
                    byIndex = new DeviceQueue[2 * pairs];
                    throw e;
                }
            } else {
                w = new QueueWorker("vhost-net-" + name, served, this::process, irq);
                w.start(); // interrupt() is irq already (WorkerDevice sets it before startQueues)
            }
            worker = w;
            try {
                portStarted();
            } catch (VhostException | RuntimeException e) {
                w.stop(STOP_TIMEOUT_MS);
                worker = null;
                byIndex = new DeviceQueue[2 * pairs];
                throw e;
            }
        }
        for (int p = 0; p < pairs; p++) {
            if (idx[VirtioNet.rxQueue(p)] != null) {
                receiveQueueStarted(p);
            }
        }
    }

    @Override
    protected final List<VirtqueueConfig> stopQueues() throws VhostException {
        QueueWorker w = worker;
        if (w == null) {
            return List.of();
        }
        portStopping();
        if (!closed && w.isRunning()) { // its queues removed, the idle thread is kept for the next start
            for (DeviceQueue q : w.queues()) {
                w.removeQueue(q.index(), STOP_TIMEOUT_MS);
            }
            spare = w;
        } else {
            w.stop(STOP_TIMEOUT_MS);
        }
        worker = null;
        List<VirtqueueConfig> out = new ArrayList<>();
        for (DeviceQueue q : byIndex) { // in index order
            if (q != null) {
                out.add(stoppedConfig(q));
            }
        }
        byIndex = new DeviceQueue[2 * pairs];
        Arrays.fill(parked, null);
        return List.copyOf(out);
    }

    /**
     * A sleep after every queue stopped ({@link #stopQueue}) keeps the idle worker and port for
     * the wake, as {@code FileBlockModel} does: a vhost-user device state SAVE after the last ring
     * stopped costs no thread join, the wake that follows no thread start. They touch no ring.
     */
    @Override
    protected final List<VirtqueueConfig> sleepQueues() throws VhostException {
        return worker != null && noQueueRuns() ? List.of() : stopQueues();
    }

    /** The idle worker kept across the sleep signals the old interrupt: it takes the new one (it serves no queue). */
    @Override
    protected final void rebinding(GuestMemory mem, Interrupt irq) throws VirtioDeviceException {
        if (worker != null && irq != interrupt()) {
            worker.rebind(irq);
        }
    }

    /**
     * Stops queue {@code index} while ACTIVE; the others run on (vhost-user GET_VRING_BASE on one
     * ring). A transmit queue is taken off the worker between two frames, every frame taken from
     * it completed and its notification sent. A receive queue stops under its pair's rxLock, so no
     * delivery (worker or port) writes it afterwards; with {@link #transmitWaitsForReceive()} the
     * pair's transmit queue is first held out of the worker (its frames wait on their ring).
     *
     * @param index queue index, rx {@code 2p}, tx {@code 2p + 1}
     * @return the queue as it stopped ({@code nextAvail} what GET_VRING_BASE reports), or null
     *     when it was not running
     * @throws VirtioDeviceException when the device is not ACTIVE
     * @throws com.vhost.api.VhostTimeoutException when the frame in flight did not finish within
     *     {@value #STOP_TIMEOUT_MS} ms (the queue still runs)
     */
    @Override
    public synchronized VirtqueueConfig stopQueue(int index) throws VhostException {
        if (state() != VirtioDeviceState.ACTIVE) {
            throw badState("stopQueue");
        }
        DeviceQueue q = index < 0 || index >= 2 * pairs ? null : byIndex[index];
        if (q == null) {
            return null;
        }
        int pair = index >>> 1;
        if ((index & 1) == 1) {
            if (parked[pair] == q) {
                parked[pair] = null; // held: not on the worker
            } else {
                worker.removeQueue(index, STOP_TIMEOUT_MS);
            }
            setRunning(index, null);
            return stoppedConfig(q);
        }
        DeviceQueue tx = byIndex[index + 1];
        if (tx != null && parked[pair] == null && transmitWaitsForReceive()) {
            worker.removeQueue(index + 1, STOP_TIMEOUT_MS);
            parked[pair] = tx;
        }
        synchronized (rxLocks[pair]) {
            setRunning(index, null);
            if (q.needsNotification()) {
                interrupt().signalUsedQueue(index);
            }
        }
        return stoppedConfig(q);
    }

    /**
     * Starts queue {@code queue} while ACTIVE over the memory the device was activated or rebound
     * with (vhost-user ring start), from its nextAvail; the others run on. A transmit queue joins
     * the worker, which serves what is available at once (held instead while the pair's receive
     * queue is stopped, see {@link #transmitWaitsForReceive()}); a receive queue becomes a
     * delivery target and a held transmit queue of its pair joins the worker.
     *
     * @throws VirtioDeviceException when the device is not ACTIVE, {@code queue} is null or that
     *     queue already runs
     * @throws VirtqueueException for an index outside {@code 0..2*pairs-1}, a size over the
     *     maximum or rings outside guest memory
     * @throws com.vhost.api.VhostTimeoutException when the worker did not take the queue within
     *     {@value #STOP_TIMEOUT_MS} ms (it does not run then)
     */
    @Override
    public synchronized void startQueue(VirtqueueConfig queue) throws VhostException {
        if (state() != VirtioDeviceState.ACTIVE) {
            throw badState("startQueue");
        }
        if (queue == null) {
            throw new VirtioDeviceException(name + ": startQueue needs a queue");
        }
        checkQueue(queue);
        int index = queue.index();
        if (byIndex[index] != null) {
            throw new VirtioDeviceException(name + ": queue " + index + " is already running");
        }
        DeviceQueue q = newQueue(memory(), queue);
        int pair = index >>> 1;
        kickFds[index] = queue.kickFd();
        if ((index & 1) == 1) {
            setRunning(index, q);
            if (transmitWaitsForReceive() && byIndex[index - 1] == null) {
                parked[pair] = q;
                return;
            }
            try {
                worker.addQueue(q, STOP_TIMEOUT_MS);
            } catch (VhostException | RuntimeException e) {
                setRunning(index, null);
                throw e;
            }
            return;
        }
        synchronized (rxLocks[pair]) {
            setRunning(index, q);
        }
        DeviceQueue held = parked[pair];
        if (held != null) {
            try {
                worker.addQueue(held, STOP_TIMEOUT_MS);
            } catch (VhostException | RuntimeException e) {
                synchronized (rxLocks[pair]) {
                    setRunning(index, null);
                }
                throw e;
            }
            parked[pair] = null;
        }
        receiveQueueStarted(pair);
    }
    /** Snapshot layout: see {@link NetModelSnapshot}; the fds of the queues slept with are not part of it. */
    @Override
    public synchronized byte[] snapshot() throws VhostException {
        requireAsleep("snapshot");
        boolean active = state() == VirtioDeviceState.ASLEEP_ACTIVE;
        return new NetModelSnapshot(pairs, ackedFeatures(), active, active ? sleptQueues() : List.of()).encode(name);
    }

    @Override
    public synchronized void restore(byte[] snapshot) throws VhostException {
        requireAsleep("restore");
        // fds are not part of a snapshot: the queues slept with lend theirs, by index
        NetModelSnapshot s = NetModelSnapshot.decode(name, snapshot, pairs, offered, sleptQueues());
        restored(s.features(), s.active(), s.queues());
    }

    // ---- data path (worker thread) ----

    /**
     * Serves a kick on a transmit queue: every pending frame goes to {@link #transmitted}.
     * Receive queues are not served by the worker (their buffers wait for frames; the worker
     * would see them as pending work forever) and ask the driver for no kicks.
     */
    private void process(int queueIndex, DeviceQueue tx) throws VirtqueueException {
        int pair = queueIndex >>> 1;
        DeviceQueue rx = byIndex[VirtioNet.rxQueue(pair)];
        NetPortCounters ctr = counters[pair];
        if (LOG.isTraceEnabled()) {
            LOG.trace(name + ": kick on queue {}: rx {}, tx {}", queueIndex, rx, tx);
        }
        int delivered = 0;
        if (tx.isEnabled()) {
            DescriptorChain t = txChains[pair];
            while (tx.pop(t)) {
                long len = t.readableBytes() - VirtioNet.HDR_SIZE;
                if (len < VirtioNet.ETH_HEADER) {
                    ctr.txError();
                    tx.addUsedBatched(t.head(), 0); // IN_ORDER: one used element for the run (2.7.9)
                    continue;
                }
                ctr.transmitted(len);
                if (transmitted(pair, rx, tx, t, len, ctr)) {
                    delivered++;
                }
            }
            tx.flushUsed();
        }
        if (delivered > 0) {
            synchronized (rxLocks[pair]) {
                DeviceQueue now = byIndex[VirtioNet.rxQueue(pair)]; // a stopped queue was notified by stopQueue
                if (now != null && now.needsNotification()) {
                    interrupt().signalUsedQueue(now.index());
                }
            }
        }
        // tx's own notification: the worker sends it after this returns
    }

    /**
     * A frame the driver transmitted on {@code pair}, on the worker thread. The model completes
     * the chain on {@code txq} (used length 0, VIRTIO 1.2 2.7.8) once it no longer reads it: a
     * model that delivers the frame to a receive queue of the same driver does so before the
     * receive elements are published ({@link #deliver} with {@code srcQueue}), so that a back-end
     * killed between the two stores loses the frame rather than having the driver offer it again
     * to the next back-end and receive it twice. A model that delivers takes {@link #rxLock} and
     * delivers to {@link #receiveQueue} as read under it (the queue may have stopped since
     * {@code rx} was read).
     *
     * @param rx the pair's receive queue when the kick was served (null when not running)
     * @param txq the pair's transmit queue, where {@code tx} came from
     * @param tx the chain: {@code virtio_net_hdr_v1} then {@code len} frame bytes
     * @return whether a frame was delivered on the receive queue (its used-buffer notification follows)
     */
    protected abstract boolean transmitted(int pair, DeviceQueue rx, DeviceQueue txq, DescriptorChain tx, long len,
            NetPortCounters ctr) throws VirtqueueException;

    /** Called after the worker started, with {@link #receiveQueue} set; a model with a host port starts it here. */
    protected void portStarted() throws VhostException {}

    /** Called before the worker stops; a model with a host port stops touching the queues here. */
    protected void portStopping() {}

    /**
     * @return the running receive queue of {@code pair}, or null (not started, or stopped); read
     *     it under {@link #rxLock} to deliver, so a stopped queue is never written
     */
    protected final DeviceQueue receiveQueue(int pair) {
        return byIndex[VirtioNet.rxQueue(pair)];
    }

    /**
     * @return the lock to hold while delivering on the receive queue of {@code pair} and deciding
     *     its notification (the worker and a port thread may both deliver; {@link #stopQueue}
     *     takes it to stop the queue)
     */
    protected final Object rxLock(int pair) {
        return rxLocks[pair];
    }

    /** @return the MTU in the config space */
    public final int mtu() {
        return mtu;
    }

    /** {@link #deliverFromHost}: the frame was written and published. */
    protected static final int HOST_DELIVERED = 1;
    /** {@link #deliverFromHost}: the frame was dropped and counted (no buffer posted, or too big). */
    protected static final int HOST_DROPPED = 0;
    /** {@link #deliverFromHost}: not delivered, the receive queue is not running (or no buffer, when waiting for one): keep the frame. */
    protected static final int HOST_HELD = -1;

    /**
     * Delivers a frame from the host side (a port thread) on the receive queue of {@code pair}:
     * under {@link #rxLock} it reads the running queue, writes and publishes the frame and sends
     * the notification the driver asks for. A receive queue that does not run (never started,
     * or stopped by {@link #stopQueue}) is not touched: the caller keeps the frame, as while the
     * device sleeps.
     *
     * @param bytes the frame, {@code len} bytes (no virtio-net header)
     * @param waitForBuffer true: with no receive buffer posted the frame is held too; false: it
     *     is dropped and counted ({@link NetPortCounters#rxNoBuffer()})
     * @return {@link #HOST_DELIVERED}, {@link #HOST_DROPPED} or {@link #HOST_HELD}
     * @throws VirtqueueException for a malformed receive chain or ring
     */
    protected final int deliverFromHost(int pair, MemorySegment bytes, long len, boolean waitForBuffer) throws VirtqueueException {
        synchronized (rxLocks[pair]) {
            DeviceQueue rx = receiveQueue(pair);
            if (rx == null || (waitForBuffer && (!rx.isEnabled() || !rx.hasAvailable()))) {
                return HOST_HELD;
            }
            boolean done = deliver(pair, rx, null, null, bytes, len, counters[pair]);
            if (rx.needsNotification()) {
                interrupt().signalUsedQueue(rx.index());
            }
            return done ? HOST_DELIVERED : HOST_DROPPED;
        }
    }

    /**
     * Writes one frame (from transmit chain {@code src} after its header, or from {@code bytes})
     * into receive chains of {@code rx}, behind a header whose {@code num_buffers} counts them
     * (1 without MRG_RXBUF; VIRTIO 1.2, 5.1.6.4). Used elements are published only once the whole
     * frame is written. The caller holds {@link #rxLock} and read {@code rx} under it.
     *
     * @param srcQueue with {@code src}: the transmit queue {@code src} came from; {@code src} is
     *     then completed there (used length 0) in every case, after its bytes were copied and
     *     before the receive elements are published (at most once: a back-end that dies between
     *     the two stores loses this frame, none is received twice); null to leave {@code src} to
     *     the caller
     * @return whether the frame was delivered (false: dropped and counted, no buffer or too big)
     * @throws VirtqueueException for a malformed receive chain or ring
     */
    protected final boolean deliver(int pair, DeviceQueue rx, DescriptorChain src, DeviceQueue srcQueue, MemorySegment bytes,
            long len, NetPortCounters ctr) throws VirtqueueException {
        return receive.deliver(pair, rx, src, srcQueue, bytes, len, ctr, ackedFeatures());
    }
    /** Stops the worker if running. */
    @Override
    public synchronized void close() {
        closed = true;
        try {
            stopQueues();
            if (spare != null) {
                spare.stop(STOP_TIMEOUT_MS);
                spare = null;
            }
        } catch (VhostException e) {
            LOG.warn(name + ": stop on close: {}", e.getMessage());
        }
        closePort();
    }
}
