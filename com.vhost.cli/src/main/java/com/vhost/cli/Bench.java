package com.vhost.cli;

import com.vhost.api.blk.BlockDevice;
import com.vhost.spi.workload.BlockLoad;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * {@code vhost blk bench}'s fio-like load on a {@link BlockDevice} ({@link BlockLoad}:
 * {@code iodepth} requests kept in flight on each of {@code queues} queues for a fixed time), with
 * the options checked as usage errors, per-request latency in one histogram all slots share
 * ({@link LatencyHistogram#concurrent()}), progress lines and the text and JSON reports.
 */
public final class Bench {
    private Bench() {}

    /** Longest run. */
    static final Duration MAX_TIME = Duration.ofHours(1);

    /** Access pattern; the load itself is {@link BlockLoad}'s. */
    public enum Mode {
        READ(BlockLoad.Mode.READ), WRITE(BlockLoad.Mode.WRITE), RANDREAD(BlockLoad.Mode.RANDREAD), RANDWRITE(BlockLoad.Mode.RANDWRITE);

        final boolean write;
        final boolean random;
        final BlockLoad.Mode load;

        Mode(BlockLoad.Mode load) {
            this.load = load;
            this.write = load.write();
            this.random = load.random();
        }
    }

    /**
     * @param ops completed requests
     * @param bytes bytes transferred by completed requests
     * @param seconds measured wall time
     * @param latency per-request latencies
     * @param errors failed requests (each failure stops its slot)
     * @param firstError the first failure's message, or null
     */
    public record Result(long ops, long bytes, double seconds, LatencyHistogram latency, long errors, String firstError) {
        public double iops() {
            return seconds > 0 ? ops / seconds : 0;
        }

        public double mibPerSecond() {
            return seconds > 0 ? bytes / seconds / (1024.0 * 1024.0) : 0;
        }

        /**
         * @return the result as {@code --json} prints it: ops, bytes, elapsed_s, iops, mib_per_s,
         *     latency ({@link JsonOption#latency}, nanoseconds), errors, first_error (or null)
         */
        public Map<String, Object> json() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("ops", ops);
            m.put("bytes", bytes);
            m.put("elapsed_s", JsonOption.round(seconds, 6));
            m.put("iops", JsonOption.round(iops(), 1));
            m.put("mib_per_s", JsonOption.round(mibPerSecond(), 3));
            m.put("latency", JsonOption.latency(latency));
            m.put("errors", errors);
            m.put("first_error", firstError);
            return m;
        }

        /** @return {@code "IOPS 12345, 48.2 MiB/s, latency p50 40.1 us, p99 120.3 us, max 1.2 ms"} */
        public String summary() {
            return String.format(Locale.ROOT, "IOPS %.0f, %.1f MiB/s, latency p50 %s, p99 %s, max %s (%d requests in %.2f s%s)",
                    iops(), mibPerSecond(), micros(latency.percentile(0.50)), micros(latency.percentile(0.99)),
                    micros(latency.max()), ops, seconds, errors > 0 ? ", " + errors + " errors: " + firstError : "");
        }
    }

    /** @return {@code "152340 IOPS, 595.1 MiB/s"} for {@code ops} requests of {@code blockSize} bytes in {@code seconds} */
    static String rateLine(long ops, double seconds, int blockSize) {
        double s = Math.max(seconds, 1e-9);
        return String.format(Locale.ROOT, "%.0f IOPS, %.1f MiB/s", ops / s, ops * (double) blockSize / s / (1 << 20));
    }

    /** Formats nanoseconds as microseconds or milliseconds. */
    public static String micros(long nanos) {
        if (nanos >= 10_000_000L) {
            return String.format(Locale.ROOT, "%.1f ms", nanos / 1e6);
        }
        return String.format(Locale.ROOT, "%.1f us", nanos / 1e3);
    }

    /**
     * Runs the load.
     *
     * @param dev an open device
     * @param mode access pattern
     * @param blockSize bytes per request, a multiple of the device's block size
     * @param iodepth requests in flight per queue (1..1024)
     * @param queues queues used, 0..queues-1 (at most the device's)
     * @param seconds run time in seconds (1..3600)
     * @return what completed
     * @throws IllegalArgumentException for a parameter outside the device's limits
     * @throws InterruptedException when interrupted while waiting for the slots
     */
    public static Result run(BlockDevice dev, Mode mode, int blockSize, int iodepth, int queues, int seconds)
            throws InterruptedException {
        return run(dev, mode, blockSize, iodepth, queues, Duration.ofSeconds(seconds), null);
    }

    /**
     * As {@link #run(BlockDevice, Mode, int, int, int, int)} for {@code time} (more than 0, at most
     * one hour), with a line each second with that second's IOPS and MiB/s on {@code progress}
     * (none when null).
     */
    static Result run(BlockDevice dev, Mode mode, int blockSize, int iodepth, int queues, Duration time, Progress progress)
            throws InterruptedException {
        check(dev.info(), blockSize, iodepth, queues, time);
        LatencyHistogram h = LatencyHistogram.concurrent();
        try (BlockLoad load = BlockLoad.start(dev, mode.load, blockSize, iodepth, queues, time.toNanos(), h::record)) {
            long start = load.startNanos();
            long deadline = start + time.toNanos();
            long giveUp = deadline + TimeUnit.SECONDS.toNanos(30);
            if (progress == null) {
                load.await(giveUp - System.nanoTime());
            } else {
                progress.await(start, deadline, giveUp, load::await, load::completions, (delta, secs) -> rateLine(delta, secs, blockSize));
            }
            BlockLoad.Outcome o = load.finish();
            return new Result(o.ops(), o.bytes(), o.seconds(), h, o.errors(), o.firstError());
        }
    }

    /** @throws IllegalArgumentException naming the option that is outside the device's limits */
    static void check(com.vhost.api.blk.BlockDeviceInfo info, int blockSize, int iodepth, int queues, Duration time) {
        checkOptions(blockSize, iodepth, time);
        if (blockSize % info.blockSize() != 0) {
            throw new UsageException("--bs " + blockSize + " is not a positive multiple of the block size "
                    + info.blockSize());
        }
        if (blockSize > info.capacityBytes()) {
            throw new UsageException("--bs " + blockSize + " exceeds the capacity " + info.capacityBytes());
        }
        if (queues < 1 || queues > info.numQueues()) {
            throw new UsageException("--queues " + queues + " is outside 1.." + info.numQueues()
                    + " (the device's queues)");
        }
    }

    /**
     * The checks that need no device, made before connecting.
     *
     * @throws UsageException naming the option that is out of range
     */
    static void checkOptions(long blockSize, int iodepth, Duration time) {
        if (blockSize <= 0 || blockSize > Integer.MAX_VALUE) {
            throw new UsageException("--bs " + blockSize + " is outside 1 byte..2 GiB");
        }
        if (iodepth < 1 || iodepth > 1024) {
            throw new UsageException("--iodepth " + iodepth + " is outside 1..1024");
        }
        if (time.isZero() || time.isNegative() || time.compareTo(MAX_TIME) > 0) {
            throw new UsageException("--seconds " + Durations.human(time) + " is outside (0, 1 h]");
        }
    }
}
