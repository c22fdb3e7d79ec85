package com.vhost.spi.virtqueue;

/**
 * The self-tuning poll window of a thread that waits for virtqueue work: before it sleeps on an
 * eventfd it polls the rings for {@link #pollNs()} nanoseconds, and after each wait it reports how
 * long the work took to come ({@link #record}). The window follows QEMU's adaptive polling
 * ({@code util/aio-posix.c}, {@code adjust_polling_time}, the iothread properties
 * {@code poll-max-ns}, {@code poll-grow}, {@code poll-shrink}): unchanged while work comes within
 * it; doubled (from {@value #INITIAL_NS} ns) up to the maximum while work comes after it but within
 * the maximum; reset to 0 (QEMU's default {@code poll-shrink=0}) when work takes longer than the
 * maximum, so an idle queue costs no CPU. A sleep costs a cross-CPU wake-up (6 to 50 µs on the
 * machines this project is measured on); polling trades CPU time for that latency only while
 * requests keep arriving within the window.
 *
 * <p>Not thread-safe: one per waiting thread. Allocation-free.
 */
public final class AdaptivePoll {
    /** QEMU's default {@code poll-max-ns} for an iothread: 32768 ns. */
    public static final long DEFAULT_MAX_NS = 32_768;
    /** The first non-zero window, in nanoseconds (QEMU's starting value). */
    public static final long INITIAL_NS = 4_000;
    /**
     * System property with the default maximum window in nanoseconds ({@value #DEFAULT_MAX_NS}
     * when unset; 0 turns adaptive polling off).
     */
    public static final String MAX_NS_PROPERTY = "vhost.poll.max.ns";
    /**
     * The default maximum of the completion window, in nanoseconds: about one 4 KiB read of the
     * virtio disks this project is measured on (p50 60-80 µs), so that at queue depth 1 a read's
     * completion is found by polling rather than after a wake-up.
     *
     * @since 1.3.0
     */
    public static final long DEFAULT_ASYNC_MAX_NS = 200_000;
    /**
     * System property with the maximum window in nanoseconds ({@value #DEFAULT_ASYNC_MAX_NS} when
     * unset; 0 turns it off) for which a queue worker polls for the completions of asynchronous
     * requests (io_uring) it has in flight before it sleeps. It applies only while requests are in
     * flight, so an idle queue costs no CPU; it adapts as {@link #MAX_NS_PROPERTY}'s window does.
     *
     * @since 1.3.0
     */
    public static final String ASYNC_MAX_NS_PROPERTY = "vhost.poll.async.max.ns";

    private final long maxNs;
    private long pollNs;

    /**
     * @param maxNs the largest window in nanoseconds; 0 never polls
     * @throws IllegalArgumentException when negative
     */
    public AdaptivePoll(long maxNs) {
        if (maxNs < 0) {
            throw new IllegalArgumentException("poll max " + maxNs + " ns is negative");
        }
        this.maxNs = maxNs;
    }

    /**
     * @return a poll whose maximum comes from {@link #MAX_NS_PROPERTY}, or {@link #DEFAULT_MAX_NS}
     * @throws IllegalArgumentException when the property is not a non-negative number
     */
    public static AdaptivePoll fromSystemProperty() {
        return new AdaptivePoll(defaultMaxNs());
    }

    /**
     * @return the maximum window from {@link #MAX_NS_PROPERTY}, or {@link #DEFAULT_MAX_NS}, in ns
     * @throws IllegalArgumentException when the property is not a non-negative number
     */
    public static long defaultMaxNs() {
        return maxNs(MAX_NS_PROPERTY, DEFAULT_MAX_NS);
    }

    /**
     * @return a poll for the completions of asynchronous requests in flight, whose maximum comes
     *     from {@link #ASYNC_MAX_NS_PROPERTY}, or {@link #DEFAULT_ASYNC_MAX_NS}
     * @throws IllegalArgumentException when the property is not a non-negative number
     * @since 1.3.0
     */
    public static AdaptivePoll forCompletions() {
        return new AdaptivePoll(maxNs(ASYNC_MAX_NS_PROPERTY, DEFAULT_ASYNC_MAX_NS));
    }

    private static long maxNs(String property, long defaultNs) {
        String v = System.getProperty(property);
        if (v == null || v.isBlank()) {
            return defaultNs;
        }
        try {
            long ns = Long.parseLong(v.trim());
            if (ns >= 0) {
                return ns;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new IllegalArgumentException(property + "=" + v + " is not a non-negative number of nanoseconds");
    }

    /** @return the current window in nanoseconds (0: sleep at once) */
    public long pollNs() {
        return pollNs;
    }

    /** @return the largest window in nanoseconds */
    public long maxNs() {
        return maxNs;
    }

    /**
     * Adjusts the window after a wait.
     *
     * @param blockNs nanoseconds from the start of the wait (its poll phase included) until work
     *     came; a wait that ended without work (a timeout, a stop) is not recorded
     */
    public void record(long blockNs) {
        if (blockNs <= pollNs) {
            return; // polling caught it: the sweet spot
        }
        if (blockNs > maxNs) {
            pollNs = 0;
        } else if (pollNs < maxNs) {
            pollNs = Math.min(maxNs, pollNs == 0 ? INITIAL_NS : pollNs * 2);
        }
    }
}
