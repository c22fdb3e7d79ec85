package com.vhost.spi.workload;

import com.vhost.api.blk.BlockDevice;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.BiConsumer;

/**
 * A fio-like load on a {@link BlockDevice}, shared by {@code vhost blk bench} and the daemon's
 * {@code device_bench}: {@code iodepth} requests kept in flight on each of {@code queues} queues
 * until a deadline, each slot re-issuing from its own completion. Buffers come from
 * {@link BlockDevice#allocateBuffer} (zero-copy) when the pool allows, else from a shared arena
 * (bounce-buffered by the driver). Each request's latency, submission to completion in
 * nanoseconds, goes to the caller's {@link LatencyRecorder}; nothing is allocated per request.
 *
 * <p>Use: {@link #start}, then {@link #await} (in steps, for progress lines) until it returns
 * true or the caller gives up, then {@link #finish()}.
 */
public final class BlockLoad implements AutoCloseable {
    /** Access pattern (fio's {@code rw}). */
    public enum Mode {
        READ(false, false), WRITE(true, false), RANDREAD(false, true), RANDWRITE(true, true);

        private final boolean write;
        private final boolean random;

        Mode(boolean write, boolean random) {
            this.write = write;
            this.random = random;
        }

        /** @return whether requests write */
        public boolean write() {
            return write;
        }

        /** @return whether offsets are random (else sequential, wrapping at the capacity) */
        public boolean random() {
            return random;
        }
    }

    /** Takes one request's latency; called concurrently from completion threads. */
    @FunctionalInterface
    public interface LatencyRecorder {
        /** @param nanos submission to completion, in nanoseconds */
        void record(long nanos);
    }

    /**
     * @param ops completed requests
     * @param bytes bytes moved by completed requests
     * @param seconds wall time from start to {@link #finish()}
     * @param errors failed requests (each ends its slot), plus one when slots were still busy at
     *     {@link #finish()}
     * @param firstError the first failure's message, or null
     */
    public record Outcome(long ops, long bytes, double seconds, long errors, String firstError) {
        /** @return requests per second */
        public double iops() {
            return seconds > 0 ? ops / seconds : 0;
        }

        /** @return MiB per second */
        public double mibPerSecond() {
            return seconds > 0 ? bytes / seconds / (1024.0 * 1024.0) : 0;
        }
    }

    private final Arena arena = Arena.ofShared();
    private final List<Slot> slots;
    private final CountDownLatch done;
    private final LongAdder completions = new LongAdder();
    private final AtomicLong errors = new AtomicLong();
    private final AtomicReference<String> firstError = new AtomicReference<>();
    private final int blockSize;
    private long startNanos;

    private BlockLoad(BlockDevice dev, Mode mode, int blockSize, int iodepth, int queues, LatencyRecorder latency) {
        var info = dev.info();
        if (blockSize <= 0 || blockSize % info.blockSize() != 0 || blockSize > info.capacityBytes()) {
            throw new IllegalArgumentException("block size " + blockSize + " is not a positive multiple of the device's block size "
                    + info.blockSize() + " within its capacity " + info.capacityBytes());
        }
        if (iodepth < 1 || iodepth > 1024) {
            throw new IllegalArgumentException("iodepth " + iodepth + " is outside 1..1024");
        }
        if (queues < 1 || queues > info.numQueues()) {
            throw new IllegalArgumentException("queues " + queues + " is outside 1.." + info.numQueues() + " (the device's queues)");
        }
        this.blockSize = blockSize;
        long blocks = info.capacityBytes() / blockSize;
        int n = iodepth * queues;
        this.done = new CountDownLatch(n);
        this.slots = new ArrayList<>(n);
        AtomicLong sequential = new AtomicLong();
        for (int i = 0; i < n; i++) {
            MemorySegment buf = buffer(dev, blockSize);
            if (mode.write) {
                for (long o = 0; o + 8 <= blockSize; o += 8) {
                    buf.set(ValueLayout.JAVA_LONG_UNALIGNED, o, 0x5A5A_0000_0000_0000L | (i * 8192L + o));
                }
            }
            slots.add(new Slot(dev, mode, i % queues, buf, blockSize, blocks, sequential, new SplittableRandom(i * 7919L + 17), latency));
        }
    }

    /**
     * Starts the load; it runs until {@code durationNanos} from now.
     *
     * @param dev an open device
     * @param mode access pattern
     * @param blockSize bytes per request, a positive multiple of the device's block size
     * @param iodepth requests in flight per queue, 1..1024
     * @param queues queues used, 0..queues-1, at most the device's
     * @param durationNanos run time in nanoseconds, more than 0
     * @param latency takes each request's latency
     * @return the running load
     * @throws IllegalArgumentException for a parameter outside the device's limits (naming it)
     */
    public static BlockLoad start(BlockDevice dev, Mode mode, int blockSize, int iodepth, int queues, long durationNanos,
            LatencyRecorder latency) {
        if (durationNanos <= 0) {
            throw new IllegalArgumentException("duration " + durationNanos + " ns is not positive");
        }
        BlockLoad load = new BlockLoad(dev, mode, blockSize, iodepth, queues, latency);
        load.startNanos = System.nanoTime();
        long deadline = load.startNanos + durationNanos;
        for (Slot s : load.slots) {
            s.start(deadline);
        }
        return load;
    }

    /** @return when the load started ({@link System#nanoTime()}) */
    public long startNanos() {
        return startNanos;
    }

    /** @return requests completed so far (for progress lines) */
    public long completions() {
        return completions.sum();
    }

    /**
     * Waits for every slot to end (the deadline passed, or a request failed).
     *
     * @param nanos the longest wait
     * @return whether every slot ended
     */
    public boolean await(long nanos) throws InterruptedException {
        return done.await(nanos, TimeUnit.NANOSECONDS);
    }

    /**
     * Stops the slots and sums up; a slot still busy counts as one error.
     *
     * @return what completed
     */
    public Outcome finish() {
        double elapsed = (System.nanoTime() - startNanos) / 1e9;
        long ops = 0;
        for (Slot s : slots) {
            s.stop = true;
            synchronized (s) {
                ops += s.completed;
            }
        }
        if (done.getCount() > 0) {
            errors.incrementAndGet();
            firstError.compareAndSet(null, done.getCount() + " request slot(s) still busy at the end");
        }
        return new Outcome(ops, ops * blockSize, elapsed, errors.get(), firstError.get());
    }

    /** Releases the buffers not from the device's pool; call after {@link #finish()} once no request runs. */
    @Override
    public void close() {
        arena.close();
    }

    private MemorySegment buffer(BlockDevice dev, int size) {
        try {
            return dev.allocateBuffer(size);
        } catch (IllegalStateException | UnsupportedOperationException poolExhausted) {
            return arena.allocate(size, 4096);
        }
    }

    /** One request slot: issues, and re-issues from its own completion until the deadline. */
    private final class Slot implements BiConsumer<Void, Throwable> {
        private final BlockDevice dev;
        private final Mode mode;
        private final int queue;
        private final MemorySegment buf;
        private final int size;
        private final long blocks;
        private final AtomicLong sequential;
        private final SplittableRandom random;
        private final LatencyRecorder latency;
        long completed;
        volatile boolean stop;
        private long deadline;
        private long issuedAt;
        private boolean issuing;
        private boolean completedInline;
        private boolean finished;

        Slot(BlockDevice dev, Mode mode, int queue, MemorySegment buf, int size, long blocks, AtomicLong sequential,
                SplittableRandom random, LatencyRecorder latency) {
            this.dev = dev;
            this.mode = mode;
            this.queue = queue;
            this.buf = buf;
            this.size = size;
            this.blocks = blocks;
            this.sequential = sequential;
            this.random = random;
            this.latency = latency;
        }

        synchronized void start(long deadlineNanos) {
            deadline = deadlineNanos;
            issueLoop();
        }

        /** Issues until a completion arrives asynchronously (a trampoline, so inline completions do not recurse). */
        private void issueLoop() {
            while (!finished) {
                long block = mode.random ? random.nextLong(blocks) : Math.floorMod(sequential.getAndIncrement(), blocks);
                long offset = block * size;
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
            latency.record(now - issuedAt);
            if (failure != null) {
                errors.incrementAndGet();
                Throwable c = failure instanceof CompletionException && failure.getCause() != null ? failure.getCause() : failure;
                firstError.compareAndSet(null, String.valueOf(c.getMessage()));
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
