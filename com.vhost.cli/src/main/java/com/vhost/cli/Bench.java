package com.vhost.cli;

import com.vhost.api.blk.BlockDevice;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.BiConsumer;

/**
 * A fio-like load on a {@link BlockDevice}: {@code iodepth} requests kept in flight on each of
 * {@code queues} queues for a fixed time, each slot re-issuing from its completion. Buffers come
 * from {@link BlockDevice#allocateBuffer} (zero-copy) when the pool allows, else from a shared
 * arena (bounce-buffered by the driver). Latency is measured per request from submission to
 * completion, into one histogram all slots share ({@link LatencyHistogram#concurrent()}).
 */
public final class Bench {
    private Bench() {}

    /** Longest run. */
    static final Duration MAX_TIME = Duration.ofHours(1);

    /** Access pattern. */
    public enum Mode {
        READ(false, false), WRITE(true, false), RANDREAD(false, true), RANDWRITE(true, true);

        final boolean write;
        final boolean random;

        Mode(boolean write, boolean random) {
            this.write = write;
            this.random = random;
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
        var info = dev.info();
        check(info, blockSize, iodepth, queues, time);
        long blocks = info.capacityBytes() / blockSize;
        int slots = iodepth * queues;
        try (Arena arena = Arena.ofShared()) {
            CountDownLatch done = new CountDownLatch(slots);
            AtomicLong sequential = new AtomicLong();
            AtomicLong errors = new AtomicLong();
            String[] firstError = new String[1];
            List<Slot> all = new ArrayList<>(slots);
            LatencyHistogram h = LatencyHistogram.concurrent();
            LongAdder completions = new LongAdder();
            for (int i = 0; i < slots; i++) {
                MemorySegment buf = buffer(dev, arena, blockSize);
                if (mode.write) {
                    for (long o = 0; o + 8 <= blockSize; o += 8) {
                        buf.set(ValueLayout.JAVA_LONG_UNALIGNED, o, 0x5A5A_0000_0000_0000L | (i * 8192L + o));
                    }
                }
                all.add(new Slot(dev, mode, i % queues, buf, blockSize, blocks, sequential, new SplittableRandom(i * 7919L + 17),
                        done, errors, firstError, h, completions));
            }
            long start = System.nanoTime();
            long deadline = start + time.toNanos();
            for (Slot s : all) {
                s.start(deadline);
            }
            long giveUp = deadline + TimeUnit.SECONDS.toNanos(30);
            boolean finished = progress == null ? done.await(giveUp - System.nanoTime(), TimeUnit.NANOSECONDS)
                    : progress.await(start, deadline, giveUp, nanos -> done.await(nanos, TimeUnit.NANOSECONDS), completions::sum,
                            (delta, secs) -> rateLine(delta, secs, blockSize));
            double elapsed = (System.nanoTime() - start) / 1e9;
            long ops = 0;
            for (Slot s : all) {
                s.stop = true;
                synchronized (s) {
                    ops += s.completed;
                }
            }
            if (!finished) {
                errors.incrementAndGet();
                synchronized (firstError) {
                    if (firstError[0] == null) {
                        firstError[0] = done.getCount() + " request(s) did not complete within 30 s of the end";
                    }
                }
            }
            String fe;
            synchronized (firstError) {
                fe = firstError[0];
            }
            return new Result(ops, ops * blockSize, elapsed, h, errors.get(), fe);
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

    private static MemorySegment buffer(BlockDevice dev, Arena arena, int size) {
        try {
            return dev.allocateBuffer(size);
        } catch (IllegalStateException | UnsupportedOperationException poolExhausted) {
            return arena.allocate(size, 4096);
        }
    }

    /** One request slot: issues, and re-issues from its own completion until the deadline. */
    private static final class Slot implements BiConsumer<Void, Throwable> {
        private final BlockDevice dev;
        private final Mode mode;
        private final int queue;
        private final MemorySegment buf;
        private final int blockSize;
        private final long blocks;
        private final AtomicLong sequential;
        private final SplittableRandom random;
        private final CountDownLatch done;
        private final AtomicLong errors;
        private final String[] firstError;
        private final LatencyHistogram histogram;
        private final LongAdder completions;
        long completed;
        volatile boolean stop;
        private long deadline;
        private long issuedAt;
        private boolean issuing;
        private boolean completedInline;
        private boolean finished;

        Slot(BlockDevice dev, Mode mode, int queue, MemorySegment buf, int blockSize, long blocks, AtomicLong sequential,
                SplittableRandom random, CountDownLatch done, AtomicLong errors, String[] firstError, LatencyHistogram histogram,
                LongAdder completions) {
            this.dev = dev;
            this.mode = mode;
            this.queue = queue;
            this.buf = buf;
            this.blockSize = blockSize;
            this.blocks = blocks;
            this.sequential = sequential;
            this.random = random;
            this.done = done;
            this.errors = errors;
            this.firstError = firstError;
            this.histogram = histogram;
            this.completions = completions;
        }

        synchronized void start(long deadlineNanos) {
            deadline = deadlineNanos;
            issueLoop();
        }

        /** Issues until a completion arrives asynchronously (a trampoline, so inline completions do not recurse). */
        private void issueLoop() {
            while (!finished) {
                long block = mode.random ? random.nextLong(blocks) : Math.floorMod(sequential.getAndIncrement(), blocks);
                long offset = block * blockSize;
                issuing = true;
                completedInline = false;
                issuedAt = System.nanoTime();
                CompletableFuture<Void> f;
                try {
                    f = mode.write ? dev.write(queue, offset, buf) : dev.read(queue, offset, buf);
                } catch (RuntimeException e) {
                    f = CompletableFuture.failedFuture(e);
                }
                f.whenComplete(this);
                issuing = false;
                if (!completedInline) {
                    return;
                }
            }
        }

        @Override
        public synchronized void accept(Void ignored, Throwable failure) {
            long now = System.nanoTime();
            histogram.record(now - issuedAt);
            if (failure != null) {
                errors.incrementAndGet();
                synchronized (firstError) {
                    if (firstError[0] == null) {
                        Throwable c = failure.getCause() != null && failure instanceof java.util.concurrent.CompletionException
                                ? failure.getCause() : failure;
                        firstError[0] = String.valueOf(c.getMessage());
                    }
                }
                finish();
                return;
            }
            completed++;
            completions.increment();
            if (stop || now >= deadline) {
                finish();
                return;
            }
            if (issuing) {
                completedInline = true;
                return;
            }
            issueLoop();
        }

        private void finish() {
            if (!finished) {
                finished = true;
                done.countDown();
            }
        }
    }
}
