package com.vhost.cli;

import com.vhost.api.backend.SocketOptions;
import com.vhost.api.VhostOps;
import com.vhost.api.VhostTarget;
import com.vhost.api.blk.BlockDevice;
import com.vhost.api.net.NetDevice;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code vhost bench}: benchmarks of the platform as a whole (not of one device path). */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Runs benchmarks of the platform as a whole (swap: the I/O pause of a hot-swap under traffic).",
        footerHeading = "%nExamples:%n",
        footer = {"  vhost bench swap --type blk --swaps 60", "  vhost bench swap --type net --swaps 60 --json"},
        subcommands = BenchCommand.Swap.class)
public final class BenchCommand extends ParentCommand {
    /**
     * {@code vhost bench swap}: a device is swapped N times between two vhost-user back-ends
     * (this project's server) while traffic runs, and the swaps' pause is reported as
     * {@code swap pause ms: p50 X p99 Y max Z}.
     * <ul>
     *   <li>{@code --type blk}: both back-ends (each with its own file-backed model) serve one
     *       image; a write-then-verify workload with checksums runs. The pause is from the last
     *       completion on the old back-end to the first on the new one. Then
     *       {@code lost L duplicated D corrupted C}; exit code 1 when any is nonzero.</li>
     *   <li>{@code --type net}: both back-ends serve the echo (loopback) model; a
     *       sequence-numbered frame stream (60..1514 bytes, at most half the queue unanswered)
     *       runs on one queue pair. The pause is from the last used element seen on the old
     *       back-end to the first on the new one. Then
     *       {@code lost L duplicated D corrupted C reordered R}; exit code 1 when D, C or R is
     *       nonzero (virtio-net may lose frames, so L is reported, not judged).</li>
     * </ul>
     */
    @Command(name = "swap", mixinStandardHelpOptions = true,
            description = {"Hot-swaps a device N times between two back-ends while traffic runs; prints the swap pause "
                    + "p50/p99/max and lost/duplicated/corrupted (net: and reordered) counts.",
                    "blk: both back-ends serve one image under a write-then-verify workload with checksums.",
                    "net: both back-ends serve the echo model; a sequence-numbered frame stream runs on one queue pair."},
            footerHeading = "%nExamples:%n",
            footer = {"  vhost bench swap --type blk --swaps 60 --workers 4 --iodepth 4 --interval 20ms",
                "  vhost bench swap --type net --swaps 60 --json"})
    static final class Swap implements Callable<Integer> {
        /** Bound on waiting for the first completion after a swap. */
        static final long FIRST_COMPLETION_TIMEOUT_NANOS = TimeUnit.SECONDS.toNanos(10);

        private final CliServices services;

        /** {@code --type}: the device swapped. */
        enum DeviceType { BLK, NET }

        // the defaults of the options with a hidden alias are initial values, not defaultValue:
        // picocli applies a defaultValue after parsing, over what the alias set
        @Option(names = "--type", paramLabel = "TYPE", description = "device type: blk (default) or net")
        DeviceType type = DeviceType.BLK;

        @Option(names = "--device", hidden = true, paramLabel = "TYPE", description = "--type (its earlier name)")
        void device(DeviceType t) {
            type = t;
        }

        @Option(names = "--swaps", paramLabel = "N", defaultValue = "50", description = "swaps to make (default ${DEFAULT-VALUE})")
        int swaps;

        @Option(names = "--image", paramLabel = "FILE",
                description = "raw image both back-ends serve (default: a temporary file of --size, deleted afterwards)")
        Path image;

        @Option(names = "--size", paramLabel = "SIZE", defaultValue = "32m", converter = SizeConverter.class,
                description = "size of the temporary image (default ${DEFAULT-VALUE})")
        long size;

        @Option(names = "--queues", paramLabel = "N", defaultValue = "2", description = "blk: request queues (default ${DEFAULT-VALUE})")
        int queues;

        @Option(names = "--queue-size", paramLabel = "N", defaultValue = "128",
                description = "descriptors per queue (default ${DEFAULT-VALUE})")
        int queueSize;

        @Option(names = "--packed",
                description = "ask for packed virtqueues (VIRTIO_F_RING_PACKED, VIRTIO 1.2 2.8); every swap restarts them fresh"
                        + " on the next back-end. Split ones are used when a back-end does not offer them (a notice says so)")
        boolean packed;

        @Option(names = "--workers", paramLabel = "W", defaultValue = "4",
                description = "blk: workload threads, each keeping --iodepth blocks in flight (default ${DEFAULT-VALUE})")
        int workers;

        @Option(names = "--iodepth", paramLabel = "D", description = "blk: blocks per worker batch (default 4)")
        int depth = 4;

        @Option(names = "--depth", hidden = true, paramLabel = "D", description = "--iodepth (its earlier name)")
        void depth(int d) {
            depth = d;
        }

        @Option(names = "--warmup", paramLabel = "N", defaultValue = "500",
                description = "swaps made first and not counted in the pause figures: the swap path runs a few times per"
                        + " swap, so the JIT compiles it only after some hundred swaps; their pauses (p50/p99/max) and the"
                        + " JVM's first swap, the cold case, are printed apart, and their requests are verified like the"
                        + " others (default ${DEFAULT-VALUE})")
        int warmup;

        /** {@code --interval} in milliseconds. */
        long intervalMs = 20;

        @Option(names = "--interval", paramLabel = "DURATION", converter = DurationConverter.class,
                description = "workload time between two swaps: 20ms, 1s (a number alone is seconds; default 20ms)")
        void interval(Duration d) {
            intervalMs = d.toMillis();
        }

        @Option(names = "--interval-ms", hidden = true, converter = DurationConverter.Millis.class,
                description = "--interval, a number alone being milliseconds (its earlier name)")
        void intervalMs(Duration d) {
            intervalMs = d.toMillis();
        }

        @picocli.CommandLine.Mixin
        JsonOption json = new JsonOption();

        Swap(CliServices services) {
            this.services = services;
        }

        @Override
        public Integer call() throws Exception {
            if (swaps < 1 || swaps > 100_000) {
                throw new UsageException("--swaps " + swaps + " outside 1..100000");
            }
            if (warmup < 0 || warmup > 100_000) {
                throw new UsageException("--warmup " + warmup + " outside 0..100000");
            }
            Checks.queues(queues, queueSize);
            PrintWriter out = json.notes(services);
            Path dir = Files.createTempDirectory("vhost-bench-swap");
            if (type == DeviceType.NET) {
                try {
                    return runNet(dir, out);
                } finally {
                    clean(dir);
                }
            }
            Path img = image;
            try {
                if (img == null) {
                    if (size < 1 << 20 || size % 4096 != 0) {
                        throw new UsageException("--size " + size + " is not a multiple of 4096 of at least 1 MiB");
                    }
                    img = dir.resolve("swap.img");
                    try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
                        f.setLength(size);
                    }
                }
                return run(img, dir, out);
            } finally {
                clean(dir);
            }
        }

        private void clean(Path dir) {
            try (Stream<Path> files = Files.walk(dir)) {
                files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            } catch (IOException e) {
                services.err().println("bench swap: cleaning up " + dir + ": " + e.getMessage());
            }
        }

        private int runNet(Path dir, PrintWriter out) throws Exception {
            NetTools tools = services.netTools();
            Path[] sockets = {dir.resolve("a.sock"), dir.resolve("b.sock")};
            VhostOps ops = services.backend("user", Duration.ofSeconds(10));
            int window = Math.max(1, Math.min(4096, queueSize / 2));
            try (NetTools.Served a = tools.serveLoopback(sockets[0], SocketOptions.PRIVATE, 1, queueSize, "52:54:00:12:34:56", 1500, false);
                    NetTools.Served b = tools.serveLoopback(sockets[1], SocketOptions.PRIVATE, 1, queueSize, "52:54:00:65:43:21", 1500, false);
                    NetDevice dev = tools.openDevice(ops.open(VhostTarget.of(sockets[0].toString())), 1, queueSize, false, packed)) {
                Checks.packedNotice(packed, dev.info().features(), dev.info().backend(), services.err());
                MeasuredSwap sw = tools.swappable(dev);
                if (sw == null) {
                    throw new IllegalStateException("the device on " + dev.info().backend() + " cannot be hot-swapped");
                }
                out.printf(Locale.ROOT, "bench swap: %d swaps of a net device between %s and %s (echo model, queue size %d%s),"
                        + " a sequence-numbered stream of 60..1514-byte frames, at most %d unanswered%n", swaps, sockets[0],
                        sockets[1], queueSize, ringKind(dev.info().features()), window);
                out.flush();
                NetTools.EchoStream stream = tools.startEchoStream(dev, 0, window, Math.min(32, window));
                SwapRun run = new SwapRun();
                long t0 = System.nanoTime();
                long[] r;
                try {
                    swapLoop(sw, ops, sockets, run, () -> stream.firstError() == null ? null
                            : "the stream failed: " + stream.firstError());
                    Thread.sleep(intervalMs);
                } finally {
                    r = stream.stop(2000);
                    double secs = (System.nanoTime() - t0) / 1e9;
                    if (json.json) {
                        Map<String, Object> doc = run.json("net");
                        doc.put("packed", !ringKind(dev.info().features()).isEmpty());
                        doc.put("lost", r[2]);
                        doc.put("duplicated", r[3]);
                        doc.put("corrupted", r[5]);
                        doc.put("reordered", r[4]);
                        doc.put("frames_sent", r[0]);
                        doc.put("frames_received", r[1]);
                        doc.put("elapsed_s", JsonOption.round(secs, 3));
                        doc.put("first_error", stream.firstError());
                        JsonOption.print(services.out(), doc);
                    } else {
                        run.print(out);
                        out.printf(Locale.ROOT, "lost %d duplicated %d corrupted %d reordered %d%n", r[2], r[3], r[5], r[4]);
                        out.printf(Locale.ROOT, "(%d frames sent, %d received in %.1f s%s)%n", r[0], r[1], secs,
                                stream.firstError() == null ? "" : "; first error: " + stream.firstError());
                        out.flush();
                    }
                }
                return r[3] != 0 || r[4] != 0 || r[5] != 0 || stream.firstError() != null ? VhostCli.EXIT_FAILURE : 0;
            }
        }

        private int run(Path img, Path dir, PrintWriter out) throws Exception {
            BlkTools tools = services.blkTools();
            Path[] sockets = {dir.resolve("a.sock"), dir.resolve("b.sock")};
            VhostOps ops = services.backend("user", Duration.ofSeconds(10));
            try (BlkTools.Served a = tools.serveImage(sockets[0], SocketOptions.PRIVATE, img, false, queues, queueSize);
                    BlkTools.Served b = tools.serveImage(sockets[1], SocketOptions.PRIVATE, img, false, queues, queueSize);
                    BlockDevice dev = tools.openDevice(ops.open(VhostTarget.of(sockets[0].toString())), queues, queueSize, false,
                            packed)) {
                Checks.packedNotice(packed, dev.info().features(), dev.info().backend(), services.err());
                BlkTools.Swappable sw = tools.swappable(dev);
                if (sw == null) {
                    throw new IllegalStateException("the device on " + dev.info().backend() + " cannot be hot-swapped");
                }
                out.printf(Locale.ROOT, "bench swap: %d swaps between %s and %s (%s, %d queue(s) of %d%s), %d workers × %d blocks of 4 KiB%n",
                        swaps, a.describe(), sockets[1], Sizes.human(a.capacityBytes()), queues, queueSize,
                        ringKind(dev.info().features()), workers, depth);
                out.flush();
                long region = Math.min(dev.info().capacityBytes(), 16L << 20);
                BlkTools.VerifiedLoad load = tools.startVerifiedWorkload(dev, region, 4096, workers, depth, System.nanoTime());
                SwapRun run = new SwapRun();
                long t0 = System.nanoTime();
                try {
                    swapLoop(sw, ops, sockets, run, () -> load.firstError() == null ? null
                            : "the workload failed: " + load.firstError());
                } finally {
                    long[] r = load.stop();
                    double secs = (System.nanoTime() - t0) / 1e9;
                    if (json.json) {
                        Map<String, Object> doc = run.json("blk");
                        doc.put("packed", !ringKind(dev.info().features()).isEmpty());
                        doc.put("lost", r[2]);
                        doc.put("duplicated", r[3]);
                        doc.put("corrupted", r[4]);
                        doc.put("writes", r[0]);
                        doc.put("reads_verified", r[1]);
                        doc.put("elapsed_s", JsonOption.round(secs, 3));
                        doc.put("first_error", load.firstError());
                        JsonOption.print(services.out(), doc);
                    } else {
                        run.print(out);
                        out.printf(Locale.ROOT, "lost %d duplicated %d corrupted %d%n", r[2], r[3], r[4]);
                        out.printf(Locale.ROOT, "(%d writes, %d reads verified in %.1f s%s)%n", r[0], r[1], secs,
                                load.firstError() == null ? "" : "; first error: " + load.firstError());
                        out.flush();
                    }
                    if (r[2] != 0 || r[3] != 0 || r[4] != 0) {
                        return VhostCli.EXIT_FAILURE;
                    }
                }
                return 0;
            }
        }

        /** @return ", packed" when the acked {@code features} have VIRTIO_F_RING_PACKED, else empty */
        private static String ringKind(long features) {
            return com.vhost.api.virtio.VirtioFeatures.has(features, com.vhost.api.virtio.VirtioFeatures.F_RING_PACKED) ? ", packed" : "";
        }

        /** Pauses of the warm-up and the measured swaps, in nanoseconds. */
        static final class SwapRun {
            final LatencyHistogram warm = new LatencyHistogram();
            final LatencyHistogram measured = new LatencyHistogram();
            /** The pause of the JVM's first swap (its control path cold), nanoseconds; -1 before it. */
            long first = -1;

            void record(boolean warmUp, long pauseNanos) {
                if (first < 0) {
                    first = pauseNanos;
                }
                (warmUp ? warm : measured).record(pauseNanos);
            }

            void print(PrintWriter out) {
                if (warm.count() > 0) {
                    out.printf(Locale.ROOT, "warm-up: %d swap(s), pause ms p50 %.2f p99 %.2f max %.2f, first swap %.2f"
                            + " (not in the figures below)%n", warm.count(), ms(warm.percentile(0.50)), ms(warm.percentile(0.99)),
                            ms(warm.max()), ms(first));
                }
                out.printf(Locale.ROOT, "swap pause ms: p50 %.2f p99 %.2f max %.2f (%d swaps)%n", ms(measured.percentile(0.50)),
                        ms(measured.percentile(0.99)), ms(measured.max()), measured.count());
            }

            /**
             * @return device, swaps and warmup_swaps made, pause, warmup_pause (nanoseconds),
             *     warmup_pause_max_ns and first_pause_ns, for {@code --json}
             */
            Map<String, Object> json(String device) {
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("device", device);
                m.put("swaps", measured.count());
                m.put("warmup_swaps", warm.count());
                m.put("pause", JsonOption.latency(measured));
                m.put("warmup_pause_max_ns", warm.max());
                m.put("warmup_pause", JsonOption.latency(warm));
                m.put("first_pause_ns", first);
                return m;
            }
        }

        /**
         * Makes {@code --warmup} then {@code --swaps} swaps, alternating between the two sockets,
         * {@code --interval} of traffic before each; each waits (bounded) for the first
         * completion on the new back-end and records its pause in {@code run}.
         *
         * @param failure the traffic's first error, checked before each swap, or null
         * @throws IllegalStateException when the traffic failed or a swap saw no completion in time
         */
        private void swapLoop(MeasuredSwap sw, VhostOps ops, Path[] sockets, SwapRun run,
                java.util.function.Supplier<String> failure) throws Exception {
            for (int i = 0; i < warmup + swaps; i++) {
                Thread.sleep(intervalMs);
                String f = failure.get();
                if (f != null) {
                    throw new IllegalStateException("swap " + (i + 1) + ": " + f);
                }
                long measured = sw.pausesMeasured();
                sw.rebind(ops.open(VhostTarget.of(sockets[(i + 1) % 2].toString())));
                long deadline = System.nanoTime() + FIRST_COMPLETION_TIMEOUT_NANOS;
                while (sw.pausesMeasured() == measured) {
                    if (System.nanoTime() > deadline) {
                        throw new IllegalStateException("swap " + (i + 1) + ": no completion on the new back-end within "
                                + TimeUnit.NANOSECONDS.toSeconds(FIRST_COMPLETION_TIMEOUT_NANOS) + " s");
                    }
                    Thread.sleep(1);
                }
                run.record(i < warmup, sw.lastPauseNanos());
            }
        }

        private static double ms(long nanos) {
            return nanos / 1e6;
        }
    }
}
