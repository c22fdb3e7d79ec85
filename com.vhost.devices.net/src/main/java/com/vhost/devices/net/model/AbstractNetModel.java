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
import com.vhost.spi.virtqueue.VirtqueueStates;
import com.vhost.spi.backend.QueueWorker;
import com.vhost.spi.backend.WorkerDevice;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
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
 */
public abstract class AbstractNetModel extends WorkerDevice implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(AbstractNetModel.class);
    /** How long sleep/reset wait for the worker, ms. */
    public static final long STOP_TIMEOUT_MS = 10_000;
    private static final int SNAPSHOT_MAGIC = 0x766e6574; // "vnet"
    /** The snapshot format version, declared as {@code net.model:N} in the bundle's Vhost-Snapshot-Writes header. */
    static final int SNAPSHOT_VERSION = 1;

    private final String name;
    private final int pairs;
    private final int queueSize;
    private final int mtu;
    private final byte[] mac;
    private volatile long offered;
    private final byte[] config = new byte[VirtioNet.CONFIG_SIZE];
    private final NetPortCounters[] counters;
    private final DescriptorChain[] txChains;
    private final DescriptorChain[] rxChains;
    /** Receive chains of the frame being delivered (MRG_RXBUF), per pair. */
    private final int[][] pendingHeads;
    private final int[][] pendingLens;
    /** How many of {@link #pendingHeads} the frame being delivered fills, per pair. */
    private final int[] pendingCount;
    private final DescriptorChain[] rxFirst;
    /** Held while a receive queue is written (the worker and a port thread may both deliver). */
    private final Object[] rxLocks;

    private volatile boolean polling;
    /** Kick fds of the running queues by index, as the transport gave them (polling hides them from the worker). */
    private int[] kickFds = new int[0];
    private QueueWorker worker;
    private volatile DeviceQueue[] byIndex;
    private List<DeviceQueue> receiveQueues = List.of();

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
        this.rxChains = new DescriptorChain[pairs];
        this.pendingHeads = new int[pairs][queueSize];
        this.pendingLens = new int[pairs][queueSize];
        this.pendingCount = new int[pairs];
        this.rxFirst = new DescriptorChain[pairs];
        this.rxLocks = new Object[pairs];
        for (int p = 0; p < pairs; p++) {
            counters[p] = new NetPortCounters();
            txChains[p] = new DescriptorChain(queueSize);
            rxChains[p] = new DescriptorChain(queueSize);
            rxFirst[p] = new DescriptorChain(queueSize);
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

    @Override
    protected final void startQueues(GuestMemory mem, Interrupt irq, List<VirtqueueConfig> qs) throws VhostException {
        DeviceQueue[] idx = new DeviceQueue[2 * pairs];
        int[] kicks = new int[2 * pairs];
        List<DeviceQueue> list = new ArrayList<>(qs.size());
        List<DeviceQueue> rxList = new ArrayList<>(qs.size());
        for (VirtqueueConfig c : qs) {
            if (c.index() < 0 || c.index() >= 2 * pairs) {
                throw new VirtqueueException(c.index(), name + " has queues 0.." + (2 * pairs - 1));
            }
            if (idx[c.index()] != null) {
                throw new VirtqueueException(c.index(), "given twice");
            }
            if (c.size() > queueSize) {
                throw new VirtqueueException(c.index(), "size " + c.size() + " exceeds the maximum " + queueSize);
            }
            kicks[c.index()] = c.kickFd();
            VirtqueueConfig run = c;
            if (polling && (c.index() & 1) == 1) {
                // a queue without kick fd is busy-polled by the worker, with kicks suppressed
                run = new VirtqueueConfig(c.index(), c.size(), c.descAddr(), c.availAddr(), c.usedAddr(), c.nextAvail(), -1,
                        c.callFd(), c.enabled());
            }
            DeviceQueue q = new DeviceQueue(mem, run, ackedFeatures());
            idx[c.index()] = q;
            if ((c.index() & 1) == 1) {
                list.add(q);
            } else {
                rxList.add(q);
                q.disableNotifications(); // frames arrive on TX: a receive queue needs no kicks
            }
        }
        byIndex = idx;
        kickFds = kicks;
        LOG.debug(name + ": serving queues {}", qs);
        QueueWorker w = new QueueWorker("vhost-net-" + name, list, this::process, irq);
        w.start(); // interrupt() is irq already (WorkerDevice sets it before startQueues)
        worker = w;
        receiveQueues = List.copyOf(rxList);
        try {
            portStarted();
        } catch (VhostException | RuntimeException e) {
            w.stop(STOP_TIMEOUT_MS);
            worker = null;
            throw e;
        }
    }

    @Override
    protected final List<VirtqueueConfig> stopQueues() throws VhostException {
        QueueWorker w = worker;
        if (w == null) {
            return List.of();
        }
        portStopping();
        w.stop(STOP_TIMEOUT_MS);
        worker = null;
        List<DeviceQueue> all = new ArrayList<>(w.queues());
        all.addAll(receiveQueues);
        all.sort((x, y) -> Integer.compare(x.index(), y.index()));
        receiveQueues = List.of();
        List<VirtqueueConfig> out = new ArrayList<>();
        for (DeviceQueue q : all) {
            VirtqueueConfig c = q.config();
            out.add(new VirtqueueConfig(c.index(), c.size(), c.descAddr(), c.availAddr(), c.usedAddr(), c.nextAvail(),
                    kickFds[c.index()], c.callFd(), q.isEnabled()));
        }
        return List.copyOf(out);
    }

    /**
     * Snapshot layout (big-endian): {@code int magic "vnet"; int version 1; int pairs; long acked;
     * boolean wasActive; int nQueues;} then per queue {@code int index, size; long desc, avail,
     * used; int nextAvail; boolean enabled}.
     */
    @Override
    public synchronized byte[] snapshot() throws VhostException {
        requireAsleep("snapshot");
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (DataOutputStream out = new DataOutputStream(bytes)) {
            out.writeInt(SNAPSHOT_MAGIC);
            out.writeInt(SNAPSHOT_VERSION);
            out.writeInt(pairs);
            out.writeLong(ackedFeatures());
            boolean active = state() == VirtioDeviceState.ASLEEP_ACTIVE;
            out.writeBoolean(active);
            List<VirtqueueConfig> qs = active ? sleptQueues() : List.of();
            VirtqueueStates.write(out, qs);
        } catch (IOException e) {
            throw new VirtioDeviceException(name + ": snapshot: " + e.getMessage(), e);
        }
        return bytes.toByteArray();
    }

    @Override
    public synchronized void restore(byte[] snapshot) throws VhostException {
        requireAsleep("restore");
        try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(snapshot))) {
            int magic = in.readInt();
            int version = in.readInt();
            if (magic != SNAPSHOT_MAGIC || version != SNAPSHOT_VERSION) {
                throw new VirtioDeviceException(String.format(name + ": restore: not a virtio-net snapshot (magic 0x%x, version %d)",
                        magic, version));
            }
            int p = in.readInt();
            if (p != pairs) {
                throw new VirtioDeviceException(name + ": restore: snapshot has " + p + " queue pairs, device has " + pairs);
            }
            long features = in.readLong();
            if ((features & ~offered) != 0) {
                throw new VirtioDeviceException(String.format(name + ": restore: features 0x%x not all offered (0x%x)", features, offered));
            }
            boolean active = in.readBoolean();
            List<VirtqueueConfig> qs = VirtqueueStates.read(in, name + ": restore", 2 * pairs, sleptQueues());
            if (in.read() != -1) {
                throw new VirtioDeviceException(name + ": restore: trailing bytes after " + qs.size() + " queues");
            }
            // fds are not part of a snapshot: the queues slept with lend theirs, by index
            restored(features, active, qs);
        } catch (IOException e) {
            if (e instanceof VirtioDeviceException v) {
                throw v;
            }
            throw new VirtioDeviceException(name + ": restore: truncated snapshot of " + snapshot.length + " bytes", e);
        }
    }

    // ---- data path (worker thread) ----

    /**
     * Serves a kick on a transmit queue: moves every pending frame to the receive queue of the
     * same pair. Receive queues are not served by the worker (their buffers wait for frames; the
     * worker would see them as pending work forever) and ask the driver for no kicks.
     */
    private void process(int queueIndex, DeviceQueue kicked) throws VirtqueueException {
        int pair = queueIndex >>> 1;
        DeviceQueue rx = byIndex[VirtioNet.rxQueue(pair)];
        DeviceQueue tx = byIndex[VirtioNet.txQueue(pair)];
        NetPortCounters ctr = counters[pair];
        if (LOG.isTraceEnabled()) {
            LOG.trace(name + ": kick on queue {}: rx {}, tx {}", queueIndex, rx, tx);
        }
        int delivered = 0;
        if (tx != null && tx.isEnabled()) {
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
        if (rx != null && rx != kicked && delivered > 0) {
            boolean notify;
            synchronized (rxLocks[pair]) {
                notify = rx.needsNotification();
            }
            if (notify) {
                interrupt().signalUsedQueue(rx.index());
            }
        }
        if (tx != null && tx != kicked && tx.needsNotification()) {
            interrupt().signalUsedQueue(tx.index());
        }
    }

    /**
     * A frame the driver transmitted on {@code pair}, on the worker thread. The model completes
     * the chain on {@code txq} (used length 0, VIRTIO 1.2 2.7.8) once it no longer reads it: a
     * model that delivers the frame to a receive queue of the same driver does so before the
     * receive elements are published ({@link #deliver} with {@code srcQueue}), so that a back-end
     * killed between the two stores loses the frame rather than having the driver offer it again
     * to the next back-end and receive it twice.
     *
     * @param rx the pair's receive queue (null when not running)
     * @param txq the pair's transmit queue, where {@code tx} came from
     * @param tx the chain: {@code virtio_net_hdr_v1} then {@code len} frame bytes
     * @return whether a frame was delivered on {@code rx} (its used-buffer notification follows)
     */
    protected abstract boolean transmitted(int pair, DeviceQueue rx, DeviceQueue txq, DescriptorChain tx, long len,
            NetPortCounters ctr) throws VirtqueueException;

    /** Called after the worker started, with {@link #receiveQueue} set; a model with a host port starts it here. */
    protected void portStarted() throws VhostException {}

    /** Called before the worker stops; a model with a host port stops touching the queues here. */
    protected void portStopping() {}

    /** @return the running receive queue of {@code pair}, or null */
    protected final DeviceQueue receiveQueue(int pair) {
        DeviceQueue[] idx = byIndex;
        return idx == null ? null : idx[VirtioNet.rxQueue(pair)];
    }

    /**
     * @return the lock to hold while delivering on the receive queue of {@code pair} and deciding
     *     its notification, when more than one thread delivers there
     */
    protected final Object rxLock(int pair) {
        return rxLocks[pair];
    }

    /** @return the MTU in the config space */
    public final int mtu() {
        return mtu;
    }

    /**
     * Writes one frame (from transmit chain {@code src} after its header, or from {@code bytes})
     * into receive chains of {@code rx}, behind a header whose {@code num_buffers} counts them
     * (1 without MRG_RXBUF). Used elements are published only once the whole frame is written.
     *
     * @param srcQueue with {@code src}: the transmit queue {@code src} came from; {@code src} is
     *     then completed there (used length 0) in every case, after its bytes were copied and
     *     before the receive elements are published (at most once: a back-end that dies between
     *     the two stores loses this frame, none is received twice); null to leave {@code src} to
     *     the caller
     * @return whether the frame was delivered
     */
    protected final boolean deliver(int pair, DeviceQueue rx, DescriptorChain src, DeviceQueue srcQueue, MemorySegment bytes,
            long len, NetPortCounters ctr) throws VirtqueueException {
        boolean done = deliverUnpublished(pair, rx, src, bytes, len, ctr);
        if (srcQueue != null && src != null) {
            srcQueue.addUsed(src.head(), 0);
        }
        if (done) {
            int[] heads = pendingHeads[pair];
            int[] lens = pendingLens[pair];
            for (int i = 0, n = pendingCount[pair]; i < n; i++) {
                rx.addUsed(heads[i], lens[i]);
            }
            ctr.delivered(len);
        }
        return done;
    }

    /**
     * {@link #deliver} up to the publication: the frame written into popped receive chains (kept
     * in {@link #pendingHeads}/{@link #pendingLens}, {@link #pendingCount}), or dropped (chains
     * given back empty, counted).
     *
     * @return whether the frame waits to be published
     */
    private boolean deliverUnpublished(int pair, DeviceQueue rx, DescriptorChain src, MemorySegment bytes, long len,
            NetPortCounters ctr) throws VirtqueueException {
        if (rx == null || !rx.isEnabled() || !rx.hasAvailable()) {
            ctr.noBuffer();
            return false;
        }
        boolean mrg = VirtioFeatures.has(ackedFeatures(), VirtioNet.F_MRG_RXBUF);
        DescriptorChain first = rxFirst[pair];
        DescriptorChain r = rxChains[pair];
        int[] heads = pendingHeads[pair];
        int[] lens = pendingLens[pair];
        rx.pop(first);
        long room = first.writableBytes();
        long total = VirtioNet.HDR_SIZE + len;
        if (room < VirtioNet.HDR_SIZE || (!mrg && room < total)) {
            rx.addUsed(first.head(), 0);
            ctr.tooBig();
            return false;
        }
        first.zeroWritable(0, VirtioNet.HDR_SIZE);
        long n = Math.min(room - VirtioNet.HDR_SIZE, len);
        copyFrame(src, bytes, 0, first, VirtioNet.HDR_SIZE, n);
        heads[0] = first.head();
        lens[0] = (int) (VirtioNet.HDR_SIZE + n);
        int count = 1;
        long copied = n;
        while (copied < len) { // only with MRG_RXBUF: the frame continues in the next chains
            if (!rx.pop(r)) {
                for (int i = 0; i < count; i++) {
                    rx.addUsed(heads[i], 0); // out of buffers mid-frame: drop, give the chains back empty
                }
                ctr.noBuffer();
                return false;
            }
            long m = Math.min(r.writableBytes(), len - copied);
            copyFrame(src, bytes, copied, r, 0, m);
            rx.logWritten(r, m); // r is reused for the next chain: mark its pages now (dirty log)
            heads[count] = r.head();
            lens[count] = (int) m;
            count++;
            copied += m;
        }
        first.writeByte(VirtioNet.HDR_NUM_BUFFERS, (byte) count);
        first.writeByte(VirtioNet.HDR_NUM_BUFFERS + 1, (byte) (count >>> 8));
        rx.logWritten(first, lens[0]); // dirty log: the first chain's pages, before the frame is published
        pendingCount[pair] = count;
        return true;
    }

    private static void copyFrame(DescriptorChain src, MemorySegment bytes, long frameOff, DescriptorChain dst, long dstOff,
            long n) throws VirtqueueException {
        if (n <= 0) {
            return;
        }
        if (src == null) {
            dst.copyToWritable(dstOff, bytes, frameOff, n);
            return;
        }
        long srcOff = VirtioNet.HDR_SIZE + frameOff;
        long left = n;
        for (int j = 0, k = dst.writableSegmentCount(); j < k && left > 0; j++) {
            long segLen = dst.writableLength(j);
            if (dstOff >= segLen) {
                dstOff -= segLen;
                continue;
            }
            long m = Math.min(segLen - dstOff, left);
            src.copyReadable(srcOff, dst.writableRegion(j), dst.writableRegionOffset(j) + dstOff, m);
            srcOff += m;
            left -= m;
            dstOff = 0;
        }
    }

    /** Stops the worker if running. */
    @Override
    public synchronized void close() {
        try {
            stopQueues();
        } catch (VhostException e) {
            LOG.warn(name + ": stop on close: {}", e.getMessage());
        }
        closePort();
    }
}
