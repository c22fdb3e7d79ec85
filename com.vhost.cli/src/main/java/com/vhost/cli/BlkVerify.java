package com.vhost.cli;

import com.vhost.api.VhostBackend;
import com.vhost.api.blk.BlockDevice;
import com.vhost.spi.workload.VerifiedWorkload;
import java.io.PrintWriter;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.LongSupplier;

/**
 * What {@code vhost blk verify} runs, shared with its soak test: a {@link VerifiedWorkload}
 * (every block carries its block number, a version and a checksum; reads check all three) on a
 * device, and with a reconnect view a thread that, while the device is detached from its dead
 * back-end, opens a new back-end every {@link #RETRY_MS} ms and rebinds the device to it, for at
 * most {@code waitMs} per loss. {@link #start} starts both, {@link #stop} stops the workload,
 * reads every block back and then stops the reconnect thread.
 */
final class BlkVerify {
    /** Pause between reconnect attempts, in milliseconds. */
    static final long RETRY_MS = 50;
    /** Pause between looks at the device's {@code detached} counter, in milliseconds. */
    static final long WATCH_MS = 10;

    /** Opens a new back-end on the same target; throws while none listens there. */
    @FunctionalInterface
    interface Reopen {
        VhostBackend open() throws Exception;
    }

    /**
     * @param writes writes completed
     * @param reads reads completed and checked
     * @param reconnects rebinds after a lost back-end
     * @param lost failed, timed-out or not-kept requests
     * @param duplicated device completions beyond the requests submitted
     * @param corrupted read-backs with the wrong block number, checksum or payload
     * @param firstError the first problem seen (workload or reconnect), or null
     */
    record Outcome(long writes, long reads, long reconnects, long lost, long duplicated, long corrupted, String firstError) {
        /** @return whether nothing was lost, duplicated or corrupted and no error was seen */
        boolean clean() {
            return lost == 0 && duplicated == 0 && corrupted == 0 && firstError == null;
        }

        /** @return the last line of the command: {@code lost L duplicated D corrupted C} */
        String counts() {
            return "lost " + lost + " duplicated " + duplicated + " corrupted " + corrupted;
        }
    }

    private final VerifiedWorkload workload;
    private final BlkTools.Reconnectable reconnectable;
    private final Reopen reopen;
    private final long waitMs;
    private final PrintWriter log;
    private final AtomicLong reconnects = new AtomicLong();
    private final AtomicReference<String> reconnectError = new AtomicReference<>();
    private volatile boolean running;
    private Thread watcher;

    /**
     * @param dev an open, writable device
     * @param regionBytes bytes at the start of the device to use
     * @param blockBytes bytes per block (a multiple of the device block size, at least 64)
     * @param workers worker threads (each on queue {@code w % numQueues})
     * @param depth blocks each worker writes then reads at a time
     * @param completions the device's count of completed requests (for duplicates), or null
     * @param reconnectable the device's reconnect view, or null for no reconnects
     * @param reopen opens a new back-end (used with {@code reconnectable})
     * @param waitMs how long, in milliseconds, to keep trying to reconnect after one loss
     * @param log receives {@code reconnected after N ms} lines
     * @throws IllegalArgumentException when the region cannot hold {@code workers × depth} blocks
     */
    BlkVerify(BlockDevice dev, long regionBytes, int blockBytes, int workers, int depth, LongSupplier completions,
            BlkTools.Reconnectable reconnectable, Reopen reopen, long waitMs, PrintWriter log) {
        this.workload = new VerifiedWorkload(dev, regionBytes, blockBytes, workers, depth, System.nanoTime(), completions);
        this.reconnectable = reconnectable;
        this.reopen = reopen;
        this.waitMs = waitMs;
        this.log = log;
    }

    /** Starts the workload and, with a reconnect view, the reconnect thread. */
    void start() {
        running = true;
        if (reconnectable != null) {
            watcher = Thread.ofPlatform().daemon().name("blk-verify-reconnect").start(this::watch);
        }
        workload.start();
    }

    /** @return writes completed so far */
    long writes() {
        return workload.writes();
    }

    /** @return reconnects so far */
    long reconnects() {
        return reconnects.get();
    }

    /**
     * Stops the workload (bounded, see {@link VerifiedWorkload#stop}), reads back every block
     * written, then stops the reconnect thread (it keeps reconnecting during the read-back).
     *
     * @return the counts
     */
    Outcome stop() throws InterruptedException {
        VerifiedWorkload.Result r;
        try {
            r = workload.stop();
        } finally {
            running = false;
            if (watcher != null) {
                watcher.join(waitMs + 5_000);
            }
        }
        String error = r.firstError() != null ? r.firstError() : reconnectError.get();
        return new Outcome(r.writes(), r.reads(), reconnects.get(), r.lost(), r.duplicated(), r.corrupted(), error);
    }

    private void watch() {
        while (running && !Thread.currentThread().isInterrupted()) {
            if (reconnectable.detached()) {
                reconnect();
            }
            sleep(WATCH_MS);
        }
    }

    /** Tries to rebind the detached device for at most {@link #waitMs}. */
    private void reconnect() {
        long t0 = System.nanoTime();
        long until = t0 + TimeUnit.MILLISECONDS.toNanos(waitMs);
        Exception last = null;
        while (running && reconnectable.detached() && !Thread.currentThread().isInterrupted()) {
            if (System.nanoTime() > until) {
                reconnectError.compareAndSet(null, "no back-end to reconnect to within " + waitMs + " ms"
                        + (last == null ? "" : ": " + VhostCli.message(last)));
                return;
            }
            try {
                reconnectable.rebind(reopen.open());
                long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
                reconnects.incrementAndGet();
                synchronized (log) {
                    log.printf(Locale.ROOT, "reconnected after %d ms%n", ms);
                    log.flush();
                }
                return;
            } catch (Exception e) {
                last = e;
                sleep(RETRY_MS);
            }
        }
    }

    /** Sleeps; an interrupt is kept in the thread's flag, which ends the reconnect thread. */
    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
