package com.vhost.cli;

import com.vhost.api.blk.BlockDevice;
import com.vhost.api.blk.VirtioBlk;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The bench on the driver's low-level path ({@link BlkTools.RawQueue}): one thread per queue owns
 * that queue, keeps {@code iodepth} requests in flight, and after each wait re-submits the slots
 * that completed, then kicks once. Nothing is allocated per request: slots, buffers, issue times
 * and the latency histogram are preallocated, and completions arrive through one sink per queue.
 */
final class RawBench {
    /** A queue that makes no progress for this long fails the run. */
    static final long STALL_NANOS = TimeUnit.SECONDS.toNanos(30);
    static final long WAIT_NANOS = TimeUnit.MILLISECONDS.toNanos(100);

    private RawBench() {}

    /**
     * @param time how long to keep requests in flight (more than 0, at most {@link Bench#MAX_TIME})
     * @param progress where a line with the last second's IOPS and MiB/s goes each second, or null
     * @return what completed, or null when the device has no low-level path
     * @throws IllegalArgumentException when the buffers do not fit the device's shared pool
     */
    static Bench.Result run(BlockDevice dev, BlkTools tools, Bench.Mode mode, int blockSize, int iodepth, int queues,
            java.time.Duration time, Progress progress) throws Exception {
        Bench.check(dev.info(), blockSize, iodepth, queues, time);
        long blocks = dev.info().capacityBytes() / blockSize;
        Worker[] workers = new Worker[queues];
        for (int q = 0; q < queues; q++) {
            Worker w = new Worker(mode, q, iodepth, blockSize, blocks);
            BlkTools.RawQueue rq = tools.rawQueue(dev, q, w);
            if (rq == null) {
                return null;
            }
            w.queue = rq;
            for (int s = 0; s < iodepth; s++) {
                try {
                    w.buffers[s] = dev.allocateBuffer(blockSize);
                } catch (IllegalStateException e) {
                    throw new UsageException("--iodepth " + iodepth + " x --queues " + queues + " x --bs " + blockSize
                            + " bytes do not fit the driver's shared buffer pool: " + e.getMessage(), e);
                }
                if (mode.write) {
                    for (long o = 0; o + 8 <= blockSize; o += 8) {
                        w.buffers[s].set(ValueLayout.JAVA_LONG_UNALIGNED, o, 0x5A5A_0000_0000_0000L | (q * 1_000_003L + s * 8192L + o));
                    }
                }
            }
            workers[q] = w;
        }
        AtomicLong sequential = new AtomicLong();
        Thread[] threads = new Thread[queues];
        long start = System.nanoTime();
        long deadline = start + time.toNanos();
        for (int q = 0; q < queues; q++) {
            Worker w = workers[q];
            w.sequential = sequential;
            w.deadline = deadline;
            threads[q] = new Thread(w, "vhost-bench-q" + q);
            threads[q].start();
        }
        long giveUp = deadline + STALL_NANOS + TimeUnit.SECONDS.toNanos(5);
        Progress.Waiter joined = nanos -> {
            long until = System.nanoTime() + nanos;
            for (Thread t : threads) {
                long left = until - System.nanoTime();
                if (left <= 0 || !t.join(java.time.Duration.ofNanos(left))) {
                    return false;
                }
            }
            return true;
        };
        if (progress == null) {
            joined.await(giveUp - System.nanoTime());
        } else {
            progress.await(start, deadline, giveUp, joined, () -> {
                long n = 0;
                for (Worker w : workers) {
                    n += w.published;
                }
                return n;
            }, (delta, secs) -> Bench.rateLine(delta, secs, blockSize));
        }
        double elapsed = (System.nanoTime() - start) / 1e9;
        LatencyHistogram h = new LatencyHistogram();
        long ops = 0;
        long errors = 0;
        String first = null;
        for (int q = 0; q < queues; q++) {
            Worker w = workers[q];
            if (threads[q].isAlive()) {
                threads[q].interrupt();
                errors++;
                first = first == null ? "queue " + q + " did not finish" : first;
            }
            synchronized (w) {
                h.add(w.histogram);
                ops += w.completed;
                errors += w.errors;
                if (first == null) {
                    first = w.firstError;
                }
            }
        }
        return new Bench.Result(ops, ops * blockSize, elapsed, h, errors, first);
    }

    private static final class Worker implements Runnable, BlkTools.CompletionSink {
        final Bench.Mode mode;
        final int index;
        final int blockSize;
        final long blocks;
        final MemorySegment[] buffers;
        final long[] issuedAt;
        final int[] ready;
        int readyCount;
        final LatencyHistogram histogram = new LatencyHistogram();
        final SplittableRandom random;
        BlkTools.RawQueue queue;
        AtomicLong sequential;
        long deadline;
        long completed;
        /** {@link #completed} as of the last wait, for the progress line of another thread. */
        volatile long published;
        long errors;
        int inFlight;
        String firstError;

        Worker(Bench.Mode mode, int index, int iodepth, int blockSize, long blocks) {
            this.mode = mode;
            this.index = index;
            this.blockSize = blockSize;
            this.blocks = blocks;
            this.buffers = new MemorySegment[iodepth];
            this.issuedAt = new long[iodepth];
            this.ready = new int[iodepth];
            this.random = new SplittableRandom(index * 104_729L + 1);
        }

        @Override
        public void complete(long tag, int status) {
            int slot = (int) tag;
            histogram.record(System.nanoTime() - issuedAt[slot]);
            inFlight--;
            if (status == VirtioBlk.S_OK) {
                completed++;
                ready[readyCount++] = slot;
            } else {
                errors++;
                if (firstError == null) {
                    firstError = "queue " + index + ": request failed with virtio-blk status " + status;
                }
            }
        }

        @Override
        public synchronized void run() {
            try {
                for (int s = 0; s < buffers.length; s++) {
                    ready[readyCount++] = s;
                }
                long lastProgress = System.nanoTime();
                while (true) {
                    long now = System.nanoTime();
                    if (now < deadline) {
                        submitReady(now);
                    } else {
                        readyCount = 0;
                    }
                    if (inFlight == 0) {
                        return;
                    }
                    int n = queue.await(WAIT_NANOS);
                    published = completed; // one volatile write per wait, not per request
                    now = System.nanoTime();
                    if (n > 0) {
                        lastProgress = now;
                    } else if (now - lastProgress > STALL_NANOS) {
                        errors += inFlight;
                        firstError = firstError != null ? firstError
                                : "queue " + index + ": " + inFlight + " request(s) made no progress for " + STALL_NANOS / 1_000_000_000L + " s";
                        return;
                    }
                }
            } catch (Exception e) {
                errors++;
                if (firstError == null) {
                    firstError = "queue " + index + ": " + VhostCli.message(e);
                }
            }
        }

        /** Submits every ready slot the queue has room for, then kicks once. */
        private void submitReady(long now) throws Exception {
            int kept = 0;
            boolean any = false;
            for (int i = 0; i < readyCount; i++) {
                int slot = ready[i];
                long block = mode.random ? random.nextLong(blocks) : Math.floorMod(sequential.getAndIncrement(), blocks);
                issuedAt[slot] = now;
                if (queue.submit(mode.write ? VirtioBlk.T_OUT : VirtioBlk.T_IN, block * blockSize, buffers[slot], slot)) {
                    inFlight++;
                    any = true;
                } else {
                    ready[kept++] = slot; // queue full: retry after the next completions
                }
            }
            readyCount = kept;
            if (any) {
                queue.kick();
            }
        }
    }
}
