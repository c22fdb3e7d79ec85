package com.vhost.cli;

import com.vhost.api.VirtioDeviceException;
import com.vhost.api.blk.BlockDevice;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The short workload of {@code vhost run}: writes a pattern over the first {@code bytes} of the
 * device in {@code chunk}-byte requests, {@code depth} at a time spread over the queues, reads it
 * back and compares every 8-byte word. Each word holds its own byte offset mixed with a seed, so a
 * misplaced or stale block is caught.
 */
public final class VerifyWorkload {
    /** Bound on one batch of requests. */
    static final long BATCH_TIMEOUT_SECONDS = 30;
    private VerifyWorkload() {}

    /**
     * @param writeMiBs write throughput
     * @param readMiBs read throughput
     * @param bytes bytes written and verified
     */
    public record Result(double writeMiBs, double readMiBs, long bytes) {}

    /**
     * @param dev an open, writable device
     * @param bytes how much to write and verify (rounded down to {@code chunk})
     * @param chunk request size in bytes, a multiple of the block size
     * @param depth requests per batch
     * @param seed pattern seed
     * @param progress receives the pass, the bytes done and the percentage
     * @return throughputs
     * @throws VirtioDeviceException naming the first mismatching offset, or a failed request
     * @throws InterruptedException when interrupted
     */
    static Result run(BlockDevice dev, long bytes, int chunk, int depth, long seed, Progress progress)
            throws VirtioDeviceException, InterruptedException {
        var info = dev.info();
        long total = Math.min(bytes, info.capacityBytes()) / chunk * chunk;
        if (total == 0) {
            throw new VirtioDeviceException("device of " + info.capacityBytes() + " bytes is smaller than one "
                    + chunk + "-byte request");
        }
        int queues = Math.max(1, info.numQueues());
        try (Arena arena = Arena.ofShared()) {
            MemorySegment[] bufs = new MemorySegment[depth];
            for (int i = 0; i < depth; i++) {
                try {
                    bufs[i] = dev.allocateBuffer(chunk);
                } catch (IllegalStateException | UnsupportedOperationException e) {
                    bufs[i] = arena.allocate(chunk, 4096);
                }
            }
            long t0 = System.nanoTime();
            pass(dev, total, chunk, depth, queues, seed, bufs, true, progress);
            long t1 = System.nanoTime();
            pass(dev, total, chunk, depth, queues, seed, bufs, false, progress);
            long t2 = System.nanoTime();
            progress.done();
            return new Result(mibs(total, t1 - t0), mibs(total, t2 - t1), total);
        }
    }

    private static void pass(BlockDevice dev, long total, int chunk, int depth, int queues, long seed,
            MemorySegment[] bufs, boolean write, Progress progress) throws VirtioDeviceException, InterruptedException {
        @SuppressWarnings("unchecked")
        CompletableFuture<Void>[] inflight = new CompletableFuture[depth];
        String what = write ? "write" : "verify";
        for (long base = 0; base < total; base += (long) chunk * depth) {
            int n = (int) Math.min(depth, (total - base) / chunk);
            for (int i = 0; i < n; i++) {
                long off = base + (long) i * chunk;
                if (write) {
                    fill(bufs[i], off, seed);
                    inflight[i] = dev.write(i % queues, off, bufs[i]);
                } else {
                    bufs[i].fill((byte) 0);
                    inflight[i] = dev.read(i % queues, off, bufs[i]);
                }
            }
            for (int i = 0; i < n; i++) {
                long off = base + (long) i * chunk;
                await(inflight[i], what, off);
                if (!write) {
                    check(bufs[i], off, seed);
                }
            }
            long doneBytes = Math.min(total, base + (long) chunk * depth);
            progress.update(String.format(Locale.ROOT, "%-6s %s / %s (%d%%)", what, Sizes.human(doneBytes), Sizes.human(total),
                    doneBytes * 100 / total), doneBytes == total);
        }
        if (write) {
            await(dev.flush(0), "flush", 0);
        }
    }

    private static void await(CompletableFuture<Void> f, String what, long off)
            throws VirtioDeviceException, InterruptedException {
        try {
            f.get(BATCH_TIMEOUT_SECONDS, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            throw new VirtioDeviceException(what + " at offset " + off + " failed: " + e.getCause().getMessage(), e.getCause());
        } catch (TimeoutException e) {
            throw new VirtioDeviceException(what + " at offset " + off + " did not complete within "
                    + BATCH_TIMEOUT_SECONDS + " s", e);
        }
    }

    static long word(long offset, long seed) {
        return (offset * 0x9E37_79B9_7F4A_7C15L) ^ seed;
    }

    static void fill(MemorySegment buf, long deviceOffset, long seed) {
        long n = buf.byteSize();
        for (long o = 0; o + 8 <= n; o += 8) {
            buf.set(ValueLayout.JAVA_LONG_UNALIGNED, o, word(deviceOffset + o, seed));
        }
    }

    static void check(MemorySegment buf, long deviceOffset, long seed) throws VirtioDeviceException {
        long n = buf.byteSize();
        for (long o = 0; o + 8 <= n; o += 8) {
            long want = word(deviceOffset + o, seed);
            long got = buf.get(ValueLayout.JAVA_LONG_UNALIGNED, o);
            if (got != want) {
                throw new VirtioDeviceException(String.format(Locale.ROOT,
                        "verify failed at byte offset %d: read 0x%016x, wrote 0x%016x", deviceOffset + o, got, want));
            }
        }
    }

    private static double mibs(long bytes, long nanos) {
        return nanos <= 0 ? 0 : bytes / (nanos / 1e9) / (1024.0 * 1024.0);
    }
}
