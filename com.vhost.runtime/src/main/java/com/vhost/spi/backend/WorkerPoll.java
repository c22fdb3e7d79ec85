package com.vhost.spi.backend;

import com.vhost.spi.virtqueue.AdaptivePoll;

/**
 * The two adaptive poll windows of a {@link QueueWorker} (QEMU's iothread {@code poll-max-ns}
 * semantics, {@link AdaptivePoll}), each learning how long its kind of work takes to come: one
 * for kicks (available chains, up to {@code vhost.poll.max.ns}) and one for a response the worker
 * waits for (up to {@code vhost.poll.async.max.ns}) in an {@link AsyncHandler}'s request loop:
 * the completions of its requests in flight, and, once it notified their completion, the
 * front-end's next request, which comes only after the front-end's own wake-up and so later than
 * a kick window of QEMU's 32 µs covers where a wake-up costs 30-50 µs (issue #13: a QD1 io_uring
 * read went from 103 to 64 µs p50). A synchronous handler's notifications do not open it: its
 * round trips are short, and a longer spin on 2 CPUs took time from the front-end (an in-memory
 * QD1 run fell from 708 k to 407 k IOPS). Touched by the worker thread only; allocation-free.
 */
final class WorkerPoll {
    /** Epoll token bit of an {@link AsyncHandler}'s completion fd (queue index in the low bits). */
    static final long COMPLETION_TOKEN = 1L << 32;
    /** Epoll token of the worker's wake-up eventfd. */
    static final long EXIT_TOKEN = -1L;

    private final AdaptivePoll kicks = AdaptivePoll.fromSystemProperty();
    private final AdaptivePoll completions = AdaptivePoll.forCompletions();
    /** A used-buffer notification was sent since the last wait: the front-end's answer is awaited. */
    private boolean notified;
    /** The current wait is one for a response (requests in flight, or after a notification). */
    private boolean awaiting;

    /** The worker notified completions of an {@link AsyncHandler}'s requests. */
    void notified() {
        notified = true;
    }

    /**
     * Starts a wait.
     *
     * @param inFlight whether asynchronous requests are in flight
     * @return how long to poll before sleeping, in nanoseconds (0: sleep at once)
     */
    long window(boolean inFlight) {
        awaiting = inFlight || notified;
        notified = false;
        return Math.max(kicks.pollNs(), awaiting ? completions.pollNs() : 0);
    }

    /** Polling found available chains {@code blockNs} after the wait began. */
    void kickFound(long blockNs) {
        kicks.record(blockNs);
        if (awaiting) {
            completions.record(blockNs);
        }
    }

    /** Polling found finished requests {@code blockNs} after the wait began. */
    void completionFound(long blockNs) {
        completions.record(blockNs);
    }

    /**
     * After a wake-up from epoll with {@code n} events in {@code tokens}: each window learns from
     * its kind of event.
     *
     * @param inFlight whether requests were in flight when the wait began (the response window
     *     learns from a wait that {@link #window} started as one for a response)
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
        if ((kick || completion) && awaiting) {
            completions.record(blockNs);
        }
    }
}
