package com.vhost.devices.blk.driver;

import com.vhost.api.VhostBackend;
import com.vhost.api.VhostDisconnectedException;
import com.vhost.api.VhostException;
import com.vhost.api.VhostFeatureException;
import com.vhost.api.VirtioDeviceException;
import com.vhost.api.blk.BlockDevice;
import com.vhost.api.blk.BlockDeviceInfo;
import com.vhost.api.blk.BlockQueues;
import com.vhost.api.blk.VirtioBlk;
import com.vhost.api.virtio.GuestMemory;
import com.vhost.api.virtio.GuestMemoryRegion;
import com.vhost.api.virtio.Interrupt;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.api.virtio.VirtqueueConfig;
import com.vhost.spi.memory.GuestMemoryMap;
import com.vhost.spi.nativeio.EventFd;
import com.vhost.spi.nativeio.SharedMemory;
import com.vhost.spi.driver.DeviceStateTransfer;
import com.vhost.spi.vhost.GenericVhostDevice;
import com.vhost.spi.driver.HotSwapState;
import com.vhost.spi.driver.VhostDrivers;
import com.vhost.spi.virtqueue.DriverQueue;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.atomic.AtomicReference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A virtio-blk driver and its transport in one, with no VM (DPDK {@code virtio_user}, libblkio):
 * the platform plays the guest. It negotiates features through a {@link VirtioBlkFrontend} over a
 * {@link GenericVhostDevice}, lays out its rings, request slots and a buffer pool in one
 * {@link SharedMemory} (memfd) that the back-end maps, and submits requests (VIRTIO 1.2, 5.2.6).
 *
 * <p><b>Memory.</b> One region whose guest-physical address equals its address in this process
 * (as {@code virtio_user} does), holding per queue two areas of a {@link DriverQueue} layout and
 * {@code queueSize} request slots of {@value BlkRequestQueue#SLOT_BYTES} bytes (one in use; a
 * {@link #rebind} moves to the other), then the buffer pool
 * ({@link BlkDriverOptions#bufferPoolBytes()}).
 *
 * <p><b>Checks before queueing</b> (each a {@link VirtioDeviceException} naming the request, the
 * offset and the limit): offset and length multiples of {@code blk_size}, {@code offset + length
 * <= capacity}, no write/discard/write-zeroes on a read-only device, a feature for
 * DISCARD/WRITE_ZEROES. Larger I/O than one request can carry ({@code seg_max × size_max}, capped
 * at 4 MiB) is split into several requests; the future completes when all did.
 *
 * <p><b>Completions.</b> A thread per queue waits on the call eventfd (or polls the used ring in
 * poll mode) and completes the futures; callbacks run on it, so use the {@code *Async} forms to
 * block. A device status IOERR/UNSUPP fails the future with a {@link VirtioDeviceException}
 * naming type, offset and status. When the backend disconnects, every outstanding future fails
 * with the {@link VhostException} that says so, and so does a queue with requests outstanding and no
 * completion for {@link #requestTimeoutNanos()} (a back-end that died silently);
 * {@link #close()} waits at most 5 s for in-flight requests.
 */
public final class VirtioBlkDriver implements BlockDevice, BlockQueues {
    private static final Logger LOG = LoggerFactory.getLogger(VirtioBlkDriver.class);
    private static final ValueLayout.OfInt LE32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort LE16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong LE64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final long PAGE = 4096;
    /** Largest request this driver builds, in bytes. */
    static final long MAX_REQUEST_BYTES = 4L << 20;
    private static final long CLOSE_WAIT_NANOS = 5_000_000_000L;
    /** Default time a high-level request may wait for its completion before the driver gives up. */
    public static final long DEFAULT_REQUEST_TIMEOUT_NANOS = 30_000_000_000L;

    /** Default bound on holding requests while no backend is attached (swap.wait.ms), 10 s. */
    public static final long DEFAULT_SWAP_WAIT_NANOS = 10_000_000_000L;
    /**
     * Bound on waiting for chains a stopped back-end had taken to complete, 250 ms (libvhost-user
     * may never report them; they are resubmitted, and the ring area is switched so a late write
     * cannot land in a ring in use).
     */
    static final long STRAGGLER_WAIT_NANOS = 250_000_000L;
    /** Bound on each of the SAVE and LOAD of a back-end state during a swap, ms. */
    static final long STATE_TRANSFER_TIMEOUT_MS = 2000;

    /** Replaced by {@link #rebind}; read without a lock by the accessors. */
    private volatile GenericVhostDevice vhost;
    private volatile VirtioBlkFrontend frontend;
    private final SharedMemory shm;
    private final GuestMemory memory;
    private final BufferPool pool;
    private final BlkRequestQueue[] queues;
    private final long baseGpa;
    private final long acked;
    private final long capacityBytes;
    private final int blockSize;
    private final int segMax;
    private final int sizeMax;
    private final int segmentBytes;
    private final long maxRequestBytes;
    private final long maxDiscardSectors;
    private final long maxWriteZeroesSectors;
    private final boolean readOnly;
    private final boolean poll;
    private volatile BlockDeviceInfo info;
    private final int queueSize;
    private final int indirectMax;

    // ---- hot-swap state ----
    /** Swap lock, detached state, swap.wait.ms, detach-on-loss, swap counters and pause/switch times. */
    private final HotSwapState swap = new HotSwapState("virtio-blk", "rebind/detach/close", LOG,
            () -> vhost.backend().describe(), DEFAULT_SWAP_WAIT_NANOS);
    /** Requests are parked instead of placed: a swap is in progress or no backend is attached. */
    private volatile boolean holding;
    private final java.util.concurrent.atomic.AtomicBoolean lossHandling = new java.util.concurrent.atomic.AtomicBoolean();
    private final LongAdder completedRequests = new LongAdder();
    private final LongAdder completedBytes = new LongAdder();
    private final AtomicLong resubmittedTotal = new AtomicLong();
    /** System.nanoTime() of the latest completion batch of the high-level path. */
    private volatile long lastCompletionNanos;
    private final AtomicReference<VhostException> failure = new AtomicReference<>();
    private volatile boolean closed;
    private volatile long requestTimeoutNanos = DEFAULT_REQUEST_TIMEOUT_NANOS;

    /**
     * Negotiates, sets up memory and queues and starts the device. On failure everything opened
     * so far is released, including {@code backend}.
     *
     * @param backend an open backend; the driver owns it and closes it in {@link #close()}
     * @throws VhostFeatureException when the back-end lacks VERSION_1 or the queues wanted
     * @throws VirtioDeviceException when the config space is unusable (zero capacity, bad blk_size)
     * @throws VhostException from the backend, naming the request that failed
     */
    public static VirtioBlkDriver open(VhostBackend backend, BlkDriverOptions options) throws VhostException {
        return VhostDrivers.open(backend, com.vhost.api.virtio.VirtioDeviceType.BLOCK, options.queues(),
                vhost -> new VirtioBlkDriver(vhost, options));
    }

    private VirtioBlkDriver(GenericVhostDevice vhost, BlkDriverOptions o) throws VhostException {
        this.vhost = vhost;
        this.poll = o.poll();
        this.queueSize = o.queueSize();
        this.frontend = new VirtioBlkFrontend(vhost, o.queues(), o.queueSize());
        long offered = frontend.features();
        if (!VirtioFeatures.has(offered, VirtioFeatures.F_VERSION_1)) {
            throw new VhostFeatureException(String.format("virtio-blk on %s: back-end features 0x%x lack VIRTIO_F_VERSION_1",
                    vhost.backend().describe(), vhost.backendFeatures()));
        }
        frontend.ackFeatures(offered);
        this.acked = frontend.ackedFeatures();

        byte[] raw = new byte[VirtioBlk.CONFIG_SIZE];
        try {
            frontend.readConfig(0, raw);
        } catch (UncheckedIOException e) {
            throw e.getCause() instanceof VhostException v ? v : new VirtioDeviceException("config read: " + e.getMessage(), e);
        }
        MemorySegment cfg = MemorySegment.ofArray(raw);
        long sectors = cfg.get(LE64, VirtioBlk.CFG_CAPACITY);
        if (sectors <= 0 || sectors > Long.MAX_VALUE >>> VirtioBlk.SECTOR_SHIFT) {
            throw new VirtioDeviceException("virtio-blk config: capacity " + Long.toUnsignedString(sectors) + " sectors is unusable");
        }
        this.capacityBytes = sectors << VirtioBlk.SECTOR_SHIFT;
        // le32 fields; values above Integer.MAX_VALUE mean "no practical limit" here.
        this.sizeMax = has(VirtioBlk.F_SIZE_MAX) ? u32Clamped(cfg.get(LE32, VirtioBlk.CFG_SIZE_MAX)) : 0;
        this.segMax = has(VirtioBlk.F_SEG_MAX) ? u32Clamped(cfg.get(LE32, VirtioBlk.CFG_SEG_MAX)) : 0;
        int bs = has(VirtioBlk.F_BLK_SIZE) ? cfg.get(LE32, VirtioBlk.CFG_BLK_SIZE) : VirtioBlk.SECTOR_SIZE;
        if (bs < VirtioBlk.SECTOR_SIZE || Integer.bitCount(bs) != 1 || bs > (1 << 20)) {
            throw new VirtioDeviceException("virtio-blk config: blk_size " + bs + " is not a power of two in 512..1048576");
        }
        this.blockSize = bs;
        this.readOnly = has(VirtioBlk.F_RO);
        int nq = 1;
        if (has(VirtioBlk.F_MQ)) {
            int cfgQueues = Short.toUnsignedInt(cfg.get(LE16, VirtioBlk.CFG_NUM_QUEUES));
            nq = Math.max(1, Math.min(o.queues(), cfgQueues));
        }
        if (nq < o.queues()) {
            LOG.info("virtio-blk on {}: device offers {} queues, {} wanted; using {}", vhost.backend().describe(), nq, o.queues(), nq);
        }
        this.maxDiscardSectors = has(VirtioBlk.F_DISCARD) ? nonZeroOr(cfg.get(LE32, VirtioBlk.CFG_MAX_DISCARD_SECTORS)) : 0;
        this.maxWriteZeroesSectors = has(VirtioBlk.F_WRITE_ZEROES) ? nonZeroOr(cfg.get(LE32, VirtioBlk.CFG_MAX_WRITE_ZEROES_SECTORS)) : 0;

        int qsize = o.queueSize();
        int indirectMax = has(VirtioFeatures.F_INDIRECT_DESC) ? Math.min(256, Math.max(3, (segMax > 0 ? segMax : 126) + 2)) : 0;
        this.indirectMax = indirectMax;
        int chainLimit = Math.max(qsize, indirectMax) - 2;
        int maxSegs = Math.max(1, segMax > 0 ? Math.min(segMax, chainLimit) : chainLimit);
        int seg = sizeMax > 0 ? (sizeMax >= PAGE ? (int) (sizeMax & -PAGE) : sizeMax) : (1 << 20);
        this.segmentBytes = seg;
        long maxReq = Math.min(MAX_REQUEST_BYTES, (long) maxSegs * seg);
        this.maxRequestBytes = maxReq - maxReq % blockSize;
        if (maxRequestBytes <= 0) {
            throw new VirtioDeviceException("virtio-blk config: seg_max " + segMax + " × size_max " + sizeMax
                    + " cannot carry one block of " + blockSize + " bytes");
        }
        int segsPerRequest = (int) ((maxRequestBytes + seg - 1) / seg);

        long qBytes = alignUp(DriverQueue.layoutBytes(qsize, indirectMax), PAGE);
        long slotBytes = alignUp((long) qsize * BlkRequestQueue.SLOT_BYTES, PAGE);
        long poolBytes = alignUp(o.bufferPoolBytes(), PAGE);
        // Two ring + slot areas per queue: a swap moves the queue to the other one, so a back-end
        // that completes a chain after GET_VRING_BASE writes into memory nobody uses any more.
        long perQueue = 2 * (qBytes + slotBytes);
        long total = nq * perQueue + poolBytes;
        this.shm = SharedMemory.create("vhost-blk-driver", total);
        BlkRequestQueue[] qs = new BlkRequestQueue[nq];
        List<VirtqueueConfig> configs = new ArrayList<>(nq);
        try {
            this.baseGpa = shm.address();
            MemorySegment all = shm.segment();
            this.memory = GuestMemoryMap.of(List.of(new GuestMemoryRegion(baseGpa, total, shm.address(), shm.fd(), 0, all)));
            this.pool = new BufferPool(all.asSlice(nq * perQueue, poolBytes));
            for (int i = 0; i < nq; i++) {
                long off = i * perQueue;
                long offB = off + qBytes + slotBytes;
                DriverQueue dq = new DriverQueue(i, qsize, all.asSlice(off, qBytes), baseGpa + off, acked, indirectMax);
                DriverQueue dqB = new DriverQueue(i, qsize, all.asSlice(offB, qBytes), baseGpa + offB, acked, indirectMax);
                EventFd kick = EventFd.create();
                // Poll mode still hands the back-end a call eventfd: libvhost-user (QEMU 7.2) writes
                // the call fd on its first used buffer whatever the suppression state, and marks the
                // device broken when that fd is missing. Nobody waits on it in poll mode.
                EventFd call = EventFd.create();
                qs[i] = new BlkRequestQueue(this, i, new DriverQueue[] {dq, dqB},
                        new MemorySegment[] {all.asSlice(off + qBytes, slotBytes), all.asSlice(offB + qBytes, slotBytes)},
                        new long[] {baseGpa + off + qBytes, baseGpa + offB + qBytes}, kick, call, poll, segsPerRequest);
                if (poll) {
                    dq.disableNotifications();
                }
                configs.add(new VirtqueueConfig(i, qsize, dq.descGpa(), dq.availGpa(), dq.usedGpa(), 0, kick.fd(),
                        call.fd(), true));
            }
            this.queues = qs;
            frontend.activate(memory, new DriverInterrupt(), configs);
        } catch (VhostException | RuntimeException e) {
            closeQueues(qs);
            shm.close();
            throw e;
        }
        this.info = new BlockDeviceInfo(capacityBytes, blockSize, nq, qsize, acked, readOnly, segMax, sizeMax, vhost.backend().describe());
        vhost.setConfigChangeNotifier(() -> LOG.info("virtio-blk on {}: config changed (capacity is re-read on reopen)",
                vhost.backend().describe()));
        for (BlkRequestQueue q : queues) {
            startCompleter(q);
        }
        LOG.debug("virtio-blk on {}: {}", vhost.backend().describe(), info);
    }

    private static void startCompleter(BlkRequestQueue q) {
        q.stopping = false;
        Thread t = Thread.ofPlatform().daemon().name("vhost-blk-q" + q.index()).unstarted(q::runCompleter);
        q.completer = t;
        t.start();
    }

    private static int u32Clamped(int v) {
        return (int) Math.min(Integer.toUnsignedLong(v), Integer.MAX_VALUE);
    }

    private static long nonZeroOr(int v) {
        return v == 0 ? 0xFFFF_FFFFL : Integer.toUnsignedLong(v);
    }

    private boolean has(int bit) {
        return VirtioFeatures.has(acked, bit);
    }

    private static long alignUp(long v, long a) {
        return (v + a - 1) & -a;
    }

    private static void closeQueues(BlkRequestQueue[] qs) {
        for (BlkRequestQueue q : qs) {
            if (q != null) {
                q.kick.close();
                if (q.call != null) {
                    q.call.close();
                }
            }
        }
    }

    /** Reports a device-needs-reset as the driver's failure. */
    private final class DriverInterrupt implements Interrupt {
        @Override
        public void signalUsedQueue(int queueIndex) {
            BlkRequestQueue q = queueOrNull(queueIndex);
            if (q != null && q.call != null) {
                wake(q);
            }
        }

        @Override
        public void signalConfigChanged() {
            LOG.info("virtio-blk on {}: config changed", vhost.backend().describe());
        }

        @Override
        public void signalNeedsReset(String reason) {
            lost(-1, new VirtioDeviceException("device needs reset: " + reason));
        }
    }

    private BlkRequestQueue queueOrNull(int i) {
        return queues != null && i >= 0 && i < queues.length ? queues[i] : null;
    }

    // ---- accessors used by BlkRequestQueue ----

    BufferPool pool() {
        return pool;
    }

    long gpaOf(MemorySegment shared) {
        return baseGpa + (shared.address() - shm.address());
    }

    int segmentBytes() {
        return segmentBytes;
    }

    boolean hasFlush() {
        return has(VirtioBlk.F_FLUSH);
    }

    boolean backendConnected() {
        return !swap.isDetached() && vhost.backend().isConnected();
    }

    String backendName() {
        return swap.backendName();
    }

    /** @return whether requests are parked rather than placed (swap in progress, or detached) */
    boolean holding() {
        return holding;
    }

    /**
     * @return the error a held request fails with because the device has been without a backend
     *     longer than its swap wait, or null while it may still wait
     */
    VhostException holdExpired() {
        return swap.expired();
    }

    /** Called by the completion threads after each non-empty batch (high-level path). */
    void completedBatch() {
        long now = System.nanoTime();
        lastCompletionNanos = now;
        long pause = swap.firstCompletion(now);
        if (pause >= 0) {
            LOG.debug("virtio-blk on {}: first completion {} us after the last one on the previous backend",
                    backendName(), TimeUnit.NANOSECONDS.toMicros(pause));
        }
    }

    /** Counts one request the device completed with S_OK. */
    void countCompletion(long dataBytes) {
        completedRequests.increment();
        completedBytes.add(dataBytes);
    }

    VhostException failure() {
        return failure.get();
    }

    void checkUsable() throws VhostException {
        if (closed) {
            throw new VhostDisconnectedException("virtio-blk on " + backendName() + " is closed");
        }
        VhostException f = failure.get();
        if (f != null) {
            throw f;
        }
    }

    /** Marks the driver failed (backend lost or device broken) and fails every outstanding request. */
    void lost(int queue, VhostException cause) {
        VhostException e = cause != null ? cause : new VhostDisconnectedException("virtio-blk: backend " + backendName()
                + " lost" + (queue >= 0 ? " (noticed on queue " + queue + ")" : ""));
        if (failure.compareAndSet(null, e)) {
            LOG.warn("virtio-blk on {}: {}", backendName(), e.getMessage());
        }
        VhostException f = failure.get();
        for (BlkRequestQueue q : queues) {
            q.failAll(f);
        }
    }

    /**
     * A completion thread found the backend disconnected. With {@link #setDetachOnLoss} the
     * device detaches (on a thread of its own: the completion threads are joined) and its
     * requests wait for {@link #rebind}; otherwise every outstanding request fails
     * ({@link #lost}).
     */
    void backendLost(int queue) {
        if (!swap.detachOnLoss() || closed || failure.get() != null || swap.isDetached()) {
            if (!swap.isDetached()) {
                lost(queue, null);
            }
            return;
        }
        if (!lossHandling.compareAndSet(false, true)) {
            return;
        }
        String name = backendName();
        Thread.ofPlatform().daemon().name("vhost-blk-detach").start(() -> {
            try {
                LOG.warn("virtio-blk on {}: backend lost (noticed on queue {}); detaching, requests wait for a new backend",
                        name, queue);
                detach();
            } catch (VhostException | RuntimeException e) {
                lost(queue, new VhostDisconnectedException("virtio-blk: backend " + name + " lost and detaching failed: "
                        + e.getMessage()));
            } finally {
                lossHandling.set(false);
            }
        });
    }

    /**
     * @param on true: a backend that disconnects detaches the device (requests wait, bounded by
     *     {@link #swapWaitNanos()}, for {@link #rebind}; requests the back-end had taken but not
     *     completed are resubmitted) instead of failing every outstanding request. The registry
     *     turns this on; plain {@link BlockDevices#open} leaves it off.
     */
    public void setDetachOnLoss(boolean on) {
        swap.setDetachOnLoss(on);
    }

    /**
     * Checks a request against the device's limits.
     *
     * @param oneRequest true when the length must fit one request (low-level path, no splitting)
     *
     * @throws VirtioDeviceException naming the request, offset, length and the limit broken
     */
    void checkRange(int type, long offset, long length, boolean oneRequest) throws VirtioDeviceException {
        String what = null;
        if (offset < 0 || length < 0) {
            what = "negative offset or length";
        } else if (offset % blockSize != 0 || length % blockSize != 0) {
            what = "offset and length must be multiples of the block size " + blockSize;
        } else if (offset > capacityBytes - length) {
            what = "beyond the capacity of " + capacityBytes + " bytes";
        } else if (readOnly && type != VirtioBlk.T_IN) {
            what = "the device is read-only (VIRTIO_BLK_F_RO)";
        } else if (type == VirtioBlk.T_IN || type == VirtioBlk.T_OUT) {
            if (oneRequest && length > maxRequestBytes) {
                what = "longer than one request can carry (" + maxRequestBytes + " bytes = min(seg_max " + segMax
                        + " × size_max " + sizeMax + ", 4 MiB))";
            }
        }
        if (what != null) {
            throw new VirtioDeviceException(typeName(type) + " at offset " + offset + ", length " + length + ": " + what);
        }
    }

    static String typeName(int type) {
        return switch (type) {
            case VirtioBlk.T_IN -> "VIRTIO_BLK_T_IN";
            case VirtioBlk.T_OUT -> "VIRTIO_BLK_T_OUT";
            case VirtioBlk.T_FLUSH -> "VIRTIO_BLK_T_FLUSH";
            case VirtioBlk.T_GET_ID -> "VIRTIO_BLK_T_GET_ID";
            case VirtioBlk.T_DISCARD -> "VIRTIO_BLK_T_DISCARD";
            case VirtioBlk.T_WRITE_ZEROES -> "VIRTIO_BLK_T_WRITE_ZEROES";
            default -> "request type " + type;
        };
    }

    static String statusName(int status) {
        return switch (status) {
            case VirtioBlk.S_IOERR -> "IOERR (1)";
            case VirtioBlk.S_UNSUPP -> "UNSUPP (2)";
            case BlkRequestQueue.STATUS_UNSET -> "255 (not written by the device)";
            default -> "unknown status " + status;
        };
    }

    // ---- high-level requests ----

    /** Completion of a (possibly split) application request. */
    static final class Group {
        final CompletableFuture<Void> future = new CompletableFuture<>();
        final AtomicInteger remaining;
        final AtomicReference<VhostException> error = new AtomicReference<>();

        Group(int parts) {
            remaining = new AtomicInteger(parts);
        }

        void done(VhostException e) {
            if (e != null) {
                error.compareAndSet(null, e);
            }
            if (remaining.decrementAndGet() == 0) {
                VhostException err = error.get();
                if (err != null) {
                    future.completeExceptionally(err);
                } else {
                    future.complete(null);
                }
            }
        }
    }

    /** One virtio-blk request of the high-level path. */
    final class Req {
        final int type;
        final long offset;
        final MemorySegment user;
        final MemorySegment shared;
        final boolean bounced;
        final int segSectors;
        final int segFlags;
        final Group group;
        final CompletableFuture<String> idFuture;
        String id;

        Req(int type, long offset, MemorySegment user, MemorySegment shared, boolean bounced, int segSectors, int segFlags,
                Group group, CompletableFuture<String> idFuture) {
            this.type = type;
            this.offset = offset;
            this.user = user;
            this.shared = shared;
            this.bounced = bounced;
            this.segSectors = segSectors;
            this.segFlags = segFlags;
            this.group = group;
            this.idFuture = idFuture;
        }

        /** The device answered with {@code status}. */
        void complete(int status) {
            if (status != VirtioBlk.S_OK) {
                long len = shared != null ? shared.byteSize() : (long) segSectors << VirtioBlk.SECTOR_SHIFT;
                finish(new VirtioDeviceException(typeName(type) + " at offset " + offset + ", length " + len
                        + " failed: status " + statusName(status)));
                return;
            }
            if (bounced && type == VirtioBlk.T_IN) {
                MemorySegment.copy(shared, 0, user, 0, shared.byteSize());
            }
            countCompletion(shared != null ? shared.byteSize() : 0);
            finish(null);
        }

        /** Releases the bounce buffer and completes the caller's future. */
        void finish(VhostException e) {
            if (bounced) {
                pool.release(shared);
            }
            if (idFuture != null) {
                if (e != null) {
                    idFuture.completeExceptionally(e);
                } else {
                    idFuture.complete(id);
                }
            } else {
                group.done(e);
            }
        }
    }

    private BlkRequestQueue highLevelQueue(int queue) throws VhostException {
        checkUsable();
        if (queue < 0 || queue >= queues.length) {
            throw new VirtioDeviceException("queue " + queue + " outside 0.." + (queues.length - 1));
        }
        BlkRequestQueue q = queues[queue];
        if (q.lowLevel) {
            throw new VirtioDeviceException("queue " + queue + " is in low-level mode (VirtioBlkDriver.queue)");
        }
        return q;
    }

    private CompletableFuture<Void> data(int type, int queue, long offset, MemorySegment buf) {
        try {
            BlkRequestQueue q = highLevelQueue(queue);
            long len = buf.byteSize();
            checkRange(type, offset, len, false);
            if (len == 0) {
                return CompletableFuture.completedFuture(null);
            }
            boolean inPlace = pool.owns(buf);
            if (!inPlace && type == VirtioBlk.T_IN && q.completer != null && !buf.isAccessibleBy(q.completer)) {
                throw new VirtioDeviceException(typeName(type) + " at offset " + offset + ", length " + len
                        + ": the destination segment is confined to its thread, so the completion thread cannot copy"
                        + " into it; use allocateBuffer, a heap segment or a shared arena");
            }
            int parts = (int) ((len + maxRequestBytes - 1) / maxRequestBytes);
            if (!inPlace && parts > 1) {
                // A large caller-owned buffer is bounced one request at a time, so it never needs
                // more pool space than one request (a 16 MiB heap read works with a small pool).
                CompletableFuture<Void> chain = CompletableFuture.completedFuture(null);
                for (long off = 0; off < len; off += maxRequestBytes) {
                    long pieceOff = off;
                    long n = Math.min(maxRequestBytes, len - off);
                    chain = chain.thenComposeAsync(v -> data(type, queue, offset + pieceOff, buf.asSlice(pieceOff, n)));
                }
                return chain;
            }
            Group g = new Group(parts);
            List<Req> reqs = new ArrayList<>(parts);
            for (long off = 0; off < len; off += maxRequestBytes) {
                long n = Math.min(maxRequestBytes, len - off);
                MemorySegment part = buf.asSlice(off, n);
                MemorySegment shared = part;
                if (!inPlace) {
                    shared = pool.allocate(n);
                    if (shared == null) {
                        for (Req r : reqs) {
                            pool.release(r.shared);
                        }
                        throw new VirtioDeviceException(typeName(type) + " at offset " + offset + ", length " + len
                                + ": buffer pool exhausted for a bounce buffer of " + n + " bytes (" + pool.freeBytes()
                                + " of " + pool.capacity() + " free); use allocateBuffer for zero-copy I/O");
                    }
                    if (type == VirtioBlk.T_OUT) {
                        MemorySegment.copy(part, 0, shared, 0, n);
                    }
                }
                reqs.add(new Req(type, offset + off, part, shared, !inPlace, 0, 0, g, null));
            }
            for (Req r : reqs) {
                q.submit(r);
            }
            return g.future;
        } catch (VhostException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    @Override
    public BlockDeviceInfo info() {
        return info;
    }

    /**
     * {@inheritDoc} The segment is 4096-byte aligned when {@code bytes >= 4096}, 64-byte aligned
     * otherwise.
     */
    @Override
    public MemorySegment allocateBuffer(long bytes) {
        if (closed) {
            throw new IllegalStateException("virtio-blk on " + backendName() + " is closed");
        }
        MemorySegment s = pool.allocate(bytes);
        if (s == null) {
            throw new IllegalStateException("buffer pool exhausted: " + bytes + " bytes wanted, " + pool.freeBytes()
                    + " of " + pool.capacity() + " free (BlkDriverOptions.bufferPoolBytes)");
        }
        return s;
    }

    @Override
    public void freeBuffer(MemorySegment buffer) {
        if (!pool.owns(buffer)) {
            throw new IllegalArgumentException("segment of " + buffer.byteSize()
                    + " bytes is not a buffer of this device's pool (allocateBuffer)");
        }
        pool.release(buffer);
    }

    @Override
    public CompletableFuture<Void> read(int queue, long offset, MemorySegment dst) {
        return data(VirtioBlk.T_IN, queue, offset, dst);
    }

    @Override
    public CompletableFuture<Void> write(int queue, long offset, MemorySegment src) {
        return data(VirtioBlk.T_OUT, queue, offset, src);
    }

    /** {@inheritDoc} Without VIRTIO_BLK_F_FLUSH the device is write-through: completes at once. */
    @Override
    public CompletableFuture<Void> flush(int queue) {
        try {
            BlkRequestQueue q = highLevelQueue(queue);
            if (!hasFlush()) {
                return CompletableFuture.completedFuture(null);
            }
            Group g = new Group(1);
            q.submit(new Req(VirtioBlk.T_FLUSH, 0, null, null, false, 0, 0, g, null));
            return g.future;
        } catch (VhostException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    @Override
    public CompletableFuture<Void> discard(int queue, long offset, long length) {
        return range(VirtioBlk.T_DISCARD, VirtioBlk.F_DISCARD, maxDiscardSectors, 0, queue, offset, length);
    }

    @Override
    public CompletableFuture<Void> writeZeroes(int queue, long offset, long length, boolean mayUnmap) {
        return range(VirtioBlk.T_WRITE_ZEROES, VirtioBlk.F_WRITE_ZEROES, maxWriteZeroesSectors, mayUnmap ? 1 : 0, queue, offset, length);
    }

    private CompletableFuture<Void> range(int type, int feature, long maxSectors, int flags, int queue, long offset, long length) {
        try {
            BlkRequestQueue q = highLevelQueue(queue);
            if (!has(feature)) {
                throw new VirtioDeviceException(typeName(type) + " at offset " + offset + ", length " + length
                        + ": feature bit " + feature + " not negotiated with " + backendName());
            }
            checkRange(type, offset, length, false);
            if (length == 0) {
                return CompletableFuture.completedFuture(null);
            }
            long sectors = length >>> VirtioBlk.SECTOR_SHIFT;
            // Keep each part a multiple of the block size.
            long perPart = Math.min(maxSectors, 0xFFFF_FFFFL);
            perPart -= perPart % (blockSize >>> VirtioBlk.SECTOR_SHIFT);
            int parts = (int) ((sectors + perPart - 1) / perPart);
            Group g = new Group(parts);
            for (long s = 0; s < sectors; s += perPart) {
                long n = Math.min(perPart, sectors - s);
                q.submit(new Req(type, offset + (s << VirtioBlk.SECTOR_SHIFT), null, null, false, (int) n, flags, g, null));
            }
            return g.future;
        } catch (VhostException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    @Override
    public CompletableFuture<String> getId(int queue) {
        try {
            BlkRequestQueue q = highLevelQueue(queue);
            CompletableFuture<String> f = new CompletableFuture<>();
            q.submit(new Req(VirtioBlk.T_GET_ID, 0, null, null, false, 0, 0, null, f));
            return f;
        } catch (VhostException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    /**
     * Hands queue {@code index} over to the caller for the zero-allocation path: its completion
     * thread stops and {@link BlkRequestQueue#poll}/{@link BlkRequestQueue#await} find completions.
     * The high-level methods are refused on it from then on.
     *
     * @throws IllegalStateException when high-level requests are outstanding on it, or it was
     *     already handed over
     * @throws IndexOutOfBoundsException for an index outside the queues in use
     */
    @Override
    public BlkRequestQueue queue(int index) {
        if (index < 0 || index >= queues.length) {
            throw new IndexOutOfBoundsException("queue " + index + " outside 0.." + (queues.length - 1));
        }
        BlkRequestQueue q = queues[index];
        q.lock.lock();
        try {
            if (q.lowLevel) {
                throw new IllegalStateException("queue " + index + " was already handed over");
            }
            int outstanding = q.highLevelOutstanding();
            if (outstanding > 0) {
                throw new IllegalStateException("queue " + index + " has " + outstanding + " high-level requests outstanding");
            }
            q.lowLevel = true;
        } finally {
            q.lock.unlock();
        }
        stopCompleter(q);
        return q;
    }

    /** Wakes the completion thread through its call eventfd; a closed fd is left to the 100 ms timeout. */
    private static void wake(BlkRequestQueue q) {
        try {
            q.call.signal();
        } catch (com.vhost.api.VhostNativeException e) {
            LOG.debug("queue {}: waking the completion thread: {}", q.index(), e.getMessage());
        }
    }

    private static void stopCompleter(BlkRequestQueue q) {
        Thread t = q.completer;
        if (t != null && t != Thread.currentThread()) {
            if (q.call != null) {
                wake(q);
            }
            try {
                t.join(2000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            if (t.isAlive()) {
                LOG.warn("completion thread of queue {} did not stop within 2 s", q.index());
            }
        }
    }

    // ---- hot-swap ----

    /**
     * Moves this device to {@code newBackend} while this {@link BlockDevice} handle stays valid
     * (QEMU {@code vhost_dev_stop}/{@code vhost_dev_start} across back-ends, with the driver's
     * requests carried over). Steps:
     * <ol>
     *   <li>Negotiate with {@code newBackend} while the old one still serves: it must offer every
     *       feature acked so far and report the same capacity and {@code blk_size}; otherwise a
     *       {@link VhostFeatureException} / {@link VirtioDeviceException} and nothing changes
     *       (except when the old backend is already gone: then outstanding requests fail with
     *       that error).</li>
     *   <li>Hold new submissions (parked in submission order), stop the completion threads.</li>
     *   <li>Stop the old rings (SET_VRING_ENABLE(0) and GET_VRING_BASE per queue; the back-end
     *       answers once its in-flight requests are done), reap the used rings, and take every
     *       request still outstanding, ordered by submission. Chains the old back-end had taken
     *       (avail index below its base) and not completed are counted as resubmitted.</li>
     *   <li>When both backends negotiated DEVICE_STATE, move the old back-end's internal state
     *       to the new one (SET_DEVICE_STATE_FD SAVE / LOAD, CHECK_DEVICE_STATE); optional.</li>
     *   <li>Close the old backend; reset each ring at the base GET_VRING_BASE returned
     *       (avail idx = used idx = base, so the new back-end's {@code last_avail} and
     *       {@code used->idx} agree) and start the new backend on the same shared memory, kick
     *       and call eventfds.</li>
     *   <li>Place the outstanding requests again in order, release the held ones, restart the
     *       completion threads.</li>
     * </ol>
     * Every request is completed exactly once for the application; a write the old back-end
     * executed without reporting it is written again with the same data (block writes are
     * idempotent). {@link #lastPauseNanos()} then reports the I/O pause. Also resumes a device
     * {@link #detach() detached} from its backend.
     *
     * @param newBackend an open backend; owned by the driver from now on (closed on failure)
     * @throws VhostFeatureException when {@code newBackend} lacks an acked feature
     * @throws VirtioDeviceException when its geometry differs, a queue is in low-level mode, or
     *     the driver is closed or failed
     * @throws VhostException from the new backend; the device then has no backend: outstanding
     *     requests fail with it
     */
    public void rebind(VhostBackend newBackend) throws VhostException {
        lockForSwap("rebind", newBackend);
        try {
            rebindLocked(newBackend);
        } finally {
            swap.unlock();
        }
    }

    /**
     * Takes the swap lock (bounded, {@link HotSwapState#lock}) and refuses a closed or failed
     * driver or one with a queue in low-level mode, closing {@code toClose} on any refusal.
     */
    private void lockForSwap(String what, VhostBackend toClose) throws VhostException {
        swap.lock(what, toClose);
        VhostException refusal = null;
        if (closed || failure.get() != null) {
            swap.unlock();
            refusal = swap.refusal(what, closed, failure.get());
        } else {
            for (BlkRequestQueue q : queues) {
                if (q.lowLevel) {
                    swap.unlock();
                    refusal = new VirtioDeviceException(what + ": queue " + q.index()
                            + " is in low-level mode (VirtioBlkDriver.queue); only the BlockDevice path can be moved");
                    break;
                }
            }
        }
        if (refusal != null) {
            if (toClose != null) {
                toClose.close();
            }
            throw refusal;
        }
    }

    private void rebindLocked(VhostBackend nb) throws VhostException {
        String from = backendName();
        boolean wasDetached = swap.isDetached();
        GenericVhostDevice nv;
        VirtioBlkFrontend nf;
        try {
            GenericVhostDevice.requireDeviceType(nb, com.vhost.api.virtio.VirtioDeviceType.BLOCK);
            nv = new GenericVhostDevice(nb, queues.length);
        } catch (VhostException | RuntimeException e) {
            nb.close();
            refusedWhileGone(e, wasDetached);
            throw e;
        }
        try {
            nf = new VirtioBlkFrontend(nv, queues.length, queueSize);
            checkCompatible(nf, nb.describe());
            nf.ackFeatures(acked);
            nf.prepare(memory); // features and memory table now, while the old backend still serves
        } catch (VhostException | RuntimeException e) {
            nv.close();
            refusedWhileGone(e, wasDetached);
            throw e;
        }
        long t0 = System.nanoTime();
        int fromRing = 0;
        if (!wasDetached) {
            fromRing = quiesce("rebind to " + nb.describe(), nv);
        }
        // From here on the device has no backend until the new one is started.
        List<VirtqueueConfig> configs = new ArrayList<>(queues.length);
        for (BlkRequestQueue q : queues) {
            configs.add(new VirtqueueConfig(q.index(), queueSize, q.dq.descGpa(), q.dq.availGpa(), q.dq.usedGpa(),
                    q.dq.availIdx(), q.kick.fd(), q.call.fd(), true));
        }
        long ta = System.nanoTime();
        try {
            nf.activate(memory, new DriverInterrupt(), configs);
            LOG.debug("virtio-blk: {} started in {} us", nb.describe(), (System.nanoTime() - ta) / 1000);
        } catch (VhostException | RuntimeException e) {
            nv.close();
            VhostException v = e instanceof VhostException ve ? ve
                    : new VirtioDeviceException("rebind: starting " + nb.describe() + " failed: " + e, e);
            lost(-1, new VhostDisconnectedException("rebind from " + from + " to " + nb.describe()
                    + ": starting the new backend failed: " + v.getMessage()));
            throw v;
        }
        this.vhost = nv;
        this.frontend = nf;
        nv.setConfigChangeNotifier(() -> LOG.info("virtio-blk on {}: config changed", nb.describe()));
        BlockDeviceInfo old = info;
        this.info = new BlockDeviceInfo(old.capacityBytes(), old.blockSize(), old.numQueues(), old.queueSize(), acked,
                old.readOnly(), old.segMax(), old.sizeMax(), nb.describe());
        swap.attached(lastCompletionNanos != 0 ? lastCompletionNanos : t0);
        int resubmitted = release();
        swap.swapped(t0);
        resubmittedTotal.addAndGet(resubmitted);
        LOG.info("virtio-blk swap: from {} to {}, switch {} us, {} request(s) carried over ({} taken off the ring, {} held)",
                from, nb.describe(), TimeUnit.NANOSECONDS.toMicros(System.nanoTime() - t0), resubmitted, fromRing,
                resubmitted - fromRing);
    }

    /** A refused rebind of a device without a backend fails what it holds: nothing else will serve it. */
    private void refusedWhileGone(Throwable e, boolean wasDetached) {
        if (!wasDetached) {
            return;
        }
        VhostException why = new VhostDisconnectedException("virtio-blk without a backend since " + swap.detachedFrom()
                + " went away: the replacement was refused: " + e.getMessage());
        for (BlkRequestQueue q : queues) {
            q.failAll(why);
        }
    }

    private void checkCompatible(VirtioBlkFrontend nf, String name) throws VhostException {
        long offered = nf.features();
        long missing = acked & ~offered;
        if (missing != 0) {
            throw new VhostFeatureException(String.format(
                    "rebind to %s: it does not offer feature bits 0x%x acked with %s (acked 0x%x, offered 0x%x)",
                    name, missing, backendName(), acked, offered));
        }
        byte[] raw = new byte[VirtioBlk.CONFIG_SIZE];
        try {
            nf.readConfig(0, raw);
        } catch (UncheckedIOException e) {
            throw e.getCause() instanceof VhostException v ? v : new VirtioDeviceException("rebind: config read: " + e.getMessage(), e);
        }
        MemorySegment cfg = MemorySegment.ofArray(raw);
        long cap = cfg.get(LE64, VirtioBlk.CFG_CAPACITY) << VirtioBlk.SECTOR_SHIFT;
        int bs = has(VirtioBlk.F_BLK_SIZE) ? cfg.get(LE32, VirtioBlk.CFG_BLK_SIZE) : VirtioBlk.SECTOR_SIZE;
        if (cap != capacityBytes || bs != blockSize) {
            throw new VirtioDeviceException("rebind to " + name + ": geometry differs: capacity " + cap + " bytes, blk_size "
                    + bs + " (device has " + capacityBytes + " bytes, blk_size " + blockSize + ")");
        }
        if (has(VirtioBlk.F_MQ) && Short.toUnsignedInt(cfg.get(LE16, VirtioBlk.CFG_NUM_QUEUES)) < queues.length) {
            throw new VirtioDeviceException("rebind to " + name + ": it offers " + Short.toUnsignedInt(cfg.get(LE16,
                    VirtioBlk.CFG_NUM_QUEUES)) + " queues, the device uses " + queues.length);
        }
    }

    /** Parks new submissions (held in order) and asks the completion threads to stop. */
    private void hold() {
        holding = true;
        for (BlkRequestQueue q : queues) {
            q.lock.lock(); // a submission in progress has finished placing once we hold its lock
            q.lock.unlock();
            q.stopping = true;
        }
    }

    /**
     * Ends {@link #hold}: places the parked requests (those taken off the ring first), kicks each
     * queue and restarts the completion threads.
     *
     * @return the requests placed again
     */
    private int release() {
        holding = false;
        int placed = 0;
        for (BlkRequestQueue q : queues) {
            placed += q.resume();
        }
        for (BlkRequestQueue q : queues) {
            startCompleter(q);
        }
        return placed;
    }

    /**
     * Holds submissions, stops the completion threads and the old backend's rings, reaps what it
     * completed, takes the outstanding requests and closes the old backend. Rings are reset at
     * the bases the old back-end returned (or at the last used index when it could not answer).
     */
    private int quiesce(String why, GenericVhostDevice next) {
        return quiesce(why, next, true);
    }

    /**
     * @param next the backend the device moves to (its state is carried from the old one when
     *     both offer DEVICE_STATE), or null
     * @param closeOld false: keep the backend (restore restarts it at other ring indices); its
     *     device is then asleep (ASLEEP_ACTIVE) when the rings stopped
     */
    private int quiesce(String why, GenericVhostDevice next, boolean closeOld) {
        hold();
        long t0 = System.nanoTime();
        for (BlkRequestQueue q : queues) {
            stopCompleter(q);
        }
        long t1 = System.nanoTime();
        int[] bases = null;
        VirtioBlkFrontend f = frontend;
        try {
            if (vhost.backend().isConnected() && f.state() == com.vhost.api.virtio.VirtioDeviceState.ACTIVE) {
                List<VirtqueueConfig> slept = f.sleep();
                bases = new int[queues.length];
                java.util.Arrays.fill(bases, -1);
                for (VirtqueueConfig c : slept) {
                    if (c.index() >= 0 && c.index() < bases.length) {
                        bases[c.index()] = c.nextAvail();
                    }
                }
            }
        } catch (VhostException | RuntimeException e) {
            LOG.warn("virtio-blk on {}: stopping the rings for {} failed ({}); resubmitting everything not completed",
                    backendName(), why, e.getMessage());
            bases = null;
        }
        if (bases != null) {
            awaitStragglers(bases, why);
            if (next != null) {
                swap.carryState(vhost, next, STATE_TRANSFER_TIMEOUT_MS);
            }
        }
        long t2 = System.nanoTime();
        int taken = 0;
        for (BlkRequestQueue q : queues) {
            try {
                q.drain();
            } catch (VhostException | RuntimeException e) {
                LOG.warn("queue {}: reaping the used ring for {} failed: {}", q.index(), why, e.toString());
            }
            int base = bases == null || bases[q.index()] < 0 ? q.dq.lastUsedIdx() : bases[q.index()];
            taken += q.takeOutstanding(base);
        }
        long t3 = System.nanoTime();
        if (closeOld) {
            swap.leaving(vhost.backend().describe());
            vhost.close();
        }
        long t4 = System.nanoTime();
        LOG.debug("virtio-blk: stopped {} for {}: {} request(s) outstanding; completion threads {} us, rings {} us,"
                + " reap {} us, close {} us", vhost.backend().describe(), why, taken, (t1 - t0) / 1000, (t2 - t1) / 1000, (t3 - t2) / 1000,
                (t4 - t3) / 1000);
        return taken;
    }

    /**
     * GET_VRING_BASE returns the back-end's next avail index, but a back-end may still be
     * executing chains it had taken (libvhost-user, hence qemu-storage-daemon, completes them
     * later into the used ring, data buffers and status bytes). Before the ring is reset and its
     * requests handed to another back-end, those must have completed, or a late write would land
     * in memory that has been reused. Reaps until the used index reaches each base, bounded by
     * {@link #STRAGGLER_WAIT_NANOS}; what is still missing after that is resubmitted (logged).
     */
    private void awaitStragglers(int[] bases, String why) {
        long deadline = System.nanoTime() + STRAGGLER_WAIT_NANOS;
        for (BlkRequestQueue q : queues) {
            int base = bases[q.index()];
            if (base < 0) {
                continue;
            }
            while (true) {
                try {
                    q.drain();
                } catch (VhostException | RuntimeException e) {
                    LOG.warn("queue {}: reaping after GET_VRING_BASE for {} failed: {}", q.index(), why, e.toString());
                    break;
                }
                int missing = (base - q.dq.lastUsedIdx()) & 0xFFFF;
                if (missing == 0 || missing > q.dq.inFlight()) {
                    break; // all taken chains completed (or the base is not about this ring)
                }
                if (System.nanoTime() - deadline > 0) {
                    LOG.warn("queue {}: {} chain(s) taken by {} not completed {} ms after GET_VRING_BASE; resubmitting them",
                            q.index(), missing, backendName(), TimeUnit.NANOSECONDS.toMillis(STRAGGLER_WAIT_NANOS));
                    break;
                }
                LockSupport.parkNanos(20_000);
            }
        }
    }

    // ---- snapshot / restore of the running device ----

    /**
     * Takes a snapshot while the application keeps its handle (layout: {@link BlkDriverSnapshot}):
     * new requests are held, the completion threads stop, the device sleeps (GET_VRING_BASE per
     * queue; chains the back-end had taken are reaped, bounded by {@link #STRAGGLER_WAIT_NANOS}),
     * the config space, ring addresses and indices and the requests on each ring are recorded, and
     * the device wakes on the same backend at the same indices: requests in flight stay on the
     * ring and complete once, held ones are placed after. When the back-end offers DEVICE_STATE
     * its own state is saved too (SET_DEVICE_STATE_FD SAVE while the rings are stopped) and a
     * restore loads it back before the rings restart.
     *
     * @throws VirtioDeviceException when the driver is closed, failed, detached, or a queue is in
     *     low-level mode
     * @throws VhostException when the backend refused to stop or restart its rings; the device is
     *     then handled as after a backend loss (detached under the registry, else failed)
     */
    public byte[] snapshot() throws VhostException {
        lockForSwap("snapshot", null);
        try {
            return snapshotLocked().encode();
        } finally {
            swap.unlock();
        }
    }

    private void requireAttached(String what) throws VirtioDeviceException {
        swap.requireAttached(what);
    }

    private BlkDriverSnapshot snapshotLocked() throws VhostException {
        requireAttached("snapshot");
        VirtioBlkFrontend f = frontend;
        hold();
        for (BlkRequestQueue q : queues) {
            stopCompleter(q);
        }
        BlkDriverSnapshot snap = null;
        VhostException failed = null;
        try {
            List<VirtqueueConfig> slept = f.sleep();
            int[] bases = new int[queues.length];
            java.util.Arrays.fill(bases, -1);
            for (VirtqueueConfig c : slept) {
                if (c.index() >= 0 && c.index() < bases.length) {
                    bases[c.index()] = c.nextAvail();
                }
            }
            awaitStragglers(bases, "snapshot");
            byte[] cfg = new byte[VirtioBlk.CONFIG_SIZE];
            f.readConfig(0, cfg);
            List<BlkDriverSnapshot.Ring> rings = new ArrayList<>(queues.length);
            for (BlkRequestQueue q : queues) {
                rings.add(new BlkDriverSnapshot.Ring(q.dq.availIdx(), q.dq.lastUsedIdx(), q.ringRequests()));
            }
            byte[] state = new byte[0];
            if (DeviceStateTransfer.supported(vhost)) {
                state = DeviceStateTransfer.save(vhost.backend(), STATE_TRANSFER_TIMEOUT_MS);
            }
            snap = new BlkDriverSnapshot(acked, cfg, state, slept, List.copyOf(rings));
            f.wake(List.of());
        } catch (VhostException e) {
            failed = e;
        } catch (RuntimeException e) {
            failed = new VirtioDeviceException("snapshot of virtio-blk on " + backendName() + ": " + e, e);
        } finally {
            release();
        }
        if (failed != null) {
            LOG.warn("virtio-blk on {}: snapshot failed: {}; handling it as a backend loss", backendName(), failed.getMessage());
            backendLost(-1);
            throw failed;
        }
        LOG.info("virtio-blk on {}: snapshot taken: {}", backendName(), snap.describe());
        return snap;
    }

    /**
     * Returns the running device to a {@link #snapshot}: the snapshot must have this device's
     * acked features, capacity, {@code blk_size}, number of queues and queue size, and ring
     * addresses in this driver's ring areas (a snapshot of this driver, or of one made with the
     * same options); otherwise nothing changes. Then the device is quiesced on its backend (as a
     * swap does, without closing it), each ring is reset in the snapshot's area at its
     * {@code last_avail} index, the backend restarts there, and the requests outstanding now
     * are placed again; the requests recorded in flight in the snapshot are not replayed (the
     * application saw them complete).
     *
     * @throws VirtioDeviceException naming the mismatch or the truncation (nothing changed), or
     *     when the driver is closed, failed, detached, or a queue is in low-level mode
     * @throws VhostException when the backend refused to restart; outstanding requests then fail
     */
    public String restore(byte[] snapshot) throws VhostException {
        BlkDriverSnapshot s = BlkDriverSnapshot.decode(snapshot, queues.length);
        lockForSwap("restore", null);
        try {
            return restoreLocked(s);
        } finally {
            swap.unlock();
        }
    }

    private int[] checkRestorable(BlkDriverSnapshot s) throws VhostException {
        if (s.ackedFeatures() != acked) {
            throw new VhostFeatureException(String.format(
                    "restore: snapshot acked features 0x%x, this device acked 0x%x (they differ in 0x%x)",
                    s.ackedFeatures(), acked, s.ackedFeatures() ^ acked));
        }
        if (s.config().length < VirtioBlk.CONFIG_SIZE) {
            throw new VirtioDeviceException("restore: snapshot config space has " + s.config().length
                    + " bytes, virtio-blk needs " + VirtioBlk.CONFIG_SIZE);
        }
        MemorySegment cfg = MemorySegment.ofArray(s.config());
        long cap = cfg.get(LE64, VirtioBlk.CFG_CAPACITY) << VirtioBlk.SECTOR_SHIFT;
        int bs = has(VirtioBlk.F_BLK_SIZE) ? cfg.get(LE32, VirtioBlk.CFG_BLK_SIZE) : VirtioBlk.SECTOR_SIZE;
        if (cap != capacityBytes || bs != blockSize) {
            throw new VirtioDeviceException("restore: snapshot geometry capacity " + cap + " bytes, blk_size " + bs
                    + "; this device has " + capacityBytes + " bytes, blk_size " + blockSize);
        }
        if (s.queues().size() != queues.length) {
            throw new VirtioDeviceException("restore: snapshot has " + s.queues().size() + " queues, this device "
                    + queues.length);
        }
        int[] areas = new int[queues.length];
        for (int i = 0; i < queues.length; i++) {
            VirtqueueConfig c = s.queues().get(i);
            if (c.index() != i || c.size() != queueSize) {
                throw new VirtioDeviceException("restore: snapshot queue #" + i + " is index " + c.index() + " size "
                        + c.size() + "; this device's queue " + i + " has size " + queueSize);
            }
            areas[i] = -1;
            for (int a = 0; a < 2; a++) {
                DriverQueue dq = queues[i].areaQueue(a);
                if (dq.descGpa() == c.descAddr() && dq.availGpa() == c.availAddr() && dq.usedGpa() == c.usedAddr()) {
                    areas[i] = a;
                }
            }
            if (areas[i] < 0) {
                throw new VirtioDeviceException(String.format(
                        "restore: snapshot queue %d rings at desc 0x%x avail 0x%x used 0x%x are not this driver's"
                                + " (its ring areas start at desc 0x%x and 0x%x)",
                        i, c.descAddr(), c.availAddr(), c.usedAddr(), queues[i].areaQueue(0).descGpa(),
                        queues[i].areaQueue(1).descGpa()));
            }
        }
        return areas;
    }

    private String restoreLocked(BlkDriverSnapshot s) throws VhostException {
        requireAttached("restore");
        int[] areas = checkRestorable(s);
        long t0 = System.nanoTime();
        quiesce("restore", null, false);
        VirtioBlkFrontend f = frontend;
        if (f.state() != com.vhost.api.virtio.VirtioDeviceState.ASLEEP_ACTIVE) {
            VhostException e = new VhostDisconnectedException("restore: the rings of " + backendName()
                    + " could not be stopped (device " + f.state() + ")");
            lost(-1, e);
            throw e;
        }
        List<VirtqueueConfig> configs = new ArrayList<>(queues.length);
        for (BlkRequestQueue q : queues) {
            q.resetRing(areas[q.index()], s.queues().get(q.index()).nextAvail());
            configs.add(new VirtqueueConfig(q.index(), queueSize, q.dq.descGpa(), q.dq.availGpa(), q.dq.usedGpa(),
                    q.dq.availIdx(), q.kick.fd(), q.call.fd(), true));
        }
        try {
            if (s.backendState().length > 0) {
                if (!DeviceStateTransfer.supported(vhost)) {
                    LOG.warn("virtio-blk on {}: the snapshot carries {} bytes of back-end state but this back-end does not"
                            + " offer DEVICE_STATE; restoring the rings without it", backendName(), s.backendState().length);
                } else {
                    DeviceStateTransfer.load(vhost.backend(), s.backendState(), STATE_TRANSFER_TIMEOUT_MS);
                }
            }
            f.wake(configs);
        } catch (VhostException | RuntimeException e) {
            VhostException v = e instanceof VhostException ve ? ve
                    : new VirtioDeviceException("restore: restarting " + backendName() + " failed: " + e, e);
            lost(-1, new VhostDisconnectedException("restore: restarting " + backendName() + " at the snapshot's rings failed: "
                    + v.getMessage()));
            throw v;
        }
        int resubmitted = release();
        String result = String.format("restored on %s in %d us: %s; %d outstanding request(s) placed again,"
                + " %d recorded in flight in the snapshot not replayed", backendName(),
                TimeUnit.NANOSECONDS.toMicros(System.nanoTime() - t0), s.describe(), resubmitted, s.inFlightCount());
        LOG.info("virtio-blk {}", result);
        return result;
    }

    /**
     * Stops the rings and closes the backend but keeps this handle: requests are held until
     * {@link #rebind} (or fail with {@link VhostDisconnectedException} after
     * {@link #swapWaitNanos()}). A device already detached stays so.
     *
     * @throws VirtioDeviceException when the driver is closed, failed, or a queue is in low-level mode
     */
    public void detach() throws VhostException {
        lockForSwap("detach", null);
        try {
            if (swap.isDetached()) {
                return;
            }
            String from = backendName();
            long t0 = System.nanoTime();
            quiesce("detach", null);
            long deadline = swap.markDetached(from);
            LOG.info("virtio-blk unbind: from {} to (none), switch {} us; requests wait up to {} ms for a backend", from,
                    TimeUnit.NANOSECONDS.toMicros(System.nanoTime() - t0), TimeUnit.NANOSECONDS.toMillis(swap.swapWaitNanos()));
            Thread.ofPlatform().daemon().name("vhost-blk-detached").start(() -> expireHeld(deadline));
        } finally {
            swap.unlock();
        }
    }

    /** Fails the requests held by a detached device once its wait is over (unless rebound). */
    private void expireHeld(long deadline) {
        while (swap.detachedDeadline() == deadline && !closed) {
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                VhostException e = holdExpired();
                if (e != null) {
                    for (BlkRequestQueue q : queues) {
                        q.failAll(e);
                    }
                    LOG.warn("virtio-blk: {}", e.getMessage());
                }
                return;
            }
            LockSupport.parkNanos(Math.min(left, 50_000_000L));
        }
    }

    /** @return whether no backend is attached ({@link #detach()} without a later {@link #rebind}) */
    public boolean isDetached() {
        return swap.isDetached();
    }

    /** @return how long requests are held while no backend is attached, in nanoseconds */
    public long swapWaitNanos() {
        return swap.swapWaitNanos();
    }

    /**
     * @param nanos how long requests wait while no backend is attached (0: they fail at once)
     */
    public void setSwapWaitNanos(long nanos) {
        swap.setSwapWaitNanos(nanos);
    }

    /**
     * @return the I/O pause of the last swap in nanoseconds: from the last completion on the old
     *     backend to the first on the new one; -1 before any swap completed I/O
     */
    public long lastPauseNanos() {
        return swap.lastPauseNanos();
    }

    /** @return swaps whose I/O pause has been measured (a first completion on the new backend seen) */
    public long pausesMeasured() {
        return swap.pausesMeasured();
    }

    /** @return requests completed with S_OK through the {@link BlockDevice} methods */
    public long completedRequests() {
        return completedRequests.sum();
    }

    /**
     * @return counters: {@code requests} and {@code bytes} completed with S_OK through the
     *     {@link BlockDevice} methods, {@code swaps}, {@code carried.over} (requests resubmitted
     *     across swaps), {@code states.carried} (swaps that moved the back-end's state with
     *     DEVICE_STATE), {@code last.pause.us} (-1 when none), {@code last.switch.us} (time
     *     requests were held by the last rebind, from the hold to the resume; -1 when none), {@code outstanding}, {@code detached} (0/1)
     */
    public Map<String, Long> counters() {
        Map<String, Long> m = new LinkedHashMap<>();
        m.put("requests", completedRequests.sum());
        m.put("bytes", completedBytes.sum());
        m.put("swaps", swap.swaps());
        m.put("carried.over", resubmittedTotal.get());
        swap.putSwapCounters(m);
        m.put("outstanding", (long) outstanding());
        m.put("detached", isDetached() ? 1L : 0L);
        return m;
    }

    /** @return how long outstanding high-level requests may go without any completion, in nanoseconds */
    public long requestTimeoutNanos() {
        return requestTimeoutNanos;
    }

    /**
     * Sets how long outstanding high-level requests may go without any completion on their queue
     * before the driver declares the back-end lost and fails every future with a
     * {@link com.vhost.api.VhostTimeoutException} (default 30 s, as Linux blk-mq). This catches a
     * back-end process that died while the connection had nothing to say.
     *
     * @param nanos at least 1 ms
     */
    public void setRequestTimeoutNanos(long nanos) {
        if (nanos < 1_000_000L) {
            throw new IllegalArgumentException("request timeout " + nanos + " ns is below 1 ms");
        }
        requestTimeoutNanos = nanos;
    }

    /** @return the largest data length one request carries, in bytes (longer I/O is split) */
    public long maxRequestBytes() {
        return maxRequestBytes;
    }

    /** @return the {@link com.vhost.api.virtio.VirtioDevice} view (life cycle, config) */
    public VirtioBlkFrontend frontend() {
        return frontend;
    }

    /** @return the vhost device underneath */
    public GenericVhostDevice vhost() {
        return vhost;
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        boolean locked = swap.tryLock();
        if (!locked) {
            LOG.warn("virtio-blk on {}: a rebind is still running after {} s; closing anyway", backendName(),
                    HotSwapState.LOCK_WAIT_SECONDS);
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
        long deadline = System.nanoTime() + CLOSE_WAIT_NANOS;
        while (failure.get() == null && !holding && System.nanoTime() < deadline && outstanding() > 0) {
            try {
                Thread.sleep(5);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        closed = true;
        for (BlkRequestQueue q : queues) {
            q.stopping = true;
        }
        for (BlkRequestQueue q : queues) {
            stopCompleter(q);
        }
        try {
            if (!swap.isDetached() && backendConnected() && frontend.state() == com.vhost.api.virtio.VirtioDeviceState.ACTIVE) {
                frontend.reset();
            }
        } catch (VhostException | RuntimeException e) {
            LOG.debug("virtio-blk on {}: stop on close failed: {}", backendName(), e.toString());
        }
        int left = outstanding();
        VhostException e = new VhostDisconnectedException("virtio-blk on " + backendName() + " closed with " + left
                + " requests outstanding");
        failure.compareAndSet(null, e);
        for (BlkRequestQueue q : queues) {
            q.failAll(failure.get());
        }
        vhost.close();
        closeQueues(queues);
        shm.close();
    }

    private int outstanding() {
        int n = 0;
        for (BlkRequestQueue q : queues) {
            n += q.lowLevel ? 0 : q.highLevelOutstanding();
        }
        return n;
    }

    @Override
    public String toString() {
        return "VirtioBlkDriver[" + info + "]";
    }
}
