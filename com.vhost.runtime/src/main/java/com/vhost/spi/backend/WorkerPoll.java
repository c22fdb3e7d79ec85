package com.vhost.spi.backend;

import com.vhost.spi.virtqueue.AdaptivePoll;

/**
 * The two adaptive poll windows of a {@link QueueWorker} (QEMU's iothread {@code poll-max-ns}
 * semantics, {@link AdaptivePoll}): one for kicks (available chains, up to {@code
 * vhost.poll.max.ns}) and one for the completions of an {@link AsyncHandler}'s requests in flight
 * (up to {@code vhost.poll.async.max.ns}), each learning how long its kind of work takes to come.
 * Touched by the worker thread only; allocation-free.
 */
final class WorkerPoll {
    /** Epoll token bit of an {@link AsyncHandler}'s completion fd (queue index in the low bits). */
    static final long COMPLETION_TOKEN = 1L << 32;
    /** Epoll token of the worker's wake-up eventfd. */
    static final long EXIT_TOKEN = -1L;

    private final AdaptivePoll kicks = AdaptivePoll.fromSystemProperty();
    private final AdaptivePoll completions = AdaptivePoll.forCompletions();

    /**
     * @param inFlight whether asynchronous requests are in flight
     * @return how long to poll before sleeping, in nanoseconds (0: sleep at once)
     */
    long window(boolean inFlight) {
        return Math.max(kicks.pollNs(), inFlight ? completions.pollNs() : 0);
    }

    /** Polling found available chains {@code blockNs} after the wait began. */
    void kickFound(long blockNs) {
        kicks.record(blockNs);
    }

    /** Polling found finished requests {@code blockNs} after the wait began. */
    void completionFound(long blockNs) {
        completions.record(blockNs);
    }

    /**
     * After a wake-up from epoll with {@code n} events in {@code tokens}: each window learns from
     * its kind of event.
     *
     * @param inFlight whether requests were in flight when the wait began
     */
    void woken(long[] tokens, int n, long blockNs, boolean inFlight) {
        boolean kick = false;
        boolean completion = false;
        for (int k = 0; k < n; k++) {
            long token = tokens[k];
            if (token != EXIT_TOKEN) {
                completion |= (token & COMPLETION_TOKEN) != 0;
                kick |= (token & COMPLETION_TOKEN) == 0;
            }
        }
        if (kick) {
            kicks.record(blockNs);
        }
        if (completion && inFlight) {
            completions.record(blockNs);
        }
    }
}
