package com.vhost.devices.blk.model;

import static com.vhost.api.blk.VirtioBlk.SECTOR_SHIFT;
import static com.vhost.api.blk.VirtioBlk.SECTOR_SIZE;

import com.vhost.api.VhostNativeException;
import com.vhost.api.VirtqueueException;
import com.vhost.api.blk.VirtioBlk;
import com.vhost.spi.backend.AsyncHandler;
import com.vhost.spi.nativeio.EventFd;
import com.vhost.spi.nativeio.IoUring;
import com.vhost.spi.nativeio.Linux;
import com.vhost.spi.virtqueue.DescriptorChain;
import com.vhost.spi.virtqueue.DeviceQueue;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.function.BooleanSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The io_uring data path of {@link FileBlockModel} ({@code aio=io_uring}): many requests in flight
 * per queue, each completed when its CQE arrives, in any order (VIRTIO 1.2 section 2.7.8: used
 * elements need not follow the avail order). One {@link IoUring} and one completion eventfd
 * ({@code IORING_REGISTER_EVENTFD}) per queue, made on the queue's first start and kept until the
 * model closes; the {@code QueueWorker} watches the eventfd ({@link AsyncHandler}).
 *
 * <p>IN and OUT go to the kernel as one {@code IORING_OP_READV}/{@code WRITEV} straight on the
 * guest buffers (an iovec per data segment, no copy); FLUSH as {@code IORING_OP_FSYNC} with
 * {@code IORING_FSYNC_DATASYNC}; a write while the device is write-through (writeback 0, or FLUSH
 * not negotiated) is followed by such an fsync before it completes. A short transfer is resubmitted
 * for the rest; end of file answers IOERR, as a negative {@code res} does (logged with its errno).
 * Everything else (GET_ID, DISCARD, WRITE_ZEROES, unknown types, and every request that fails
 * validation: range, alignment, direction, read-only) is answered at once on the worker by {@link
 * BlkRequests}, as with {@code aio=threads}: discard and write-zeroes are rare, and their
 * fallbacks (punch hole, zero range, writing zeroes) are synchronous decisions.
 *
 * <p>With O_DIRECT ({@code --direct}) a request whose guest buffers are not all 512-byte aligned
 * (address and length) is not refused: it goes through the image's second, buffered fd, and the
 * first such request of the model is logged at INFO ("not 512-byte aligned: served through the
 * page cache"). Linux keeps the two coherent (a direct read writes back dirty cached pages of its
 * range first; a direct write invalidates them).
 *
 * <p>In flight per queue: at most min(queue size, {@value #MAX_SLOTS}) requests; a queue with more
 * waits in {@code process} for one to complete. Nothing is allocated per request: iovec arrays and
 * completion records are per slot, made with the queue's ring, and each slot's chain (sized for
 * the queue) on the slot's first use, so memory follows the depth a driver reaches.
 */
final class UringRequests implements AsyncHandler, AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(FileBlockModel.class);
    /** Most requests in flight per queue (and io_uring entries). */
    static final int MAX_SLOTS = 128;
    /** Most iovecs in one request ({@code UIO_MAXIOV}); a chain with more is served synchronously. */
    private static final int MAX_IOV = 1024;
    private static final int ALIGN = SECTOR_SIZE;
    private static final int PHASE_DATA = 0;
    private static final int PHASE_SYNC = 1;

    /** One queue's ring and request slots. */
    private static final class Ring {
        final IoUring ring;
        final EventFd completions;
        final DescriptorChain[] chains;
        final MemorySegment iov;
        final int iovPerSlot;
        final int[] type;
        final int[] phase;
        final int[] iovStart;
        final int[] iovCount;
        final int[] fd;
        final long[] offset;
        final long[] left;
        final long[] total;
        final int[] free;
        int freeCount;
        int inFlight;
        final int[] doneSlot;
        final int[] doneRes;
        int doneCount;
        final IoUring.Completions sink;
        /** Completing touched memory that faulted: the rest is only reaped, not completed. */
        boolean broken;

        Ring(int slots, int chainCapacity) throws VhostNativeException {
            IoUring r = IoUring.create(slots);
            EventFd ev = null;
            try {
                ev = EventFd.create();
                r.registerEventFd(ev.fd());
            } catch (VhostNativeException | RuntimeException e) {
                if (ev != null) {
                    ev.close();
                }
                r.close();
                throw e;
            }
            ring = r;
            completions = ev;
            chains = new DescriptorChain[slots];
            iovPerSlot = Math.min(chainCapacity, MAX_IOV);
            iov = Arena.ofAuto().allocate((long) slots * iovPerSlot * IoUring.IOVEC_BYTES, 8);
            type = new int[slots];
            phase = new int[slots];
            iovStart = new int[slots];
            iovCount = new int[slots];
            fd = new int[slots];
            offset = new long[slots];
            left = new long[slots];
            total = new long[slots];
            free = new int[slots];
            doneSlot = new int[slots];
            doneRes = new int[slots];
            for (int i = 0; i < slots; i++) { // chains are made on a slot's first use (LIFO: the low ones)
                free[i] = slots - 1 - i;
            }
            freeCount = slots;
            sink = (u, res) -> {
                inFlight--;
                doneSlot[doneCount] = (int) u;
                doneRes[doneCount++] = res;
            };
        }

        void close() {
            ring.close();
            completions.close();
        }
    }

    private final String name;
    private final FileStore store;
    private final BlkRequests sync;
    private final QueueCounters[] counters;
    private final BooleanSupplier writeThrough;
    private final int slots;
    private final int chainCapacity;
    private final Ring[] rings;
    private boolean loggedUnaligned;

    /**
     * @param name the image's name, for log lines
     * @param store the image (its direct fd used when it has one)
     * @param sync the synchronous path for everything that is not an IN, OUT or FLUSH to carry out
     * @param counters per-queue counters
     * @param writeThrough whether each write must be stable before it is answered
     * @param queueSize the largest ring: slots per queue are min(queueSize, {@value #MAX_SLOTS})
     */
    UringRequests(String name, FileStore store, BlkRequests sync, QueueCounters[] counters, BooleanSupplier writeThrough,
            int queueSize) {
        this.name = name;
        this.store = store;
        this.sync = sync;
        this.counters = counters;
        this.writeThrough = writeThrough;
        this.slots = Math.min(queueSize, MAX_SLOTS);
        this.chainCapacity = queueSize;
        this.rings = new Ring[counters.length];
    }

    /**
     * @return the queue's ring, made on first use
     * @throws VhostNativeException when io_uring cannot be set up (the message says why)
     */
    private Ring ring(int queueIndex) throws VhostNativeException {
        Ring r = rings[queueIndex];
        if (r == null) {
            r = new Ring(slots, chainCapacity);
            rings[queueIndex] = r;
        }
        return r;
    }

    /** Makes the queue's ring now, so a failure shows when the queue starts; on any thread before the worker serves it. */
    void prepare(int queueIndex) throws VhostNativeException {
        synchronized (rings) {
            ring(queueIndex);
        }
    }

    @Override
    public int completionFd(int queueIndex) {
        Ring r = rings[queueIndex];
        return r == null ? -1 : r.completions.fd();
    }

    /**
     * Pops and starts every available chain. A chain that stops the queue (malformed, or a fault)
     * first lets the requests in flight complete, as the synchronous path had completed the ones
     * before it, then the queue stops.
     */
    @Override
    public void process(int queueIndex, DeviceQueue q) throws VirtqueueException {
        try {
            startAll(queueIndex, q);
        } catch (VirtqueueException | RuntimeException | Error e) {
            try {
                drain(queueIndex, q);
            } catch (VirtqueueException | RuntimeException | Error d) {
                e.addSuppressed(d);
            }
            throw e;
        }
    }

    private void startAll(int queueIndex, DeviceQueue q) throws VirtqueueException {
        Ring r = rings[queueIndex];
        QueueCounters ctr = counters[queueIndex];
        try {
            while (true) {
                if (r.freeCount == 0) { // every slot in flight: wait for one
                    r.ring.submit(1);
                    reapAndComplete(r, q, ctr);
                    continue;
                }
                int slot = r.free[--r.freeCount];
                DescriptorChain c = r.chains[slot];
                if (c == null) { // a queue of N descriptors may need N per chain: made once, as deep as the queue goes
                    c = new DescriptorChain(chainCapacity);
                    r.chains[slot] = c;
                }
                boolean async = false;
                try {
                    if (!q.pop(c)) {
                        break;
                    }
                    async = start(r, slot, c);
                } finally {
                    if (!async) {
                        r.free[r.freeCount++] = slot;
                    }
                }
                if (!async) {
                    int written = sync.handle(c, ctr);
                    q.logWritten(c, c.writableBytes());
                    q.addUsed(c.head(), written);
                    ctr.requests++;
                }
            }
            r.ring.submit(0);
        } catch (VhostNativeException e) {
            throw new VirtqueueException(queueIndex, "io_uring: " + e.getMessage());
        }
    }

    /**
     * Starts an IN, OUT or FLUSH that passes validation on the ring.
     *
     * @return false when the request is for the synchronous path
     */
    private boolean start(Ring r, int slot, DescriptorChain c) throws VirtqueueException {
        if (c.readableBytes() < VirtioBlk.REQ_HEADER_SIZE || c.writableBytes() < 1) {
            return false; // BlkRequests throws the VirtqueueException for it
        }
        int type = c.readInt(0);
        long sector = c.readLong(8);
        long statusAt = c.writableBytes() - 1;
        long len;
        if (type == VirtioBlk.T_FLUSH) {
            r.type[slot] = type;
            r.phase[slot] = PHASE_SYNC;
            return submitSync(r, slot);
        } else if (type == VirtioBlk.T_IN) {
            len = statusAt;
            if (c.readableBytes() > VirtioBlk.REQ_HEADER_SIZE) {
                return false;
            }
        } else if (type == VirtioBlk.T_OUT) {
            len = c.readableBytes() - VirtioBlk.REQ_HEADER_SIZE;
            if (statusAt > 0 || sync.readOnly()) {
                return false;
            }
        } else {
            return false;
        }
        if ((len & (SECTOR_SIZE - 1)) != 0 || !sync.inRange(sector, len) || len == 0) {
            return false;
        }
        boolean in = type == VirtioBlk.T_IN;
        int base = slot * r.iovPerSlot;
        int n = 0;
        boolean aligned = true;
        long skip = in ? 0 : VirtioBlk.REQ_HEADER_SIZE;
        long want = len;
        int segs = in ? c.writableSegmentCount() : c.readableSegmentCount();
        for (int i = 0; i < segs && want > 0; i++) {
            long segLen = in ? c.writableLength(i) : c.readableLength(i);
            if (skip >= segLen) {
                skip -= segLen;
                continue;
            }
            long addr = (in ? c.writableHostAddress(i) : c.readableHostAddress(i)) + skip;
            long part = Math.min(segLen - skip, want);
            skip = 0;
            if (n == r.iovPerSlot) {
                return false;
            }
            long at = (long) (base + n++) * IoUring.IOVEC_BYTES;
            r.iov.set(ValueLayout.JAVA_LONG, at, addr);
            r.iov.set(ValueLayout.JAVA_LONG, at + 8, part);
            aligned &= (addr & (ALIGN - 1)) == 0 && (part & (ALIGN - 1)) == 0;
            want -= part;
        }
        int direct = store.directFd();
        if (direct >= 0 && !aligned && !loggedUnaligned) {
            loggedUnaligned = true;
            LOG.info("blk {}: a request's guest buffers are not {}-byte aligned: served through the page cache"
                    + " (O_DIRECT needs aligned buffers); further ones are not logged", name, ALIGN);
        }
        r.type[slot] = type;
        r.phase[slot] = PHASE_DATA;
        r.iovStart[slot] = base;
        r.iovCount[slot] = n;
        r.fd[slot] = direct >= 0 && aligned ? direct : store.fd();
        r.offset[slot] = sector << SECTOR_SHIFT;
        r.left[slot] = len;
        r.total[slot] = len;
        return submitData(r, slot);
    }

    private static boolean submitData(Ring r, int slot) {
        int op = r.type[slot] == VirtioBlk.T_IN ? IoUring.OP_READV : IoUring.OP_WRITEV;
        long addr = r.iov.address() + (long) r.iovStart[slot] * IoUring.IOVEC_BYTES;
        if (!r.ring.prepare(op, r.fd[slot], addr, r.iovCount[slot], r.offset[slot], 0, slot)) {
            throw new IllegalStateException("io_uring submission queue full with a free slot");
        }
        r.inFlight++;
        return true;
    }

    private boolean submitSync(Ring r, int slot) {
        if (!r.ring.prepare(IoUring.OP_FSYNC, store.fd(), 0, 0, 0, IoUring.FSYNC_DATASYNC, slot)) {
            throw new IllegalStateException("io_uring submission queue full with a free slot");
        }
        r.inFlight++;
        return true;
    }

    /** Skips {@code done} bytes of the slot's iovecs after a short transfer. */
    private static void advance(Ring r, int slot, long done) {
        int i = r.iovStart[slot];
        int end = i + r.iovCount[slot];
        long d = done;
        while (i < end && d > 0) {
            long at = (long) i * IoUring.IOVEC_BYTES;
            long len = r.iov.get(ValueLayout.JAVA_LONG, at + 8);
            if (d >= len) {
                d -= len;
                i++;
            } else {
                r.iov.set(ValueLayout.JAVA_LONG, at, r.iov.get(ValueLayout.JAVA_LONG, at) + d);
                r.iov.set(ValueLayout.JAVA_LONG, at + 8, len - d);
                d = 0;
            }
        }
        r.iovCount[slot] = end - i;
        r.iovStart[slot] = i;
        r.offset[slot] += done;
    }

    @Override
    public boolean hasInFlight(int queueIndex) {
        Ring r = rings[queueIndex];
        return r != null && r.inFlight > 0;
    }

    @Override
    public boolean hasCompletions(int queueIndex) {
        Ring r = rings[queueIndex];
        return r != null && r.inFlight > 0 && r.ring.hasCompletions();
    }

    @Override
    public void complete(int queueIndex, DeviceQueue q) throws VirtqueueException {
        Ring r = rings[queueIndex];
        try {
            r.completions.drain();
            reapAndComplete(r, q, counters[queueIndex]);
            r.ring.submit(0);
        } catch (VhostNativeException e) {
            throw new VirtqueueException(queueIndex, "io_uring: " + e.getMessage());
        }
    }

    @Override
    public void drain(int queueIndex, DeviceQueue q) throws VirtqueueException {
        Ring r = rings[queueIndex];
        if (r == null) {
            return;
        }
        Throwable first = null;
        try {
            while (r.inFlight > 0 || r.doneCount > 0) {
                if (r.inFlight > 0) {
                    r.ring.submit(1);
                }
                try {
                    reapAndComplete(r, q, counters[queueIndex]);
                } catch (VirtqueueException | RuntimeException | Error e) {
                    if (first == null) {
                        first = e;
                    }
                    r.broken = true; // wait for the rest, touch no more memory
                }
            }
            r.completions.drain();
        } catch (VhostNativeException e) {
            first = first == null ? new VirtqueueException(queueIndex, "io_uring: " + e.getMessage()) : first;
        } finally {
            r.broken = false;
        }
        switch (first) {
            case null -> { }
            case VirtqueueException v -> throw v;
            case RuntimeException re -> throw re;
            case Error err -> throw err;
            default -> throw new IllegalStateException(first);
        }
    }

    /** Reaps the ring's CQEs and completes (or continues) each request. */
    private void reapAndComplete(Ring r, DeviceQueue q, QueueCounters ctr) throws VirtqueueException {
        r.ring.reap(r.sink);
        while (r.doneCount > 0) {
            int k = --r.doneCount;
            int slot = r.doneSlot[k];
            int res = r.doneRes[k];
            DescriptorChain c = r.chains[slot];
            if (r.broken) {
                r.free[r.freeCount++] = slot;
                continue;
            }
            int status = VirtioBlk.S_OK;
            if (res < 0) {
                LOG.warn("blk {}: {} at byte {} failed: {} (errno {})", name, what(r, slot), r.offset[slot],
                        Linux.strerror(-res), -res);
                status = VirtioBlk.S_IOERR;
            } else if (r.phase[slot] == PHASE_DATA) {
                if (res == 0) {
                    LOG.warn("blk {}: {} of {} bytes at {} reached end of file (image shrank?)", name, what(r, slot),
                            r.left[slot], r.offset[slot]);
                    status = VirtioBlk.S_IOERR;
                } else if (res < r.left[slot]) { // short: the rest goes again
                    r.left[slot] -= res;
                    advance(r, slot, res);
                    submitData(r, slot);
                    continue;
                } else if (r.type[slot] == VirtioBlk.T_OUT && writeThrough.getAsBoolean()) {
                    r.phase[slot] = PHASE_SYNC;
                    submitSync(r, slot);
                    continue;
                }
            }
            r.free[r.freeCount++] = slot;
            int type = r.type[slot];
            long statusAt = c.writableBytes() - 1;
            c.writeByte(statusAt, (byte) status);
            long written = type == VirtioBlk.T_IN && status == VirtioBlk.S_OK ? statusAt + 1 : 1;
            if (status == VirtioBlk.S_OK) {
                if (type == VirtioBlk.T_IN) {
                    ctr.bytesRead += r.total[slot];
                } else if (type == VirtioBlk.T_OUT) {
                    ctr.bytesWritten += r.total[slot];
                }
            }
            q.logWritten(c, c.writableBytes());
            q.addUsed(c.head(), (int) Math.min(written, 0xFFFF_FFFFL));
            ctr.requests++;
        }
    }

    private static String what(Ring r, int slot) {
        return switch (r.type[slot]) {
            case VirtioBlk.T_IN -> "read";
            case VirtioBlk.T_OUT -> r.phase[slot] == PHASE_SYNC ? "write's fdatasync" : "write";
            default -> "flush";
        };
    }

    /** Closes every queue's ring; the worker has drained them (the model stopped its queues first). */
    @Override
    public void close() {
        synchronized (rings) {
            for (int i = 0; i < rings.length; i++) {
                if (rings[i] != null) {
                    rings[i].close();
                    rings[i] = null;
                }
            }
        }
    }
}
