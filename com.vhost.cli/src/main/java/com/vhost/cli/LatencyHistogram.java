package com.vhost.cli;

import java.util.concurrent.TimeUnit;
import org.HdrHistogram.AbstractHistogram;
import org.HdrHistogram.ConcurrentHistogram;
import org.HdrHistogram.Histogram;

/**
 * Latencies in nanoseconds, kept in an HdrHistogram with three significant digits (a value is
 * reported within 0.1 % of what was recorded) from 1 ns to {@link #HIGHEST_NANOS}; larger values
 * count as {@link #HIGHEST_NANOS}. The counts are allocated up front: {@link #record} does not
 * allocate. {@link #LatencyHistogram()} is for one recording thread; {@link #concurrent()} for
 * several.
 */
public final class LatencyHistogram {
    /** Largest latency told apart, in nanoseconds (one hour). */
    static final long HIGHEST_NANOS = TimeUnit.HOURS.toNanos(1);
    /** Decimal digits of precision kept for each value. */
    static final int SIGNIFICANT_DIGITS = 3;

    private final AbstractHistogram h;

    /** A histogram for one recording thread. */
    public LatencyHistogram() {
        this(new Histogram(HIGHEST_NANOS, SIGNIFICANT_DIGITS));
    }

    private LatencyHistogram(AbstractHistogram h) {
        this.h = h;
    }

    /** @return a histogram that several threads may record into at once (wait-free, no allocation) */
    public static LatencyHistogram concurrent() {
        return new LatencyHistogram(new ConcurrentHistogram(HIGHEST_NANOS, SIGNIFICANT_DIGITS));
    }

    /** @param nanos a latency in nanoseconds; negative values count as 0, values above one hour as one hour */
    public void record(long nanos) {
        h.recordValue(Math.min(HIGHEST_NANOS, Math.max(0, nanos)));
    }

    /** Adds {@code other}'s samples to this one. */
    public void add(LatencyHistogram other) {
        h.add(other.h);
    }

    /** @return samples recorded */
    public long count() {
        return h.getTotalCount();
    }

    /** @return the largest sample in nanoseconds, within 0.1 % (0 when empty) */
    public long max() {
        return h.getTotalCount() == 0 ? 0 : h.getMaxValue();
    }

    /** @return the mean in nanoseconds (0 when empty) */
    public double mean() {
        return h.getTotalCount() == 0 ? 0 : h.getMean();
    }

    /**
     * @param fraction in (0, 1], e.g. 0.99
     * @return the latency in nanoseconds that {@code fraction} of the samples are at or below,
     *     within 0.1 % (0 when empty)
     * @throws IllegalArgumentException when {@code fraction} is outside (0, 1]
     */
    public long percentile(double fraction) {
        if (!(fraction > 0 && fraction <= 1)) {
            throw new IllegalArgumentException("fraction " + fraction + " outside (0, 1]");
        }
        return h.getTotalCount() == 0 ? 0 : h.getValueAtPercentile(fraction * 100);
    }

    /** Clears all samples. */
    public void reset() {
        h.reset();
    }
}
