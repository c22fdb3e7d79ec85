package com.vhost.cli;

import java.io.Console;
import java.io.PrintWriter;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;

/**
 * The progress of a long command, on standard error so that standard output holds only the
 * answer. On a terminal one status line is rewritten in place ({@code \r}) at most every
 * {@link #TERMINAL_NANOS} and cleared at the end; otherwise (a pipe, a file, a CI log) each update
 * is a line of its own, at most one per {@link #LINE_NANOS}, as fio and testpmd print their
 * periodic status. Used by one thread at a time.
 */
final class Progress {
    /** Least time between two rewrites of the status line on a terminal, in nanoseconds. */
    static final long TERMINAL_NANOS = TimeUnit.MILLISECONDS.toNanos(200);
    /** Least time between two progress lines when standard error is not a terminal, in nanoseconds. */
    static final long LINE_NANOS = TimeUnit.SECONDS.toNanos(1);
    /** Interval of the rate lines of {@link #await}, in nanoseconds. */
    static final long INTERVAL_NANOS = TimeUnit.SECONDS.toNanos(1);

    private final PrintWriter err;
    private final boolean terminal;
    private int shown;
    private long lastAt = Long.MIN_VALUE / 2;

    /**
     * @param err where the progress goes (standard error)
     * @param terminal whether the process's standard output is a terminal ({@link #onTerminal()})
     */
    Progress(PrintWriter err, boolean terminal) {
        this.err = err;
        this.terminal = terminal;
    }

    /** @return whether this process's standard input and output are a terminal (an interactive session) */
    static boolean onTerminal() {
        Console c = System.console();
        return c != null && c.isTerminal();
    }

    /** Shows {@code line} now, whatever the time since the last one. */
    void line(String line) {
        if (terminal) {
            err.print('\r' + line + " ".repeat(Math.max(0, shown - line.length())));
            shown = line.length();
        } else {
            err.println(line);
        }
        err.flush();
        lastAt = System.nanoTime();
    }

    /**
     * Shows {@code line} unless the last one was shown less than {@link #TERMINAL_NANOS} (on a
     * terminal) or {@link #LINE_NANOS} (otherwise) ago, or {@code last} is true.
     */
    void update(String line, boolean last) {
        if (last || System.nanoTime() - lastAt >= (terminal ? TERMINAL_NANOS : LINE_NANOS)) {
            line(line);
        }
    }

    /** Clears the status line on a terminal (nothing otherwise). */
    void done() {
        if (terminal && shown > 0) {
            err.print('\r' + " ".repeat(shown) + '\r');
            err.flush();
            shown = 0;
        }
    }

    /**
     * Sleeps until {@code endNanos}, calling {@code tick} with N at each whole second N after
     * {@code startNanos} before it, and stops early once {@code going} (asked before each second)
     * says no.
     */
    static void seconds(long startNanos, long endNanos, java.util.function.BooleanSupplier going, java.util.function.IntConsumer tick)
            throws InterruptedException {
        for (int s = 1; going.getAsBoolean(); s++) {
            long at = startNanos + s * INTERVAL_NANOS;
            if (at > endNanos) {
                TimeUnit.NANOSECONDS.sleep(endNanos - System.nanoTime());
                return;
            }
            TimeUnit.NANOSECONDS.sleep(at - System.nanoTime());
            tick.accept(s);
        }
    }

    /** Waits up to a time for something to finish. */
    @FunctionalInterface
    interface Waiter {
        /**
         * @param nanos the longest wait, in nanoseconds (positive)
         * @return whether it finished
         */
        boolean await(long nanos) throws InterruptedException;
    }

    /** A rate line for one interval. */
    @FunctionalInterface
    interface Rate {
        /**
         * @param delta how much the counter grew in the interval
         * @param seconds the interval's length in seconds
         * @return what follows {@code "N s: "} on the line, e.g. {@code "152340 IOPS, 595.1 MiB/s"}
         */
        String format(long delta, double seconds);
    }

    /**
     * Waits for {@code waiter} until {@code giveUpNanos}; each {@link #INTERVAL_NANOS} until
     * {@code endNanos} shows {@code "N s: "} and the interval's rate of {@code counter}, then
     * clears the status line.
     *
     * @param startNanos when the run started ({@link System#nanoTime()})
     * @param endNanos when the run is to end: no rate lines after it
     * @param giveUpNanos the longest wait
     * @return whether {@code waiter} finished before {@code giveUpNanos}
     */
    boolean await(long startNanos, long endNanos, long giveUpNanos, Waiter waiter, LongSupplier counter, Rate rate)
            throws InterruptedException {
        long next = startNanos + INTERVAL_NANOS;
        long last = counter.getAsLong();
        long lastTick = startNanos;
        try {
            while (true) {
                long now = System.nanoTime();
                if (now >= giveUpNanos) {
                    return false;
                }
                long until = next <= endNanos ? Math.min(next, giveUpNanos) : giveUpNanos;
                if (waiter.await(Math.max(1, until - now))) {
                    return true;
                }
                now = System.nanoTime();
                if (next <= endNanos && now >= next) {
                    long c = counter.getAsLong();
                    line(String.format(Locale.ROOT, "%d s: %s", Math.round((now - startNanos) / 1e9),
                            rate.format(c - last, (now - lastTick) / 1e9)));
                    last = c;
                    lastTick = now;
                    while (next <= now) {
                        next += INTERVAL_NANOS;
                    }
                }
            }
        } finally {
            done();
        }
    }
}
