package com.vhost.devices.blk.model;

import static com.vhost.api.blk.VirtioBlk.SECTOR_SHIFT;
import static com.vhost.api.blk.VirtioBlk.SECTOR_SIZE;

import com.vhost.api.VhostException;
import com.vhost.api.VhostNativeException;
import com.vhost.api.VirtioDeviceException;
import com.vhost.api.VirtqueueException;
import com.vhost.api.blk.VirtioBlk;
import com.vhost.api.virtio.GuestMemory;
import com.vhost.api.virtio.Interrupt;
import com.vhost.api.virtio.VirtioDevice;
import com.vhost.api.virtio.VirtioDeviceState;
import com.vhost.api.virtio.VirtioDeviceType;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.api.virtio.VirtqueueConfig;
import com.vhost.spi.nativeio.IoUring;
import com.vhost.spi.nativeio.SharedMemory;
import com.vhost.spi.virtqueue.DescriptorChain;
import com.vhost.spi.virtqueue.DeviceQueue;
import com.vhost.spi.backend.PerQueueDevice;
import com.vhost.spi.backend.QueueWorker;
import com.vhost.spi.backend.WorkerDevice;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A virtio-blk back-end model over a raw image file or an in-memory (memfd) disk (OASIS VIRTIO
 * 1.2, section 5.2). It processes the queues itself on a {@link QueueWorker} thread, moving data
 * between the image and guest buffers with {@code pread}/{@code pwrite} straight into guest memory
 * (no copy, no allocation per request). It is what the vhost-user back-end server serves.
 *
 * <p>Features offered: VERSION_1, SIZE_MAX, SEG_MAX, BLK_SIZE (512), FLUSH, CONFIG_WCE, MQ (more
 * than one queue), DISCARD and WRITE_ZEROES (writable images), RO (read-only images),
 * INDIRECT_DESC, EVENT_IDX, RING_PACKED (the queues are then packed rings, see {@link DeviceQueue}),
 * and IN_ORDER (VIRTIO 1.2, 2.7.9 / 2.8.8) with {@link Aio#THREADS} only: that worker completes
 * each queue's requests in the order it took them, one used element per request (a blk used
 * length is the data read plus the status byte, not the whole writable size a batched element
 * would imply); io_uring completes in the order the kernel finishes, and
 * {@link #completeInRandomOrder} shuffles on purpose, so neither offers it.
 * Config space: {@link VirtioBlk}{@code .CFG_*}; capacity in 512-byte
 * sectors; {@code writeback} (1 by default) is the one writable field: 0, or a driver that did not
 * negotiate FLUSH, makes every write durable before it completes (an fdatasync per OUT /
 * WRITE_ZEROES / DISCARD).
 *
 * <p>Requests: IN, OUT, FLUSH, GET_ID ({@value VirtioBlk#ID_BYTES} bytes,
 * {@code "vhost-blk-<name>"} NUL-padded), DISCARD (punch hole, keep size; a file system that
 * cannot punch leaves the data and still answers OK), WRITE_ZEROES (punch hole when the unmap flag
 * is set, else zero range, falling back to writing zeroes); other types answer S_UNSUPP. A range
 * beyond capacity, a data length not a multiple of 512, data in the wrong direction (readable
 * bytes after an IN's header, writable ones before an OUT's status byte), a write on a read-only
 * image or a failed native call (EFAULT from a buffer truncated away included) answer S_IOERR.
 * A chain without a 16-byte readable header or a writable status byte is a {@link
 * VirtqueueException}: the queue stops and the device signals needs-reset.
 *
 * <p>Life cycle per {@link VirtioDeviceState}; a call in a state that does not allow it throws
 * {@link VirtioDeviceException}. Snapshots (asleep only) hold the acked features, the writeback
 * byte and the queue states (index, size, ring addresses, nextAvail, enabled; not fds) and are
 * checked on restore against the image's capacity, queue count and read-only flag.
 *
 * <p>I/O engine ({@link Aio}): {@code THREADS} carries each request out on the worker as above;
 * {@code IO_URING} ({@link UringRequests}) submits IN, OUT and FLUSH to an io_uring per queue and
 * completes each when its CQE arrives, many in flight and in any order, optionally on an O_DIRECT
 * fd. Either way, stopping a queue (or sleeping, resetting, closing) returns only once every
 * request the worker took from it was completed.
 *
 * <p>While ACTIVE, single queues are stopped and started without a sleep ({@link PerQueueDevice}):
 * the one worker thread stops serving a queue between two requests and starts serving another,
 * so a vhost-user ring stop or start does not pause the other queues.
 */
public final class FileBlockModel extends WorkerDevice implements PerQueueDevice, AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(FileBlockModel.class);

    /** Largest single segment the driver may use ({@code size_max}), bytes. */
    public static final int SIZE_MAX = 1 << 20;
    /** Most sectors in one discard / write-zeroes segment. */
    public static final int MAX_DISCARD_SECTORS = 1 << 21;
    /** Most segments in one discard / write-zeroes request. */
    public static final int MAX_DISCARD_SEG = 16;
    /** How long sleep/reset wait for the request in flight, ms. */
    public static final long STOP_TIMEOUT_MS = 10_000;


    private final String name;
    private final FileStore store;
    private final SharedMemory shm;
    private final boolean readOnly;
    private final int numQueues;
    private final int queueSize;
    private final long capacitySectors;
    private final long offered;
    private final byte[] config = new byte[VirtioBlk.CONFIG_SIZE];
    private final MemorySegment id = Arena.ofAuto().allocate(VirtioBlk.ID_BYTES);
    private final QueueCounters[] counters;
    private final DescriptorChain[] chains;
    private final BlkRequests requests;
    /** The io_uring data path ({@link Aio#IO_URING}), or null for {@link Aio#THREADS}. */
    private final UringRequests uring;

    /** Per queue, when requests complete in random order ({@link #completeInRandomOrder}); else null. */
    private ShuffledCompletions[] shuffled;
    private volatile boolean writeback = true;
    private QueueWorker worker;
    /** The worker's thread was started (it is not while an active device has had no queue). */
    private boolean workerStarted;
    /**
     * A running worker that serves no queue, kept by {@link #stopQueues} for the next start: a
     * hot-swap's new back-end then starts no thread (HotSpot's {@code Thread.start} waits until
     * the new thread runs, which took milliseconds under load). Stopped by {@link #close}.
     */
    private QueueWorker spare;
    private boolean closed;

    /**
     * How the image's I/O is carried out: {@code THREADS}, synchronously on the queue worker (one
     * request at a time per queue); {@code IO_URING}, submitted to an io_uring per queue, many in
     * flight, completed in any order ({@link UringRequests}).
     */
    public enum Aio {
        THREADS, IO_URING;

        /**
         * @param text {@code threads} or {@code io_uring} (case-insensitive)
         * @throws IllegalArgumentException naming the accepted values for anything else
         */
        public static Aio parse(String text) {
            return switch (text.toLowerCase(java.util.Locale.ROOT)) {
                case "threads" -> THREADS;
                case "io_uring" -> IO_URING;
                default -> throw new IllegalArgumentException("aio '" + text + "' is not one of threads, io_uring");
            };
        }
    }

    private FileBlockModel(String name, FileStore store, SharedMemory shm, long sizeBytes, boolean readOnly,
            int numQueues, int queueSize, Aio aio) {
        super(LOG, "blk " + name);
        this.name = name;
        this.store = store;
        this.shm = shm;
        this.readOnly = readOnly;
        this.numQueues = numQueues;
        this.queueSize = queueSize;
        this.capacitySectors = sizeBytes >>> SECTOR_SHIFT;
        long f = VirtioFeatures.bit(VirtioFeatures.F_VERSION_1) | VirtioFeatures.bit(VirtioFeatures.F_INDIRECT_DESC)
                | VirtioFeatures.bit(VirtioFeatures.F_EVENT_IDX) | VirtioFeatures.bit(VirtioFeatures.F_RING_PACKED)
                | VirtioFeatures.bit(VirtioBlk.F_SIZE_MAX)
                | VirtioFeatures.bit(VirtioBlk.F_SEG_MAX) | VirtioFeatures.bit(VirtioBlk.F_BLK_SIZE)
                | VirtioFeatures.bit(VirtioBlk.F_FLUSH) | VirtioFeatures.bit(VirtioBlk.F_CONFIG_WCE);
        if (numQueues > 1) {
            f |= VirtioFeatures.bit(VirtioBlk.F_MQ);
        }
        f |= readOnly ? VirtioFeatures.bit(VirtioBlk.F_RO)
                : VirtioFeatures.bit(VirtioBlk.F_DISCARD) | VirtioFeatures.bit(VirtioBlk.F_WRITE_ZEROES);
        if (aio == Aio.THREADS) {
            f |= VirtioFeatures.bit(VirtioFeatures.F_IN_ORDER); // requests complete in the order popped, per queue
        }
        this.offered = f;
        this.counters = new QueueCounters[numQueues];
        this.chains = new DescriptorChain[numQueues];
        for (int i = 0; i < numQueues; i++) {
            counters[i] = new QueueCounters();
            chains[i] = new DescriptorChain(queueSize);
        }
        byte[] idBytes = ("vhost-blk-" + name).getBytes(StandardCharsets.US_ASCII);
        MemorySegment.copy(MemorySegment.ofArray(idBytes), 0, id, 0, Math.min(idBytes.length, VirtioBlk.ID_BYTES));
        buildConfig();
        this.requests = new BlkRequests(name, store, readOnly, capacitySectors, id, this::writeThrough);
        this.uring = aio == Aio.IO_URING
                ? new UringRequests(name, store, requests, counters, this::writeThrough, queueSize) : null;
    }

    /** @return the io_uring data path, or null with {@link Aio#THREADS}; package access for the allocation test */
    UringRequests uring() {
        return uring;
    }

    /** @return how the image's I/O is carried out */
    public Aio aio() {
        return uring != null ? Aio.IO_URING : Aio.THREADS;
    }

    /**
     * Makes every queue complete its requests in random order (up to {@link ShuffledCompletions#HOLD}
     * held at a time; the queue's remaining ones once it has nothing more available), a test mode
     * for front-ends and for inflight I/O tracking: a front-end must not assume completions in
     * order, and a back-end killed while it holds requests must have them redone from the inflight
     * region. Set before the device is activated.
     *
     * @param seed seeds the order
     * @throws IllegalStateException once the device was activated
     */
    public synchronized void completeInRandomOrder(long seed) {
        if (uring != null) {
            throw new IllegalStateException("blk " + name + ": a random completion order is for aio threads;"
                    + " io_uring completes requests in the order the kernel finishes them");
        }
        if (state() != VirtioDeviceState.NEW) {
            throw new IllegalStateException("blk " + name + ": the completion order is set before activation, state is " + state());
        }
        ShuffledCompletions[] s = new ShuffledCompletions[numQueues];
        for (int i = 0; i < numQueues; i++) {
            s[i] = new ShuffledCompletions(seed + i);
        }
        shuffled = s;
    }

    /**
     * VIRTIO 1.2, section 5.2.6 (write cache): without FLUSH negotiated, or with
     * {@code writeback} set to 0 by the driver, a completed write must be stable, so each write
     * is followed by fdatasync before it is answered.
     */
    private boolean writeThrough() {
        return !writeback || !VirtioFeatures.has(ackedFeatures(), VirtioBlk.F_FLUSH);
    }

    private static void checkShape(int numQueues, int queueSize) {
        if (numQueues < 1 || numQueues > 256) {
            throw new IllegalArgumentException("numQueues " + numQueues + " is not in 1..256");
        }
        if (queueSize < 2 || queueSize > 32768 || (queueSize & (queueSize - 1)) != 0) {
            throw new IllegalArgumentException("queueSize " + queueSize + " is not a power of two in 2..32768");
        }
    }

    /**
     * Serves a raw image: a regular file or a block device whose size is a positive multiple of
     * 512 bytes; capacity is that size in 512-byte sectors. A FIFO, a character device, a
     * directory or a socket is refused without being opened (so a FIFO cannot hang the call).
     *
     * @param image the image (opened O_RDWR, or O_RDONLY when {@code readOnly}; see
     *     {@code FileStore.open} for the checks)
     * @param readOnly offer VIRTIO_BLK_F_RO and refuse writes
     * @param numQueues request queues, 1..256
     * @param queueSize maximum queue size, a power of two in 2..32768
     * @throws VhostNativeException when the file cannot be opened or sized (names path and errno)
     * @throws IllegalArgumentException for a bad queue shape, or naming the path for an image of
     *     another file type ({@code "image /dev/null is a character device, not a regular file or
     *     block device"}), an empty one or one whose size is not a multiple of 512 bytes
     *     ({@code "image /x is 1000 bytes, not a multiple of 512"})
     */
    public static FileBlockModel open(Path image, boolean readOnly, int numQueues, int queueSize)
            throws VhostNativeException {
        return open(image, readOnly, numQueues, queueSize, Aio.THREADS, false);
    }

    /**
     * As {@link #open(Path, boolean, int, int)}, with the I/O engine chosen.
     *
     * @param aio {@link Aio#THREADS} or {@link Aio#IO_URING}
     * @param direct open the image O_DIRECT too (only with {@link Aio#IO_URING}: I/O on 512-byte
     *     aligned guest buffers bypasses the page cache, other I/O goes through it)
     * @throws VhostNativeException as above, and when {@code IO_URING} is asked for and io_uring
     *     cannot be set up here: the message says why (e.g. "io_uring is disabled on this host
     *     (sysctl kernel.io_uring_disabled = 2)")
     * @throws IllegalArgumentException as above, for {@code direct} with {@code THREADS}, or
     *     naming the path when its file system refuses O_DIRECT
     */
    public static FileBlockModel open(Path image, boolean readOnly, int numQueues, int queueSize, Aio aio, boolean direct)
            throws VhostNativeException {
        checkShape(numQueues, queueSize);
        checkAio(aio, direct);
        FileStore store = FileStore.open(image.toString(), readOnly);
        try {
            if (direct) {
                store.openDirect(readOnly);
            }
            long size = store.size();
            Path file = image.getFileName();
            return new FileBlockModel(file == null ? image.toString() : file.toString(), store, null, size, readOnly,
                    numQueues, queueSize, aio);
        } catch (VhostNativeException | RuntimeException e) {
            store.close();
            throw e;
        }
    }

    /**
     * A zeroed in-memory disk backed by a memfd ({@link SharedMemory}).
     *
     * @param capacityBytes size in bytes, a positive multiple of 512
     * @param numQueues request queues, 1..256
     * @param queueSize maximum queue size, a power of two in 2..32768
     * @throws VhostNativeException when the memfd cannot be created
     */
    public static FileBlockModel inMemory(long capacityBytes, int numQueues, int queueSize) throws VhostNativeException {
        return inMemory(capacityBytes, numQueues, queueSize, Aio.THREADS);
    }

    /**
     * As {@link #inMemory(long, int, int)}, with the I/O engine chosen (io_uring reads and writes
     * the memfd).
     *
     * @throws VhostNativeException also when {@code IO_URING} cannot be set up here (says why)
     */
    public static FileBlockModel inMemory(long capacityBytes, int numQueues, int queueSize, Aio aio)
            throws VhostNativeException {
        checkShape(numQueues, queueSize);
        checkAio(aio, false);
        if (capacityBytes <= 0 || capacityBytes % SECTOR_SIZE != 0) {
            throw new IllegalArgumentException("capacity " + capacityBytes + " is not a positive multiple of 512 bytes");
        }
        SharedMemory shm = SharedMemory.create("vhost-blk-mem", capacityBytes);
        FileStore store = FileStore.memory("memfd:vhost-blk-mem", shm, aio == Aio.THREADS); // threads: no syscall
        return new FileBlockModel("mem", store, shm, capacityBytes, false,
                numQueues, queueSize, aio);
    }

    /** Refuses {@code direct} without io_uring, and io_uring where it cannot be set up (naming why). */
    private static void checkAio(Aio aio, boolean direct) throws VhostNativeException {
        if (direct && aio != Aio.IO_URING) {
            throw new IllegalArgumentException("direct I/O (O_DIRECT) needs aio io_uring");
        }
        if (aio == Aio.IO_URING) {
            String why = IoUring.unavailableReason();
            if (why != null) {
                throw new VhostNativeException("io_uring_setup", 0, "aio io_uring is not available: " + why
                        + "; serve with aio threads");
            }
        }
    }

    private void buildConfig() {
        ByteBuffer b = ByteBuffer.wrap(config).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(VirtioBlk.CFG_CAPACITY, capacitySectors);
        b.putInt(VirtioBlk.CFG_SIZE_MAX, SIZE_MAX);
        b.putInt(VirtioBlk.CFG_SEG_MAX, queueSize - 2); // header and status take a descriptor each
        b.putInt(VirtioBlk.CFG_BLK_SIZE, SECTOR_SIZE);
        b.put(VirtioBlk.CFG_WRITEBACK, (byte) (writeback ? 1 : 0));
        b.putShort(VirtioBlk.CFG_NUM_QUEUES, (short) numQueues);
        if (!readOnly) {
            b.putInt(VirtioBlk.CFG_MAX_DISCARD_SECTORS, MAX_DISCARD_SECTORS);
            b.putInt(VirtioBlk.CFG_MAX_DISCARD_SEG, MAX_DISCARD_SEG);
            b.putInt(VirtioBlk.CFG_DISCARD_SECTOR_ALIGNMENT, 1);
            b.putInt(VirtioBlk.CFG_MAX_WRITE_ZEROES_SECTORS, MAX_DISCARD_SECTORS);
            b.putInt(VirtioBlk.CFG_MAX_WRITE_ZEROES_SEG, MAX_DISCARD_SEG);
            b.put(VirtioBlk.CFG_WRITE_ZEROES_MAY_UNMAP, (byte) 1);
        }
    }

    // ---- VirtioDevice: identity, features, config ------------------------------------------------

    @Override
    public VirtioDeviceType deviceType() {
        return VirtioDeviceType.BLOCK;
    }

    @Override
    public int[] queueMaxSizes() {
        int[] sizes = new int[numQueues];
        Arrays.fill(sizes, queueSize);
        return sizes;
    }

    /** @return the features offered; IN_ORDER only with aio threads in pop order (not {@link #completeInRandomOrder}) */
    @Override
    public long features() {
        return shuffled != null ? offered & ~VirtioFeatures.bit(VirtioFeatures.F_IN_ORDER) : offered;
    }

    /** @return capacity in 512-byte sectors */
    public long capacitySectors() {
        return capacitySectors;
    }

    /** @return whether the image is read-only */
    public boolean readOnly() {
        return readOnly;
    }

    /** @return the GET_ID answer ({@value VirtioBlk#ID_BYTES} bytes, NUL-padded) */
    public byte[] id() {
        return id.toArray(ValueLayout.JAVA_BYTE);
    }

    /**
     * @param queueIndex 0..numQueues-1
     * @return the queue's counters (live object)
     */
    public QueueCounters counters(int queueIndex) {
        return counters[queueIndex];
    }

    @Override
    public synchronized void readConfig(long offset, byte[] data) {
        if (offset < 0) {
            throw new IllegalArgumentException("config offset " + offset + " is negative");
        }
        config[VirtioBlk.CFG_WRITEBACK] = (byte) (writeback ? 1 : 0);
        for (int i = 0; i < data.length; i++) {
            long at = offset + i;
            data[i] = at < config.length ? config[(int) at] : 0;
        }
    }

    /** Only {@code writeback} (offset {@value VirtioBlk#CFG_WRITEBACK}, 0 or 1) is writable. */
    @Override
    public synchronized void writeConfig(long offset, byte[] data) {
        for (int i = 0; i < data.length; i++) {
            if (offset + i == VirtioBlk.CFG_WRITEBACK) {
                if (data[i] == 0 || data[i] == 1) {
                    writeback = data[i] == 1;
                } else {
                    LOG.warn("blk {}: ignoring writeback value {}", name, data[i]);
                }
            }
        }
    }

    // ---- life cycle -----------------------------------------------------------------------------

    /** @throws VirtioDeviceException once {@link #close} was called */
    @Override
    protected void checkUsable() throws VirtioDeviceException {
        if (closed) {
            throw new VirtioDeviceException("blk " + name + ": closed");
        }
    }

    /**
     * A worker serving no queue processes nothing: it is kept, idle, for the wake (a vhost-user
     * device state SAVE after every ring stopped costs no thread join).
     */
    @Override
    protected List<VirtqueueConfig> sleepQueues() throws VhostException {
        return worker != null && worker.queues().isEmpty() ? List.of() : stopQueues();
    }

    /** The idle worker kept across the sleep signals the old interrupt: it takes the new one. */
    @Override
    protected void rebinding(GuestMemory mem, Interrupt irq) throws VirtioDeviceException {
        if (worker != null && irq != interrupt()) {
            worker.rebind(irq); // it serves no queue: sleepQueues kept it only then
        }
    }

    private void checkQueue(VirtqueueConfig c) throws VirtqueueException {
        if (c.index() < 0 || c.index() >= numQueues) {
            throw new VirtqueueException(c.index(), "blk " + name + " has queues 0.." + (numQueues - 1));
        }
        if (c.size() > queueSize) {
            throw new VirtqueueException(c.index(), "size " + c.size() + " exceeds the maximum " + queueSize);
        }
    }

    private static VirtqueueConfig stoppedConfig(DeviceQueue q) {
        VirtqueueConfig c = q.config();
        return new VirtqueueConfig(c.index(), c.size(), c.descAddr(), c.availAddr(), c.usedAddr(), c.nextAvail(),
                c.kickFd(), c.callFd(), q.isEnabled());
    }

    @Override
    protected void startQueues(GuestMemory mem, Interrupt irq, List<VirtqueueConfig> queues) throws VhostException {
        boolean[] seen = new boolean[numQueues];
        List<DeviceQueue> qs = new ArrayList<>(queues.size());
        for (VirtqueueConfig c : queues) {
            checkQueue(c);
            if (seen[c.index()]) {
                throw new VirtqueueException(c.index(), "given twice");
            }
            seen[c.index()] = true;
            qs.add(resubmitting(new DeviceQueue(mem, c, ackedFeatures())));
        }
        if (worker == null && spare != null && spare.isRunning()) { // kept by stopQueues
            worker = spare;
            worker.rebind(irq);
            workerStarted = true;
        }
        spare = null;
        if (worker != null) { // kept idle across a sleep: it takes the queues, no thread is started
            prepareRings(qs);
            for (DeviceQueue q : qs) {
                worker.addQueue(q, STOP_TIMEOUT_MS);
            }
            if (!workerStarted && !qs.isEmpty()) {
                worker.start();
                workerStarted = true;
            }
            return;
        }
        prepareRings(qs);
        QueueWorker w = new QueueWorker("vhost-blk-" + name, qs, uring != null ? uring : this::process, irq);
        if (!qs.isEmpty()) {
            w.start(); // with no queue yet, the thread starts with the first startQueue
        }
        worker = w;
        workerStarted = !qs.isEmpty();
    }

    /** Makes the io_uring of each queue before the worker serves it, so a failure shows at the start. */
    private void prepareRings(List<DeviceQueue> qs) throws VhostNativeException {
        if (uring != null) {
            for (DeviceQueue q : qs) {
                uring.prepare(q.index());
            }
        }
    }

    /** Logs the requests a queue redoes from its inflight region (vhost-user "Inflight I/O tracking"). */
    private DeviceQueue resubmitting(DeviceQueue q) {
        if (q.inflight() != null && q.inflight().inflightAtOpen() > 0) {
            LOG.info("blk {}: queue {} resubmits {} request(s) a previous back-end left in flight, then serves from avail index {}",
                    name, q.index(), q.inflight().inflightAtOpen(), q.nextAvail());
        }
        return q;
    }

    @Override
    protected List<VirtqueueConfig> stopQueues() throws VhostException {
        QueueWorker w = worker;
        if (w == null) {
            return List.of();
        }
        List<VirtqueueConfig> out = new ArrayList<>();
        if (!closed && workerStarted && w.isRunning()) {
            // every queue removed (each returns once its requests completed): the idle thread stays
            for (DeviceQueue q : w.queues()) {
                DeviceQueue removed = w.removeQueue(q.index(), STOP_TIMEOUT_MS);
                if (removed != null) {
                    out.add(stoppedConfig(removed));
                }
            }
            worker = null;
            spare = w;
        } else {
            w.stop(STOP_TIMEOUT_MS);
            worker = null;
            for (DeviceQueue q : w.queues()) {
                out.add(stoppedConfig(q));
            }
        }
        out.sort((a, b) -> Integer.compare(a.index(), b.index()));
        return List.copyOf(out);
    }

    /**
     * Stops queue {@code index} while ACTIVE, waiting up to {@value #STOP_TIMEOUT_MS} ms for the
     * request in flight on it; the other queues keep being served.
     */
    @Override
    public synchronized VirtqueueConfig stopQueue(int index) throws VhostException {
        if (state() != VirtioDeviceState.ACTIVE) {
            throw badState("stopQueue");
        }
        DeviceQueue q = worker.removeQueue(index, STOP_TIMEOUT_MS);
        return q == null ? null : stoppedConfig(q);
    }

    /** Starts one more queue while ACTIVE, over the memory the device was activated or rebound with. */
    @Override
    public synchronized void startQueue(VirtqueueConfig queue) throws VhostException {
        if (state() != VirtioDeviceState.ACTIVE) {
            throw badState("startQueue");
        }
        if (queue == null) {
            throw new VirtioDeviceException("blk " + name + ": startQueue needs a queue");
        }
        checkQueue(queue);
        for (DeviceQueue q : worker.queues()) {
            if (q.index() == queue.index()) {
                throw new VirtioDeviceException("blk " + name + ": queue " + queue.index() + " is already running");
            }
        }
        DeviceQueue q = resubmitting(new DeviceQueue(memory(), queue, ackedFeatures()));
        prepareRings(List.of(q));
        worker.addQueue(q, STOP_TIMEOUT_MS);
        if (!workerStarted) {
            worker.start();
            workerStarted = true;
        }
    }

    @Override
    public synchronized byte[] snapshot() throws VhostException {
        requireAsleep("snapshot");
        boolean active = state() == VirtioDeviceState.ASLEEP_ACTIVE;
        return new BlkModelSnapshot(active, readOnly, capacitySectors, numQueues, ackedFeatures(), writeback,
                active ? sleptQueues() : List.of()).encode();
    }

    @Override
    public synchronized void restore(byte[] snapshot) throws VhostException {
        requireAsleep("restore");
        BlkModelSnapshot s = BlkModelSnapshot.decode(name, snapshot);
        if (s.readOnly() != readOnly || s.capacitySectors() != capacitySectors || s.numQueues() != numQueues) {
            throw new VirtioDeviceException(String.format(
                    "blk %s: snapshot of a %s disk of %d sectors with %d queues does not fit this %s disk of %d sectors"
                            + " with %d queues", name, s.readOnly() ? "read-only" : "writable", s.capacitySectors(), s.numQueues(),
                    readOnly ? "read-only" : "writable", capacitySectors, numQueues));
        }
        if ((s.features() & ~features()) != 0) {
            throw new VirtioDeviceException(String.format(
                    "blk %s: snapshot acked features 0x%x this device does not offer", name, s.features() & ~features()));
        }
        for (VirtqueueConfig q : s.queues()) {
            if (q.index() < 0 || q.index() >= numQueues || q.size() > queueSize) {
                throw new VirtioDeviceException("blk " + name + ": snapshot queue " + q.index() + " of size " + q.size()
                        + " does not fit " + numQueues + " queues of at most " + queueSize);
            }
        }
        restored(s.features(), s.active(), s.queues());
        writeback = s.writeback();
    }

    /** Stops the worker (if running) and releases the image. */
    @Override
    public synchronized void close() throws VhostException {
        closed = true;
        boolean stopped = false;
        try {
            stopQueues();
            if (spare != null) {
                spare.stop(STOP_TIMEOUT_MS);
                spare = null;
            }
            stopped = true;
        } finally {
            if (uring != null && stopped) {
                uring.close(); // never under a worker still running: its rings are mapped memory
            } else if (uring != null) {
                LOG.warn("blk {}: the queue worker did not stop: its io_uring rings stay open", name);
            }
            store.close();
            if (shm != null) {
                shm.close();
            }
        }
    }

    @Override
    public String toString() {
        return "FileBlockModel[" + name + ", " + capacitySectors + " sectors, " + numQueues + " queues, " + state() + "]";
    }

    // ---- data path (worker thread) --------------------------------------------------------------

    /**
     * Handler for {@link QueueWorker}: completes every available request of {@code q}. Package
     * access for the allocation test; otherwise only the worker thread calls it.
     */
    void process(int queueIndex, DeviceQueue q) throws VirtqueueException {
        Interrupt irq = interrupt(); // null only when called outside a worker (the allocation test)
        DescriptorChain c = chains[queueIndex];
        QueueCounters ctr = counters[queueIndex];
        ShuffledCompletions[] s = shuffled;
        ShuffledCompletions held = s == null ? null : s[queueIndex];
        while (q.pop(c)) {
            int written = requests.handle(c, ctr);
            // dirty log: the whole writable part (data, or less of it on a failed read, and the
            // status byte at its end, which a short GET_ID's used length does not reach)
            q.logWritten(c, c.writableBytes());
            if (held != null) {
                held.hold(q, c.head(), written);
            } else {
                q.addUsed(c.head(), written);
                // EVENT_IDX: signalled when the driver asks, not after the batch, so it reaps and
                // resubmits while the worker goes on (both took turns per batch: issue #13, QD32)
                if (irq != null && q.eventIdx() && q.needsNotification()) {
                    irq.signalUsedQueue(queueIndex);
                }
            }
            ctr.requests++;
        }
        if (held != null) {
            held.flush(q);
        }
    }
}
