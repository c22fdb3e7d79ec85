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
import com.vhost.api.virtio.Interrupt;
import com.vhost.api.virtio.VirtioDeviceType;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.api.virtio.VirtqueueConfig;
import com.vhost.spi.driver.DeviceStateTransfer;
import com.vhost.spi.driver.DriverProfile;
import com.vhost.spi.driver.VhostDriver;
import com.vhost.spi.driver.VhostDrivers;
import com.vhost.spi.nativeio.SharedMemory;
import com.vhost.spi.vhost.GenericVhostDevice;
import com.vhost.spi.virtqueue.DriverQueue;
import java.lang.foreign.MemorySegment;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A virtio-blk driver and its transport in one, with no VM (DPDK {@code virtio_user}, libblkio):
 * the platform plays the guest. It negotiates features through a {@link VirtioBlkFrontend} over a
 * {@link GenericVhostDevice}, lays out its rings, request slots and a buffer pool in one
 * {@link SharedMemory} (memfd) that the back-end maps, and submits requests (VIRTIO 1.2, 5.2.6).
 * Hot-swap, detach, snapshot and restore are the {@link VhostDriver} engine's; this class gives
 * it the geometry ({@link BlkGeometry}), the memory layout and the request queues
 * ({@link BlkRequestQueue}).
 *
 * <p><b>Memory.</b> One region whose guest-physical address equals its address in this process
 * (as {@code virtio_user} does), holding per queue two areas of a {@link DriverQueue} layout and
 * {@code queueSize} request slots of {@value BlkRequestQueue#SLOT_BYTES} bytes (one in use; a
 * {@link #rebind} moves to the other, so a back-end that completes a chain after GET_VRING_BASE
 * writes into memory nobody uses any more), then the buffer pool
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
 * with the {@link VhostException} that says so (or, with {@link #setDetachOnLoss}, waits for a
 * {@link #rebind}), and so does a queue with requests outstanding and no completion for
 * {@link #requestTimeoutNanos()} (a back-end that died silently); {@link #close()} waits at most
 * 5 s for in-flight requests.
 *
 * <p><b>Hot-swap.</b> Requests in flight at a {@link #rebind} are taken off the ring and placed
 * again on the new backend in submission order, each completing once for the application; a
 * write the old back-end executed without reporting it is written again with the same data
 * (block writes are idempotent). While a swap runs or no backend is attached, new requests are
 * parked in order. Packed rings (VIRTIO_F_RING_PACKED, VIRTIO 1.2 2.8) are not carried at the
 * GET_VRING_BASE index but restarted fresh (0x8000) on the new backend, a snapshot and a restore
 * restart them fresh too; split rings continue at the stopped back-end's index.
 */
public final class VirtioBlkDriver extends VhostDriver<VirtioBlkFrontend, BlkDriverSnapshot> implements BlockDevice, BlockQueues {
    private static final Logger LOG = LoggerFactory.getLogger(VirtioBlkDriver.class);
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
    private static final DriverProfile PROFILE = new DriverProfile(VirtioDeviceType.BLOCK,
            Set.of(BlockDevice.class, BlockQueues.class), "virtio-blk", "vhost-blk", "requests",
            "rebind/detach/close", "resubmitting them", "resubmitting everything not completed",
            "a rebind is still running after 30 s; closing anyway", STRAGGLER_WAIT_NANOS, STATE_TRANSFER_TIMEOUT_MS);

    private final SharedMemory shm;
    private final GuestMemory memory;
    private final BufferPool pool;
    private final BlkQueues queues;
    private final BlkInflight inflight;
    private final long baseGpa;
    private final long acked;
    private final BlkGeometry geometry;
    private final boolean poll;
    private final int queueSize;
    private final Interrupt interrupt = new DriverInterrupt();
    private volatile BlockDeviceInfo info;
    /** Requests are parked instead of placed: a swap is in progress or no backend is attached. */
    private volatile boolean holding;
    private final LongAdder completedRequests = new LongAdder();
    private final LongAdder completedBytes = new LongAdder();
    private final LongAdder failedRequests = new LongAdder();
    private final AtomicLong resubmittedTotal = new AtomicLong();
    /** System.nanoTime() of the latest completion batch of the high-level path. */
    private volatile long lastCompletionNanos;
    private volatile long requestTimeoutNanos = DEFAULT_REQUEST_TIMEOUT_NANOS;
    /** The snapshot area of each queue found by {@link #checkRestorable}, used by {@link #resetRings}. */
    private int[] restoreAreas;

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
        return VhostDrivers.open(backend, VirtioDeviceType.BLOCK, options.queues(), vhost -> new VirtioBlkDriver(vhost, options));
    }

    private VirtioBlkDriver(GenericVhostDevice vhost, BlkDriverOptions o) throws VhostException {
        VirtioBlkFrontend front = new VirtioBlkFrontend(vhost, o.queues(), o.queueSize());
        super(vhost, front, PROFILE, LOG, DEFAULT_SWAP_WAIT_NANOS);
        this.poll = o.poll();
        this.queueSize = o.queueSize();
        long offered = front.features();
        front.ackFeatures(o.ringFeatures(offered));
        if (o.packed() && !VirtioFeatures.has(offered, VirtioFeatures.F_RING_PACKED)) {
            LOG.info("virtio-blk on {}: packed virtqueues asked for but the back-end does not offer VIRTIO_F_RING_PACKED; using split ones",
                    vhost.backend().describe());
        }
        this.acked = front.ackedFeatures();
        this.geometry = BlkGeometry.read(front, acked, o.queues(), o.queueSize());
        int nq = geometry.numQueues();
        if (nq < o.queues()) {
            LOG.info("virtio-blk on {}: device offers {} queues, {} wanted; using {}", vhost.backend().describe(), nq, o.queues(), nq);
        }
        BlkMemory mem = BlkMemory.create(this, geometry, o, acked);
        this.shm = mem.shm();
        this.memory = mem.memory();
        this.pool = mem.pool();
        this.queues = mem.queues();
        this.inflight = new BlkInflight(queues, o.queueSize(), VirtioFeatures.has(acked, VirtioFeatures.F_RING_PACKED));
        this.baseGpa = shm.address();
        laidOut(memory, acked, interrupt, nq, nq);
        try {
            inflight.start(vhost);
            front.activate(memory, interrupt, queues.configs());
        } catch (VhostException | RuntimeException e) {
            inflight.close();
            mem.close();
            throw e;
        }
        this.info = new BlockDeviceInfo(geometry.capacityBytes(), geometry.blockSize(), nq, o.queueSize(), acked, geometry.readOnly(),
                geometry.segMax(), geometry.sizeMax(), vhost.backend().describe());
        vhost.setConfigChangeNotifier(() -> LOG.info("virtio-blk on {}: config changed (capacity is re-read on reopen)",
                vhost.backend().describe()));
        for (BlkRequestQueue q : queues.all()) {
            q.completer().start();
        }
        LOG.debug("virtio-blk on {}: {}", vhost.backend().describe(), info);
    }

    /** Wakes the completion threads; reports a device-needs-reset as the driver's failure. */
    private final class DriverInterrupt implements Interrupt {
        @Override
        public void signalUsedQueue(int queueIndex) {
            if (queues != null && queueIndex >= 0 && queueIndex < queues.count()) {
                queues.get(queueIndex).completer().wake();
            }
        }

        @Override
        public void signalConfigChanged() {
            LOG.info("virtio-blk on {}: config changed", vhost().backend().describe());
        }

        @Override
        public void signalNeedsReset(String reason) {
            lost("", new VirtioDeviceException("device needs reset: " + reason));
        }
    }

    // ---- what the request queues use ----

    BufferPool pool() {
        return pool;
    }

    BlkGeometry geometry() {
        return geometry;
    }

    long gpaOf(MemorySegment shared) {
        return baseGpa + (shared.address() - shm.address());
    }

    boolean hasFlush() {
        return VirtioFeatures.has(acked, VirtioBlk.F_FLUSH);
    }

    boolean backendConnected() {
        return !swap.isDetached() && vhost().backend().isConnected();
    }

    /** @return whether requests are parked rather than placed (swap in progress, or detached) */
    boolean holding() {
        return holding;
    }

    /** @return the error a held request fails with (no backend for longer than the swap wait), or null */
    VhostException holdExpired() {
        return swap.expired();
    }

    void usable() throws VhostException {
        checkUsable();
    }

    VhostException failedWith() {
        return failure();
    }

    /** Marks the driver failed and fails every outstanding request ({@code queue} -1: not a queue's finding). */
    void lost(int queue, VhostException cause) {
        lost(queue >= 0 ? " (noticed on queue " + queue + ")" : "", cause);
    }

    /** A completion thread found the backend disconnected: detach (detach-on-loss) or fail. */
    void backendLost(int queue) {
        backendLost(" (noticed on queue " + queue + ")");
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

    /** Counts one request the device answered with IOERR or UNSUPP. */
    void countError() {
        failedRequests.increment();
    }

    // ---- high-level requests (BlockDevice) ----

    private BlkRequestQueue highLevelQueue(int queue) throws VhostException {
        checkUsable();
        if (queue < 0 || queue >= queues.count()) {
            throw new VirtioDeviceException("queue " + queue + " outside 0.." + (queues.count() - 1));
        }
        BlkRequestQueue q = queues.get(queue);
        if (q.isLowLevel()) {
            throw new VirtioDeviceException("queue " + queue + " is in low-level mode (VirtioBlkDriver.queue)");
        }
        return q;
    }

    /** Submits a read or write of {@code buf} at {@code offset} on {@code queue}, split and bounced as needed. */
    CompletableFuture<Void> data(int type, int queue, long offset, MemorySegment buf) {
        try {
            return BlkRequest.submitData(this, highLevelQueue(queue), type, queue, offset, buf);
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
        if (isClosed()) {
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
            BlkRequest.Group g = new BlkRequest.Group(1);
            q.submit(new BlkRequest(this, VirtioBlk.T_FLUSH, 0, null, null, false, 0, 0, g, null));
            return g.future;
        } catch (VhostException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    @Override
    public CompletableFuture<Void> discard(int queue, long offset, long length) {
        return range(VirtioBlk.T_DISCARD, VirtioBlk.F_DISCARD, geometry.maxDiscardSectors(), 0, queue, offset, length);
    }

    @Override
    public CompletableFuture<Void> writeZeroes(int queue, long offset, long length, boolean mayUnmap) {
        return range(VirtioBlk.T_WRITE_ZEROES, VirtioBlk.F_WRITE_ZEROES, geometry.maxWriteZeroesSectors(), mayUnmap ? 1 : 0,
                queue, offset, length);
    }

    private CompletableFuture<Void> range(int type, int feature, long maxSectors, int flags, int queue, long offset, long length) {
        try {
            BlkRequestQueue q = highLevelQueue(queue);
            if (!VirtioFeatures.has(acked, feature)) {
                throw new VirtioDeviceException(BlkRequest.typeName(type) + " at offset " + offset + ", length " + length
                        + ": feature bit " + feature + " not negotiated with " + backendName());
            }
            return BlkRequest.submitRange(this, q, type, maxSectors, flags, offset, length);
        } catch (VhostException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    @Override
    public CompletableFuture<String> getId(int queue) {
        try {
            BlkRequestQueue q = highLevelQueue(queue);
            CompletableFuture<String> f = new CompletableFuture<>();
            q.submit(new BlkRequest(this, VirtioBlk.T_GET_ID, 0, null, null, false, 0, 0, null, f));
            return f;
        } catch (VhostException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    /**
     * Hands queue {@code index} over to the caller for the zero-allocation path: its completion
     * thread stops and {@link BlkRequestQueue#poll}/{@link BlkRequestQueue#await} find completions.
     * The high-level methods are refused on it from then on, and so are swaps.
     *
     * @throws IllegalStateException when high-level requests are outstanding on it, or it was
     *     already handed over
     * @throws IndexOutOfBoundsException for an index outside the queues in use
     */
    @Override
    public BlkRequestQueue queue(int index) {
        if (index < 0 || index >= queues.count()) {
            throw new IndexOutOfBoundsException("queue " + index + " outside 0.." + (queues.count() - 1));
        }
        queues.get(index).handOver();
        return queues.get(index);
    }

    // ---- the engine's hooks (VhostDriver) ----

    @Override
    protected VirtioBlkFrontend newFrontend(GenericVhostDevice vhost) {
        return new VirtioBlkFrontend(vhost, queues.count(), queueSize);
    }

    /** Every acked feature, the same capacity and {@code blk_size}, enough queues. */
    @Override
    protected void checkCompatible(VirtioBlkFrontend next, String name, String from) throws VhostException {
        geometry.checkSameAs(next, acked, name, from);
    }

    /** A queue handed over to the low-level path cannot be moved: its caller owns the ring. */
    @Override
    protected VhostException refuseSwap(String what) {
        return queues.lowLevelRefusal(what);
    }

    /** Parks new submissions (held in order) and stops the completion threads. */
    @Override
    protected void holdDataPath() {
        holding = true;
        queues.hold();
    }

    /** Attached: places the parked requests (those taken off the ring first), kicks, restarts the completion threads. */
    @Override
    protected int resumeDataPath(boolean attached) {
        if (!attached) {
            return 0; // requests stay parked until a rebind, or fail when the swap wait is over
        }
        holding = false;
        return queues.resume();
    }

    @Override
    protected DriverQueue ringQueue(int ring) {
        return queues.get(ring).ring();
    }

    @Override
    protected void reap(int ring) throws VhostException {
        queues.get(ring).drain();
    }

    /**
     * Moves every request still on a ring back to the parked ones and resets the ring (other area)
     * at its base, a packed ring fresh ({@link BlkQueues#takeOutstanding}); or, when a lost
     * back-end tracked them in the inflight region, leaves them for the next back-end to resubmit
     * ({@link BlkInflight}).
     */
    @Override
    protected int takeOutstanding(int[] bases, String why) {
        return inflight.takeOutstanding(bases, why);
    }

    /** Hands the inflight region to the new back-end ahead of the pause ({@link BlkInflight#prepare}). */
    @Override
    protected void prepareNext(GenericVhostDevice next) throws VhostException {
        inflight.prepare(next);
    }

    /** Hands the inflight region to the new back-end ({@link BlkInflight}). */
    @Override
    protected void beforeRestart(GenericVhostDevice next) throws VhostException {
        inflight.beforeRestart(next);
    }

    /**
     * Packed rings (VIRTIO_F_RING_PACKED) move on rebind and detach: {@link #takeOutstanding}
     * restarts them fresh on the next back-end and every request that was outstanding is placed
     * again on them.
     */
    @Override
    protected boolean movesPackedRings() {
        return true;
    }

    /**
     * Packed rings are snapshotted and restored too: {@link #record} keeps the outstanding requests
     * and restarts the rings fresh, {@link #resetRings} restores onto fresh rings.
     */
    @Override
    protected boolean snapshotsPackedRings() {
        return true;
    }

    @Override
    protected List<VirtqueueConfig> restartConfigs(VirtioBlkFrontend next) {
        return queues.configs();
    }

    @Override
    protected void attachedTo(GenericVhostDevice vhost, String name) {
        vhost.setConfigChangeNotifier(() -> LOG.info("virtio-blk on {}: config changed", name));
        BlockDeviceInfo old = info;
        this.info = new BlockDeviceInfo(old.capacityBytes(), old.blockSize(), old.numQueues(), old.queueSize(), acked,
                old.readOnly(), old.segMax(), old.sizeMax(), name);
    }

    @Override
    protected long lastCompletionNanos() {
        return lastCompletionNanos;
    }

    @Override
    protected void swapped(String from, String to, long switchNanos, int taken, int placed) {
        resubmittedTotal.addAndGet(placed);
        LOG.info("virtio-blk swap: from {} to {}, switch {} us, {} request(s) carried over ({} taken off the ring, {} held)",
                from, to, TimeUnit.NANOSECONDS.toMicros(switchNanos), placed, taken, placed - taken);
    }

    @Override
    protected void failOutstanding(VhostException e) {
        queues.failAll(e);
    }

    /** Held requests fail with {@link VhostDisconnectedException} once the swap wait is over. */
    @Override
    protected void onDetached(long deadline) {
        expireHeldAt(deadline);
    }

    /**
     * Layout: {@link BlkDriverSnapshot}: the config space, the queues as they stopped, per ring
     * its indices and the requests on it, and the back-end's own state when it offers
     * DEVICE_STATE (SET_DEVICE_STATE_FD SAVE while the rings are stopped). Split rings wake where
     * they stopped: requests in flight complete once, held ones are placed after. Packed rings
     * (VIRTIO 1.2 2.8) are restarted fresh here, the requests on them taken off to be placed again
     * first ({@link BlkDriverSnapshot}).
     */
    @Override
    protected BlkDriverSnapshot record(VirtioBlkFrontend f, int[] bases, List<VirtqueueConfig> slept) throws VhostException {
        byte[] state = DeviceStateTransfer.supported(vhost())
                ? DeviceStateTransfer.save(vhost().backend(), STATE_TRANSFER_TIMEOUT_MS) : new byte[0];
        BlkDriverSnapshot s = BlkDriverSnapshot.record(f, acked, queues, slept, bases, state);
        inflight.freshRings("snapshot");
        return s;
    }

    /**
     * Split rings wake where they stopped; packed rings wake fresh, where {@link #record} restarted
     * them (VIRTIO 1.2 2.8), and the requests it took off are placed again when the data path resumes.
     */
    @Override
    protected List<VirtqueueConfig> wakeAfter(BlkDriverSnapshot s) {
        return queues.packed() ? queues.configs() : List.of();
    }

    @Override
    protected BlkDriverSnapshot decode(byte[] snapshot) throws VhostException {
        return BlkDriverSnapshot.decode(snapshot, queues.count());
    }

    /**
     * The snapshot must have this device's capacity, {@code blk_size}, number of queues and queue
     * size, ring addresses in this driver's ring areas (a snapshot of this driver, or of one made
     * with the same options), and rings that restart as this device's do (fresh when packed).
     */
    @Override
    protected void checkRestorable(BlkDriverSnapshot s) throws VhostException {
        geometry.checkSnapshot(s.config(), acked);
        s.checkRestart(queues.packed());
        restoreAreas = s.areasIn(queues.all(), queueSize);
    }

    /** Each ring in the snapshot's area at its {@code last_avail} index; packed rings there, fresh. */
    @Override
    protected List<VirtqueueConfig> resetRings(BlkDriverSnapshot s) {
        List<VirtqueueConfig> configs = queues.resetTo(restoreAreas, s.queues());
        inflight.freshRings("restore");
        return configs;
    }

    @Override
    protected void loadState(VirtioBlkFrontend f, BlkDriverSnapshot s) throws VhostException {
        if (s.backendState().length > 0) {
            if (!DeviceStateTransfer.supported(vhost())) {
                LOG.warn("virtio-blk on {}: the snapshot carries {} bytes of back-end state but this back-end does not"
                        + " offer DEVICE_STATE; restoring the rings without it", backendName(), s.backendState().length);
            } else {
                DeviceStateTransfer.load(vhost().backend(), s.backendState(), STATE_TRANSFER_TIMEOUT_MS);
            }
        }
    }

    /** The requests recorded in flight in the snapshot are not replayed (the application saw them complete). */
    @Override
    protected String restored(BlkDriverSnapshot s, long micros, int placed) {
        return String.format("restored on %s in %d us: %s; %d outstanding request(s) placed again,"
                + " %d recorded in flight in the snapshot not replayed", backendName(), micros, s.describe(), placed,
                s.inFlightCount());
    }

    /** Waits at most 5 s for the requests in flight (not while held or failed). */
    @Override
    protected void beforeClose() {
        long deadline = System.nanoTime() + CLOSE_WAIT_NANOS;
        while (failure() == null && !holding && System.nanoTime() < deadline && queues.outstanding() > 0) {
            try {
                Thread.sleep(5);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
    }

    @Override
    protected void stopForClose() {
        queues.stopCompleters();
    }

    @Override
    protected void closeResources() {
        VhostException e = fail(new VhostDisconnectedException("virtio-blk on " + backendName() + " closed with "
                + queues.outstanding() + " requests outstanding"));
        failOutstanding(e);
        new BlkMemory(shm, memory, pool, queues).close();
        inflight.close();
    }

    // ---- settings, counters, views ----

    /** @return requests completed with S_OK through the {@link BlockDevice} methods */
    public long completedRequests() {
        return completedRequests.sum();
    }

    /**
     * @return counters: {@code requests} and {@code bytes} completed with S_OK through the
     *     {@link BlockDevice} methods, {@code errors} (requests the device answered with IOERR or
     *     UNSUPP), {@code swaps}, {@code carried.over} (requests resubmitted
     *     across swaps), {@code states.carried} (swaps that moved the back-end's state with
     *     DEVICE_STATE), {@code last.pause.us} (-1 when none), {@code last.switch.us} (time
     *     requests were held by the last rebind, from the hold to the resume; -1 when none),
     *     {@code outstanding}, {@code detached} (0/1)
     */
    @Override
    public Map<String, Long> counters() {
        Map<String, Long> m = new LinkedHashMap<>();
        m.put("requests", completedRequests.sum());
        m.put("bytes", completedBytes.sum());
        m.put("errors", failedRequests.sum());
        m.put("swaps", swap.swaps());
        m.put("carried.over", resubmittedTotal.get());
        swap.putSwapCounters(m);
        m.put("outstanding", (long) queues.outstanding());
        m.put("detached", isDetached() ? 1L : 0L);
        return m;
    }

    /** @return a one-line summary: capacity, block size, queues, features, backend */
    @Override
    public String summary() {
        BlockDeviceInfo i = info;
        return String.format("blk %d MiB, block %d, %d queue(s) of %d, features 0x%x%s, %s",
                i.capacityBytes() >> 20, i.blockSize(), i.numQueues(), i.queueSize(), i.features(),
                i.readOnly() ? ", read-only" : "", i.backend());
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
        return geometry.maxRequestBytes();
    }

    @Override
    public String toString() {
        return "VirtioBlkDriver[" + info + "]";
    }
}
