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
import com.vhost.runtime.memory.GuestMemoryMap;
import com.vhost.runtime.nativeio.EventFd;
import com.vhost.runtime.nativeio.SharedMemory;
import com.vhost.runtime.vhost.GenericVhostDevice;
import com.vhost.runtime.virtqueue.DriverQueue;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
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

    private final GenericVhostDevice vhost;
    private final VirtioNetFrontend frontend;
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
    private final NetDeviceInfo info;
    private final AtomicReference<VhostException> failure = new AtomicReference<>();
    private volatile boolean closed;
    /** Serialises use of the backend connection: control commands and close. */
    private final java.util.concurrent.locks.ReentrantLock backendLock = new java.util.concurrent.locks.ReentrantLock();
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
        GenericVhostDevice vhost;
        try {
            vhost = new GenericVhostDevice(backend, 2 * options.queuePairs());
        } catch (VhostException | RuntimeException e) {
            backend.close();
            throw e;
        }
        try {
            return new VirtioNetDriver(vhost, options);
        } catch (VhostException | RuntimeException e) {
            vhost.close();
            throw e;
        }
    }

    private VirtioNetDriver(GenericVhostDevice vhost, NetDriverOptions o) throws VhostException {
        this.vhost = vhost;
        this.poll = o.poll();
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
            GuestMemory memory = GuestMemoryMap.of(List.of(new GuestMemoryRegion(base, total, base, shm.fd(), 0, all)));
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
            frontend.activate(memory, new DriverInterrupt(), configs);
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
            throw new VhostDisconnectedException("virtio-net on " + vhost.backend().describe() + " is closed");
        }
        VhostException f = failure.get();
        if (f != null) {
            throw f;
        }
        long now = System.nanoTime();
        if (now - lastProbe >= PROBE_NANOS) {
            lastProbe = now;
            if (!vhost.backend().isConnected()) {
                VhostException e = new VhostDisconnectedException("virtio-net: backend " + vhost.backend().describe() + " disconnected");
                failure.compareAndSet(null, e);
                throw failure.get();
            }
        }
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
        p.txq.pollUsed(p.txDone);
        int sent = 0;
        for (; sent < count; sent++) {
            if (p.txFreeCount == 0) {
                p.txq.pollUsed(p.txDone);
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
        p.rxq.pollUsed(p.rxDone);
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
                if (p.rxq.hasUsed()) {
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
                }
            } else {
                if (p.rxq.enableNotifications()) {
                    return true;
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
        backendLock.lock();
        try {
            controlLocked(cls, cmd, data, what);
        } finally {
            backendLock.unlock();
        }
    }

    private void controlLocked(int cls, int cmd, byte[] data, String what) throws VhostException {
        checkUsable();
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

    @Override
    public void close() {
        backendLock.lock();
        try {
            closeLocked();
        } finally {
            backendLock.unlock();
        }
    }

    private void closeLocked() {
        if (closed) {
            return;
        }
        closed = true;
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
