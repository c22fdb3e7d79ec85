package com.vhost.cli;

import com.vhost.api.blk.BlockDevice;
import com.vhost.spi.workload.VerifiedWorkload;
import java.io.PrintWriter;
import java.util.function.LongSupplier;

/**
 * What {@code vhost blk verify} runs, shared with its soak test: a {@link VerifiedWorkload}
 * (every block carries its block number, a version and a checksum; reads check all three) on a
 * device, and with a reconnect view a {@link Reconnector} that rebinds the device, detached from
 * its dead back-end, to a new one. {@link #start} starts both, {@link #stop} stops the workload,
 * reads every block back and then stops the reconnect thread.
 */
final class BlkVerify {
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
    private final Reconnector reconnector;

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
            ReconnectView reconnectable, Reconnector.Reopen reopen, long waitMs, PrintWriter log) {
        this.workload = new VerifiedWorkload(dev, regionBytes, blockBytes, workers, depth, System.nanoTime(), completions);
        this.reconnector = reconnectable == null ? null
                : new Reconnector("blk-verify-reconnect", reconnectable, reopen, waitMs, log);
    }

    /** Starts the workload and, with a reconnect view, the reconnect thread. */
    void start() {
        if (reconnector != null) {
            reconnector.start();
        }
        workload.start();
    }

    /** @return writes completed so far */
    long writes() {
        return workload.writes();
    }

    /** @return reconnects so far */
    long reconnects() {
        return reconnector == null ? 0 : reconnector.reconnects();
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
            if (reconnector != null) {
                reconnector.stop();
            }
        }
        String error = r.firstError() != null ? r.firstError() : reconnector == null ? null : reconnector.error();
        return new Outcome(r.writes(), r.reads(), reconnects(), r.lost(), r.duplicated(), r.corrupted(), error);
    }
}
