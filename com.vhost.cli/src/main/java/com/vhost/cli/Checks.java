package com.vhost.cli;

import com.vhost.api.virtio.VirtioFeatures;
import java.io.PrintWriter;

/** Argument checks shared by the commands; each names the option and the value. */
final class Checks {
    private Checks() {}

    static void queues(int queues, int queueSize) {
        if (queues < 1 || queues > 64) {
            throw new UsageException("--queues " + queues + " is outside 1..64");
        }
        if (queueSize < 1 || queueSize > 32768 || Integer.bitCount(queueSize) != 1) {
            throw new UsageException("--queue-size " + queueSize + " is not a power of two in 1..32768");
        }
    }

    /**
     * {@code --packed} is for one-shot drivers: {@code --reconnect} opens its reconnecting driver
     * ({@link BlkTools#openReconnectable}, {@link NetTools#openReconnectable}) on split virtqueues.
     *
     * @throws UsageException when both are given
     */
    static void packedOneShot(boolean packed, long swapWaitMs) {
        if (packed && swapWaitMs >= 0) {
            throw new UsageException("--packed does not combine with --reconnect: the reconnecting driver is opened on split"
                    + " virtqueues");
        }
    }

    /** Prints a one-line notice when {@code --packed} was asked for and the acked {@code features} lack RING_PACKED. */
    static void packedNotice(boolean packed, long features, String backend, PrintWriter err) {
        if (packed && !VirtioFeatures.has(features, VirtioFeatures.F_RING_PACKED)) {
            err.println("notice: " + backend + " does not offer VIRTIO_F_RING_PACKED; using split virtqueues");
            err.flush();
        }
    }
}
