package com.vhost.cli;

import java.util.Arrays;

/**
 * Latencies in nanoseconds in log-linear buckets: exact below 16 ns, above that 16 buckets per
 * power of two (relative error under 6.25 %). Fixed size; recording does not allocate.
 * Not thread-safe: one per benchmark slot, merged at the end.
 */
public final class LatencyHistogram {
    private static final int SUB_BITS = 4;
    private static final int SUB = 1 << SUB_BITS;
    private static final int BUCKETS = (64 - SUB_BITS + 1) * SUB;

    private final long[] counts = new long[BUCKETS];
    private long total;
    private long max;

    /** @param nanos a latency; negative values count as 0 */
    public void record(long nanos) {
        long v = Math.max(0, nanos);
        counts[index(v)]++;
        total++;
        if (v > max) {
            max = v;
        }
    }

    /** Adds {@code other}'s samples to this one. */
    public void add(LatencyHistogram other) {
        for (int i = 0; i < BUCKETS; i++) {
            counts[i] += other.counts[i];
        }
        total += other.total;
        max = Math.max(max, other.max);
    }

    /** @return samples recorded */
    public long count() {
        return total;
    }

    /** @return the largest sample, exact */
    public long max() {
        return max;
    }

    /**
     * @param fraction in (0, 1], e.g. 0.99
     * @return the middle of the bucket holding that quantile (0 when empty), never above {@link #max()}
     */
    public long percentile(double fraction) {
        if (total == 0) {
            return 0;
        }
        long rank = (long) Math.ceil(fraction * total);
        long seen = 0;
        for (int i = 0; i < BUCKETS; i++) {
            seen += counts[i];
            if (seen >= rank) {
                long lo = lowerBound(i);
                long width = lowerBound(i + 1) - lo;
                return Math.min(max, lo + width / 2);
            }
        }
        return max;
    }

    /** Clears all samples. */
    public void reset() {
        Arrays.fill(counts, 0);
        total = 0;
        max = 0;
    }

    static int index(long v) {
        if (v < SUB) {
            return (int) v;
        }
        int exp = 63 - Long.numberOfLeadingZeros(v); // >= SUB_BITS
        int sub = (int) ((v >>> (exp - SUB_BITS)) & (SUB - 1));
        return (exp - SUB_BITS + 1) * SUB + sub;
    }

    static long lowerBound(int index) {
        if (index < SUB) {
            return index;
        }
        int exp = index / SUB + SUB_BITS - 1;
        long sub = index % SUB;
        if (exp >= 63) {
            return Long.MAX_VALUE;
        }
        return (1L << exp) + (sub << (exp - SUB_BITS));
    }
}
