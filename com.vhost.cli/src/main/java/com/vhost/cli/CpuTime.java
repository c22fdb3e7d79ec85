package com.vhost.cli;

import java.time.Duration;
import java.util.Locale;

/**
 * This process's CPU time (user and system, all threads: the JVM's own included), as the benches
 * report it next to their rates (issue #13: polling trades CPU time for latency, so a rate is
 * read with the CPU it cost). Linux reads it from {@code /proc/self/stat}.
 */
final class CpuTime {
    private CpuTime() {}

    /** @return the process's CPU time so far in nanoseconds, or -1 where the platform does not say */
    static long processNanos() {
        return ProcessHandle.current().info().totalCpuDuration().map(Duration::toNanos).orElse(-1L);
    }

    /**
     * @param startNanos {@link #processNanos()} at the start of a run
     * @return CPU seconds since {@code startNanos}, or -1 when either reading is unknown
     */
    static double secondsSince(long startNanos) {
        long now = processNanos();
        return startNanos < 0 || now < 0 ? -1 : (now - startNanos) / 1e9;
    }

    /**
     * @param cpuSeconds CPU seconds used (negative: unknown)
     * @param wallSeconds the run's wall time in seconds
     * @return {@code "cpu 1.93 s, 96 % of one CPU"}, or {@code "cpu unknown"}
     */
    static String line(double cpuSeconds, double wallSeconds) {
        if (cpuSeconds < 0) {
            return "cpu unknown";
        }
        return String.format(Locale.ROOT, "cpu %.2f s, %.0f %% of one CPU", cpuSeconds,
                wallSeconds > 0 ? 100 * cpuSeconds / wallSeconds : 0);
    }
}
