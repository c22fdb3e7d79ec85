package com.vhost.spi.workload;

import com.vhost.api.blk.BlockDevice;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.LongSupplier;

/**
 * A write-then-verify workload with checksums that keeps running while a device is hot-swapped:
 * {@code workers} threads, each owning the blocks {@code b} with {@code b % workers == w} of the
 * first {@code regionBytes} of the device, write {@code depth} blocks at a time (every write of a
 * block carries a new version), wait for them, read them back and check them. At {@link #stop()}
 * every block written is read once more and checked against its last version.
 *
 * <p>Block layout ({@code blockBytes}, little-endian longs): word 0 the block number, word 1 the
 * version, word 2 a checksum (FNV-1a over the payload words), words 3.. a payload derived from
 * block, version and seed.
 *
 * <p>Outcome counts: <b>lost</b> a request that failed or did not complete within 30 s, or a
 * read-back that found an older version (a write the device acknowledged but did not keep);
 * <b>duplicated</b> completions counted by the device beyond those the workload submitted (given
 * a device counter, e.g. the {@code requests} of {@code com.vhost.api.registry.VirtioDriver#counters()});
 * <b>corrupted</b> a read-back whose block number, checksum or payload is wrong.
 */
public final class VerifiedWorkload implements AutoCloseable {
    /** Bound on one request. */
    static final long REQUEST_TIMEOUT_SECONDS = 30;

    /**
     * @param writes writes completed
     * @param reads reads completed and checked
     * @param lost failed, timed-out or not-kept requests
     * @param duplicated device completions beyond the requests submitted (0 without a device counter)
     * @param corrupted read-backs with wrong contents
     * @param firstError the first problem seen, or null
     */
    public record Result(long writes, long reads, long lost, long duplicated, long corrupted, String firstError) {
        /** @return whether nothing was lost, duplicated or corrupted */
        public boolean clean() {
            return lost == 0 && duplicated == 0 && corrupted == 0;
        }
    }

    private final BlockDevice dev;
    private final int blockBytes;
    private final long blocks;
    private final int workers;
    private final int depth;
    private final long seed;
    private final LongSupplier deviceCompletions;
    private final long deviceCompletionsAtStart;
    private final int[] versions;
    private final AtomicLong writes = new AtomicLong();
    private final AtomicLong reads = new AtomicLong();
    private final AtomicLong submitted = new AtomicLong();
    private final AtomicLong lost = new AtomicLong();
    private final AtomicLong corrupted = new AtomicLong();
    private final AtomicReference<String> firstError = new AtomicReference<>();
    private final List<Thread> threads = new ArrayList<>();
    private volatile boolean running;

    /**
     * @param dev an open, writable device
     * @param regionBytes bytes at the start of the device to use (rounded down to {@code blockBytes})
     * @param blockBytes bytes per block, a multiple of the device's block size, at least 64
     * @param workers worker threads (each on queue {@code w % numQueues})
     * @param depth blocks each worker writes (then reads) at a time
     * @param seed payload seed
     * @param deviceCompletions the device's count of completed requests (for duplicates), or null
     */
    public VerifiedWorkload(BlockDevice dev, long regionBytes, int blockBytes, int workers, int depth, long seed,
            LongSupplier deviceCompletions) {
        if (blockBytes < 64 || blockBytes % dev.info().blockSize() != 0) {
            throw new IllegalArgumentException("block of " + blockBytes + " bytes is not a multiple of the device block size "
                    + dev.info().blockSize() + " of at least 64");
        }
        this.dev = dev;
        this.blockBytes = blockBytes;
        this.blocks = Math.min(regionBytes, dev.info().capacityBytes()) / blockBytes;
        if (blocks < (long) workers * depth) {
            throw new IllegalArgumentException(blocks + " blocks cannot give " + workers + " workers " + depth + " blocks each");
        }
        if (blocks > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("region of " + blocks + " blocks is too large");
        }
        this.workers = workers;
        this.depth = depth;
        this.seed = seed;
        this.deviceCompletions = deviceCompletions;
        this.deviceCompletionsAtStart = deviceCompletions == null ? 0 : deviceCompletions.getAsLong();
        this.versions = new int[(int) blocks];
    }

    /** Starts the worker threads. */
    public synchronized void start() {
        if (running || !threads.isEmpty()) {
            throw new IllegalStateException("workload already started");
        }
        running = true;
        for (int w = 0; w < workers; w++) {
            int worker = w;
            Thread t = Thread.ofPlatform().daemon().name("verified-workload-" + w).start(() -> runWorker(worker));
            threads.add(t);
        }
    }

    /** @return writes completed so far */
    public long writes() {
        return writes.get();
    }

    /** @return reads completed so far */
    public long reads() {
        return reads.get();
    }

    /**
     * Stops the workers (bounded: each finishes its batch, at most 2 × 30 s), reads every block
     * written once more and checks it.
     *
     * @return the counts
     */
    public synchronized Result stop() throws InterruptedException {
        running = false;
        for (Thread t : threads) {
            t.join(TimeUnit.SECONDS.toMillis(2 * REQUEST_TIMEOUT_SECONDS + 5));
            if (t.isAlive()) {
                error("worker " + t.getName() + " did not stop");
                lost.incrementAndGet();
            }
        }
        MemorySegment buf = dev.allocateBuffer(blockBytes);
        try {
            for (int b = 0; b < blocks; b++) {
                int v;
                synchronized (versions) {
                    v = versions[b];
                }
                if (v == 0) {
                    continue;
                }
                buf.fill((byte) 0);
                submitted.incrementAndGet();
                if (await(dev.read(0, (long) b * blockBytes, buf), "final read of block " + b)) {
                    check(buf, b, v, "final read");
                }
            }
        } finally {
            dev.freeBuffer(buf);
        }
        long dup = 0;
        if (deviceCompletions != null) {
            dup = Math.max(0, deviceCompletions.getAsLong() - deviceCompletionsAtStart - submitted.get());
        }
        return new Result(writes.get(), reads.get(), lost.get(), dup, corrupted.get(), firstError.get());
    }

    @Override
    public void close() throws InterruptedException {
        if (running) {
            stop();
        }
    }

    private void runWorker(int w) {
        int queues = Math.max(1, dev.info().numQueues());
        int q = w % queues;
        MemorySegment[] wbuf = new MemorySegment[depth];
        MemorySegment[] rbuf = new MemorySegment[depth];
        int[] blk = new int[depth];
        int[] ver = new int[depth];
        @SuppressWarnings("unchecked")
        CompletableFuture<Void>[] fs = new CompletableFuture[depth];
        for (int i = 0; i < depth; i++) {
            wbuf[i] = dev.allocateBuffer(blockBytes);
            rbuf[i] = dev.allocateBuffer(blockBytes);
        }
        long perWorker = (blocks - w + workers - 1) / workers;
        long cursor = 0;
        try {
            while (running) {
                for (int i = 0; i < depth; i++) {
                    blk[i] = (int) (w + ((cursor++ % perWorker) * workers));
                    synchronized (versions) {
                        ver[i] = versions[blk[i]] + 1;
                    }
                    fill(wbuf[i], blk[i], ver[i]);
                    submitted.incrementAndGet();
                    fs[i] = dev.write(q, (long) blk[i] * blockBytes, wbuf[i]);
                }
                for (int i = 0; i < depth; i++) {
                    boolean ok = await(fs[i], "write of block " + blk[i] + " version " + ver[i]);
                    if (ok) {
                        writes.incrementAndGet();
                    }
                    synchronized (versions) {
                        // A failed write may or may not have landed; the final check accepts either.
                        versions[blk[i]] = ok ? ver[i] : -ver[i];
                    }
                }
                for (int i = 0; i < depth; i++) {
                    rbuf[i].fill((byte) 0);
                    submitted.incrementAndGet();
                    fs[i] = dev.read(q, (long) blk[i] * blockBytes, rbuf[i]);
                }
                for (int i = 0; i < depth; i++) {
                    if (await(fs[i], "read of block " + blk[i])) {
                        reads.incrementAndGet();
                        int v;
                        synchronized (versions) {
                            v = versions[blk[i]];
                        }
                        check(rbuf[i], blk[i], v, "read-back");
                    }
                }
            }
        } catch (RuntimeException e) {
            error("worker " + w + ": " + e);
            lost.incrementAndGet();
        } finally {
            for (int i = 0; i < depth; i++) {
                dev.freeBuffer(wbuf[i]);
                dev.freeBuffer(rbuf[i]);
            }
        }
    }

    private boolean await(CompletableFuture<Void> f, String what) {
        try {
            f.get(REQUEST_TIMEOUT_SECONDS, TimeUnit.SECONDS);
            return true;
        } catch (ExecutionException e) {
            error(what + " failed: " + e.getCause().getMessage());
        } catch (TimeoutException e) {
            error(what + " did not complete within " + REQUEST_TIMEOUT_SECONDS + " s");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            error(what + " interrupted");
        }
        lost.incrementAndGet();
        return false;
    }

    private void error(String message) {
        firstError.compareAndSet(null, message);
    }

    private long payload(int block, int version, int word) {
        long x = seed ^ ((long) block << 32 | (version & 0xFFFF_FFFFL)) ^ (word * 0x9E37_79B9_7F4A_7C15L);
        x ^= x >>> 33;
        x *= 0xFF51_AFD7_ED55_8CCDL;
        return x ^ (x >>> 29);
    }

    private static long fnv(MemorySegment buf, int words) {
        long h = 0xCBF2_9CE4_8422_2325L;
        for (int i = 3; i < words; i++) {
            h = (h ^ buf.get(ValueLayout.JAVA_LONG_UNALIGNED, 8L * i)) * 0x0000_0100_0000_01B3L;
        }
        return h;
    }

    private void fill(MemorySegment buf, int block, int version) {
        int words = blockBytes / 8;
        buf.set(ValueLayout.JAVA_LONG_UNALIGNED, 0, block);
        buf.set(ValueLayout.JAVA_LONG_UNALIGNED, 8, version);
        for (int i = 3; i < words; i++) {
            buf.set(ValueLayout.JAVA_LONG_UNALIGNED, 8L * i, payload(block, version, i));
        }
        buf.set(ValueLayout.JAVA_LONG_UNALIGNED, 16, fnv(buf, words));
    }

    /**
     * @param expected the last version written; negative when that write failed (then it or the
     *     one before is accepted)
     */
    private void check(MemorySegment buf, int block, int expected, String what) {
        int words = blockBytes / 8;
        long b = buf.get(ValueLayout.JAVA_LONG_UNALIGNED, 0);
        long v = buf.get(ValueLayout.JAVA_LONG_UNALIGNED, 8);
        long sum = buf.get(ValueLayout.JAVA_LONG_UNALIGNED, 16);
        int want = Math.abs(expected);
        boolean accepted = v == want || (expected < 0 && v == want - 1);
        if (b != block || sum != fnv(buf, words)) {
            corrupted.incrementAndGet();
            error(what + " of block " + block + ": block number " + b + ", checksum "
                    + (sum == fnv(buf, words) ? "ok" : "wrong") + " (expected version " + want + ")");
            return;
        }
        if (!accepted) {
            if (v < want) {
                lost.incrementAndGet();
                error(what + " of block " + block + ": version " + v + " found, " + want + " was acknowledged");
            } else {
                corrupted.incrementAndGet();
                error(what + " of block " + block + ": version " + v + " found, only " + want + " was written");
            }
            return;
        }
        for (int i = 3; i < words; i++) {
            if (buf.get(ValueLayout.JAVA_LONG_UNALIGNED, 8L * i) != payload(block, (int) v, i)) {
                corrupted.incrementAndGet();
                error(what + " of block " + block + ": payload word " + i + " differs");
                return;
            }
        }
    }
}
