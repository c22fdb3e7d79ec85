package com.vhost.cli;

import com.vhost.api.VhostBackend;
import com.vhost.api.VhostOps;
import com.vhost.api.VirtioDeviceException;
import com.vhost.api.blk.BlockDevice;
import com.vhost.api.blk.BlockDeviceInfo;
import com.vhost.api.registry.DeviceConfigKeys;
import java.io.IOException;
import java.io.PrintWriter;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code vhost blk}: this platform as the virtio-blk driver of a vhost-user-blk back-end (this
 * platform's own {@code vhost serve blk}, qemu-storage-daemon, ...).
 */
@Command(name = "blk", mixinStandardHelpOptions = true,
        description = "Drives a vhost-user-blk back-end (or a vDPA device) as a virtio-blk driver: info, read, write, "
            + "bench, verify.",
        footerHeading = "%nExamples:%n",
        footer = {"  vhost blk info --socket /tmp/vub.sock",
            "  vhost blk read --socket /tmp/vub.sock --offset 1M --length 4k",
            "  vhost blk write --socket /tmp/vub.sock --offset 0 --in boot.bin",
            "  vhost blk bench --socket /tmp/vub.sock --rw randwrite --iodepth 32 --queues 2",
            "  vhost blk verify --socket /tmp/vub.sock --seconds 2m --reconnect",
            "  vhost blk info --vdpa /dev/vhost-vdpa-0"},
        subcommands = {BlkCommand.Info.class, BlkCommand.Read.class, BlkCommand.Write.class, BlkCommand.Bench.class,
            BlkCommand.Verify.class})
final class BlkCommand extends ParentCommand {
    /** Bound on one request. */
    static final long REQUEST_TIMEOUT_SECONDS = 30;
    /** Bound on waiting for the vhost-user VhostOps service. */
    static final Duration BACKEND_WAIT = Duration.ofSeconds(10);
    /** Largest request the read and write commands issue. */
    static final int CHUNK = 1 << 20;


    /**
     * Options every blk subcommand shares: where the back-end listens and how many queues to use
     * (with {@code --queue-size} and {@code --connect-timeout} from {@link DriverConnection}).
     */
    static final class Connection extends DriverConnection {
        @picocli.CommandLine.ArgGroup(exclusive = true, multiplicity = "1")
        Where where;

        /** Exactly one of: a socket or device node (with --backend), or a vDPA node. */
        static final class Where {
            @Option(names = {"--socket", "--device"}, paramLabel = "PATH", required = true,
                    description = "the back-end's vhost-user socket, or the device node of a vdpa backend (with --backend vdpa)")
            Path socket;

            @Option(names = "--vdpa", paramLabel = "NODE", required = true,
                    description = "a vhost-vdpa device node, e.g. /dev/vhost-vdpa-1 (same as --backend vdpa --device NODE)")
            Path vdpa;
        }

        @Option(names = "--backend", paramLabel = "TYPE", defaultValue = "user", converter = BlkBackendConverter.class,
                description = "VhostOps backend type: user or vdpa (default ${DEFAULT-VALUE}; the kernel's vhost drives net only)")
        String backendType;

        @Option(names = "--queues", paramLabel = "N", defaultValue = "1", description = "request queues to use (default ${DEFAULT-VALUE})")
        int queues;

        @Option(names = "--poll", description = "find completions by polling the used ring (no call eventfd waits)")
        boolean poll;

        @Option(names = "--packed", description = {"ask for packed virtqueues (VIRTIO_F_RING_PACKED, VIRTIO 1.2 2.8);",
            "split ones, with a notice, when the back-end does not offer them (qemu-storage-daemon 7.2)"})
        boolean packed;

        @Option(names = "--in-order", description = {"negotiate VIRTIO_F_IN_ORDER (VIRTIO 1.2 2.7.9, 2.8.8) when the back-end offers it",
            "(left out by default: a device that acked it cannot move to a back-end without it, e.g. qemu-storage-daemon)"})
        boolean inOrder;

        /** Connects through the vhost-user {@link VhostOps} service and starts the driver. */
        BlockDevice open(CliServices services) throws Exception {
            return open(services, -1);
        }

        /**
         * Connects and starts the driver; with {@code swapWaitMs >= 0} one that detaches when its
         * back-end goes away and holds its requests that many milliseconds for a rebind
         * ({@link BlkTools#openReconnectable}).
         */
        BlockDevice open(CliServices services, long swapWaitMs) throws Exception {
            Checks.queues(queues, queueSize);
            Checks.packedOneShot(packed, swapWaitMs);
            VhostBackend backend = opener(services, connectTimeoutMs).open();
            try {
                if (swapWaitMs >= 0) {
                    return services.blkTools().openReconnectable(backend, queues, queueSize, poll, swapWaitMs, inOrder);
                }
                BlockDevice dev = services.blkTools().openDevice(backend, queues, queueSize, poll, packed, inOrder);
                Checks.packedNotice(packed, dev.info().features(), dev.info().backend(), services.err());
                return dev;
            } catch (Exception | Error e) {
                backend.close();
                throw e;
            }
        }

        /** @return what opens a new back-end on the same path, retrying a connect for {@code timeoutMs} */
        Reconnector.Reopen opener(CliServices services, long timeoutMs) throws Exception {
            String type = where.vdpa != null ? "vdpa" : com.vhost.api.VhostBackendType.fromId(backendType).id();
            Path path = where.vdpa != null ? where.vdpa : where.socket;
            VhostOps ops = services.backend(type, BACKEND_WAIT);
            com.vhost.api.VhostTarget target = new com.vhost.api.VhostTarget(path.toString(),
                    java.util.Map.of(com.vhost.api.registry.DeviceConfigKeys.OPTION_CONNECT_TIMEOUT_MS, Long.toString(timeoutMs)));
            return () -> ops.open(target);
        }
    }

    /** How long {@code blk info} waits for GET_ID, in seconds. */
    static final long GET_ID_TIMEOUT_SECONDS = 5;

    static <T> T await(CompletableFuture<T> f, String what) throws Exception {
        return await(f, what, REQUEST_TIMEOUT_SECONDS);
    }

    /** As {@link #await(CompletableFuture, String)}, bounded by {@code seconds}. */
    static <T> T await(CompletableFuture<T> f, String what, long seconds) throws Exception {
        try {
            return f.get(seconds, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            Throwable c = e.getCause();
            if (c instanceof Exception ex) {
                throw ex;
            }
            throw e;
        } catch (TimeoutException e) {
            throw new VirtioDeviceException(what + " did not complete within " + seconds + " s", e);
        }
    }

    static void checkRange(BlockDeviceInfo info, long offset, long length) {
        int bs = info.blockSize();
        if (offset < 0 || offset % bs != 0) {
            throw new UsageException("--offset " + offset + " is not a non-negative multiple of the block size " + bs);
        }
        if (length < 0 || length % bs != 0) {
            throw new UsageException("length " + length + " is not a multiple of the block size " + bs);
        }
        if (offset > info.capacityBytes() || length > info.capacityBytes() - offset) {
            throw new UsageException("offset " + offset + " + length " + length + " is past the capacity "
                    + info.capacityBytes());
        }
    }

    /** What every blk subcommand holds: the services and the {@link Connection} options. */
    abstract static class Subcommand implements Callable<Integer> {
        final CliServices services;

        @Mixin
        Connection conn = new Connection();

        Subcommand(CliServices services) {
            this.services = services;
        }
    }

    /** {@code vhost blk read} and {@code write}: bytes moved at {@code --offset} in pieces of {@link #CHUNK}. */
    abstract static class Transfer extends Subcommand {
        @Option(names = "--offset", paramLabel = "O", defaultValue = "0", converter = SizeConverter.class,
                description = "byte offset, a multiple of the block size (default 0)")
        long offset;

        Transfer(CliServices services) {
            super(services);
        }

        /** One piece of a transfer: {@code part} is the buffer's first bytes, {@code at} the device byte offset. */
        @FunctionalInterface
        interface Piece {
            void move(MemorySegment part, long at) throws Exception;
        }

        /**
         * Calls {@code piece} for {@code [offset, offset + length)} in order, with slices of
         * {@code buf} of at most its size.
         */
        void inPieces(MemorySegment buf, long length, Piece piece) throws Exception {
            for (long done = 0; done < length; ) {
                int n = (int) Math.min(buf.byteSize(), length - done);
                piece.move(buf.asSlice(0, n), offset + done);
                done += n;
            }
        }
    }

    /** {@code vhost blk info}. */
    @Command(name = "info", mixinStandardHelpOptions = true,
            description = "Prints capacity, block size, queues and the negotiated features.")
    static final class Info extends Subcommand {
        @Mixin
        JsonOption json = new JsonOption();

        Info(CliServices services) {
            super(services);
        }

        @Override
        public Integer call() throws Exception {
            try (BlockDevice dev = conn.open(services)) {
                if (json.json) {
                    JsonOption.print(services.out(), describe(dev));
                } else {
                    print(dev, services.out());
                }
            }
            return 0;
        }

        /**
         * @return the device as {@code --json} prints it: backend, capacity_bytes, block_size,
         *     queues, queue_size, read_only, seg_max and size_max_bytes (null when unknown),
         *     features (the number), feature_names, id (null when GET_ID failed, with id_error)
         */
        static Map<String, Object> describe(BlockDevice dev) {
            BlockDeviceInfo i = dev.info();
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("backend", i.backend());
            m.put("capacity_bytes", i.capacityBytes());
            m.put("block_size", i.blockSize());
            m.put("queues", i.numQueues());
            m.put("queue_size", i.queueSize());
            m.put("read_only", i.readOnly());
            m.put("seg_max", i.segMax() == 0 ? null : i.segMax());
            m.put("size_max_bytes", i.sizeMax() == 0 ? null : i.sizeMax());
            m.put("features", i.features());
            m.put("feature_names", i.features() == 0 ? List.of() : List.of(FeatureNames.blk(i.features()).split(" ")));
            try {
                m.put("id", await(dev.getId(0), "GET_ID", GET_ID_TIMEOUT_SECONDS));
            } catch (Exception e) {
                m.put("id", null);
                m.put("id_error", VhostCli.message(e));
            }
            return m;
        }

        static void print(BlockDevice dev, PrintWriter out) {
            BlockDeviceInfo i = dev.info();
            out.printf(Locale.ROOT, "backend     %s%n", i.backend());
            out.printf(Locale.ROOT, "capacity    %d bytes (%s, %d sectors of 512)%n", i.capacityBytes(),
                    Sizes.human(i.capacityBytes()), i.capacityBytes() / 512);
            out.printf(Locale.ROOT, "block size  %d bytes%n", i.blockSize());
            out.printf(Locale.ROOT, "queues      %d x %d descriptors%n", i.numQueues(), i.queueSize());
            out.printf(Locale.ROOT, "read-only   %s%n", i.readOnly() ? "yes" : "no");
            out.printf(Locale.ROOT, "seg_max     %s, size_max %s%n", i.segMax() == 0 ? "unknown" : Integer.toString(i.segMax()),
                    i.sizeMax() == 0 ? "unknown" : i.sizeMax() + " bytes");
            out.printf(Locale.ROOT, "features    0x%x %s%n", i.features(), FeatureNames.blk(i.features()));
            String id;
            try {
                // a device answers GET_ID at once; one that does not (e.g. a back-end of another
                // device type, which takes the request as something else) is not waited for long
                id = '"' + await(dev.getId(0), "GET_ID", GET_ID_TIMEOUT_SECONDS) + '"';
            } catch (Exception e) {
                id = "(GET_ID failed: " + VhostCli.message(e) + "; is this a virtio-blk back-end?)";
            }
            out.printf(Locale.ROOT, "id          %s%n", id);
            out.flush();
        }
    }

    /** {@code vhost blk read}. */
    @Command(name = "read", mixinStandardHelpOptions = true,
            description = "Reads LENGTH bytes at OFFSET into a file, or as a hex dump when --out is absent.")
    static final class Read extends Transfer {
        /** Largest read shown as a hex dump. */
        static final long MAX_DUMP = 64 * 1024;

        @Option(names = "--length", paramLabel = "L", required = true, converter = SizeConverter.class,
                description = "bytes to read, a multiple of the block size (e.g. 4k, 1M)")
        long length;

        @Option(names = "--out", paramLabel = "FILE", description = "write the data to FILE (replaced)")
        Path out;

        Read(CliServices services) {
            super(services);
        }

        @Override
        public Integer call() throws Exception {
            if (out == null && length > MAX_DUMP) {
                throw new UsageException("--length " + length + " is too long for a hex dump (max " + MAX_DUMP
                        + "); give --out FILE");
            }
            try (BlockDevice dev = conn.open(services); Arena arena = Arena.ofConfined()) {
                checkRange(dev.info(), offset, length);
                MemorySegment buf = buffer(dev, arena, (int) Math.min(CHUNK, Math.max(length, dev.info().blockSize())));
                long start = System.nanoTime();
                try (FileChannel ch = out == null ? null : FileChannel.open(out, StandardOpenOption.CREATE,
                        StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
                    inPieces(buf, length, (part, at) -> {
                        await(dev.read(0, at, part), "read at offset " + at);
                        if (ch != null) {
                            ByteBuffer bb = part.asByteBuffer();
                            while (bb.hasRemaining()) {
                                ch.write(bb);
                            }
                        } else {
                            hexDump(part, at, services.out());
                        }
                    });
                }
                double s = (System.nanoTime() - start) / 1e9;
                if (out != null) {
                    services.out().printf(Locale.ROOT, "read %d bytes at offset %d into %s (%.1f MiB/s)%n", length, offset, out,
                            length / Math.max(s, 1e-9) / (1 << 20));
                }
            }
            return 0;
        }

        static void hexDump(MemorySegment data, long base, PrintWriter out) {
            HexFormat hex = HexFormat.of();
            byte[] line = new byte[16];
            for (long o = 0; o < data.byteSize(); o += 16) {
                int n = (int) Math.min(16, data.byteSize() - o);
                MemorySegment.copy(data, java.lang.foreign.ValueLayout.JAVA_BYTE, o, line, 0, n);
                StringBuilder sb = new StringBuilder(80);
                sb.append(String.format(Locale.ROOT, "%08x  ", base + o));
                for (int i = 0; i < 16; i++) {
                    sb.append(i < n ? hex.toHexDigits(line[i]) : "  ").append(i == 7 ? "  " : " ");
                }
                sb.append(" |");
                for (int i = 0; i < n; i++) {
                    sb.append(line[i] >= 0x20 && line[i] < 0x7f ? (char) line[i] : '.');
                }
                sb.append('|');
                out.println(sb);
            }
            out.flush();
        }
    }

    /** {@code vhost blk write}. */
    @Command(name = "write", mixinStandardHelpOptions = true,
            description = "Writes the contents of a file at OFFSET, then flushes.")
    static final class Write extends Transfer {
        @Option(names = "--in", paramLabel = "FILE", required = true,
                description = "data to write; its size must be a multiple of the block size")
        Path in;

        Write(CliServices services) {
            super(services);
        }

        @Override
        public Integer call() throws Exception {
            long length;
            try {
                length = Files.size(in);
            } catch (IOException e) {
                throw new UsageException("--in " + in + ": " + e.getMessage(), e);
            }
            try (BlockDevice dev = conn.open(services); Arena arena = Arena.ofConfined();
                    FileChannel ch = FileChannel.open(in, StandardOpenOption.READ)) {
                checkRange(dev.info(), offset, length);
                MemorySegment buf = buffer(dev, arena, (int) Math.min(CHUNK, Math.max(length, dev.info().blockSize())));
                long start = System.nanoTime();
                inPieces(buf, length, (part, at) -> {
                    ByteBuffer bb = part.asByteBuffer();
                    while (bb.hasRemaining()) {
                        if (ch.read(bb) < 0) {
                            throw new IOException(in + " shrank while being read");
                        }
                    }
                    await(dev.write(0, at, part), "write at offset " + at);
                });
                await(dev.flush(0), "flush");
                double s = (System.nanoTime() - start) / 1e9;
                services.out().printf(Locale.ROOT, "wrote %d bytes from %s at offset %d and flushed (%.1f MiB/s)%n", length, in,
                        offset, length / Math.max(s, 1e-9) / (1 << 20));
            }
            return 0;
        }
    }

    /** {@code vhost blk bench}. */
    @Command(name = "bench", mixinStandardHelpOptions = true,
            description = "Keeps IODEPTH requests in flight per queue for SECONDS; prints IOPS, MiB/s and latency p50/p99/max.",
            footerHeading = "%nExamples:%n",
            footer = {"  vhost blk bench --socket /tmp/vub.sock --rw randread --iodepth 32 --seconds 10",
                "  vhost blk bench --socket /tmp/vub.sock --rw write --bs 1M --seconds 2m --json"})
    static final class Bench extends Subcommand {
        @Option(names = "--rw", paramLabel = "MODE", defaultValue = "randread",
                description = "read, write, randread or randwrite (default ${DEFAULT-VALUE})")
        com.vhost.cli.Bench.Mode rw;

        @Option(names = "--bs", paramLabel = "B", defaultValue = "4k", converter = SizeConverter.class,
                description = "bytes per request (default ${DEFAULT-VALUE})")
        long bs;

        @Option(names = "--iodepth", paramLabel = "D", defaultValue = "16", description = "requests in flight per queue (default ${DEFAULT-VALUE})")
        int iodepth;

        @Option(names = "--seconds", paramLabel = "DURATION", defaultValue = "5", converter = DurationConverter.class,
                description = "run time: 30, 500ms, 2m (a number alone is seconds; default ${DEFAULT-VALUE}, at most 1h)")
        java.time.Duration time;

        /** {@code --engine}: how the bench drives the device. */
        enum Engine { RAW, API }

        @Option(names = "--engine", paramLabel = "E", defaultValue = "raw",
                description = {"raw: the driver's zero-allocation queue path, one thread per queue (default);",
                    "api: BlockDevice futures. raw falls back to api when the device has no low-level path."})
        Engine engine;

        @Mixin
        JsonOption json = new JsonOption();

        Bench(CliServices services) {
            super(services);
        }

        @Override
        public Integer call() throws Exception {
            com.vhost.cli.Bench.Mode mode = rw;
            com.vhost.cli.Bench.checkOptions(bs, iodepth, time);
            try (BlockDevice dev = conn.open(services)) {
                PrintWriter notes = json.notes(services);
                BlockDeviceInfo i = dev.info();
                com.vhost.cli.Bench.check(i, (int) bs, iodepth, conn.queues, time);
                notes.printf(Locale.ROOT, "bench %s bs=%d iodepth=%d queues=%d engine=%s%s for %s on %s (%s)%n",
                        mode.name().toLowerCase(Locale.ROOT), bs, iodepth, conn.queues, engine.name().toLowerCase(Locale.ROOT), conn.poll ? " poll" : "",
                        Durations.human(time),
                        i.backend(), Sizes.human(i.capacityBytes()));
                notes.flush();
                com.vhost.cli.Bench.Result r = null;
                Engine used = engine;
                Progress progress = new Progress(services.err(), services.terminal());
                long cpu0 = CpuTime.processNanos();
                if (engine == Engine.RAW) {
                    r = RawBench.run(dev, services.blkTools(), mode, (int) bs, iodepth, conn.queues, time, progress);
                    if (r == null) {
                        notes.println("(this device has no low-level queue path; using the BlockDevice API)");
                        used = Engine.API;
                    }
                }
                if (r == null) {
                    r = com.vhost.cli.Bench.run(dev, mode, (int) bs, iodepth, conn.queues, time, progress);
                }
                double cpu = CpuTime.secondsSince(cpu0);
                if (json.json) {
                    Map<String, Object> job = new LinkedHashMap<>();
                    job.put("rw", mode.name().toLowerCase(Locale.ROOT));
                    job.put("bs", bs);
                    job.put("iodepth", iodepth);
                    job.put("queues", conn.queues);
                    job.put("engine", used.name().toLowerCase(Locale.ROOT));
                    job.put("poll", conn.poll);
                    job.put("time_s", time.toNanos() / 1e9);
                    job.put("backend", i.backend());
                    job.put("capacity_bytes", i.capacityBytes());
                    Map<String, Object> doc = new LinkedHashMap<>();
                    doc.put("job", job);
                    doc.putAll(r.json());
                    doc.put("cpu_s", cpu < 0 ? null : JsonOption.round(cpu, 3));
                    JsonOption.print(services.out(), doc);
                } else {
                    services.out().println(r.summary() + "; front-end " + CpuTime.line(cpu, r.seconds()));
                }
                services.out().flush();
                return r.errors() == 0 ? 0 : VhostCli.EXIT_FAILURE;
            }
        }
    }

    /** {@code vhost blk verify}. */
    @Command(name = "verify", mixinStandardHelpOptions = true,
            description = {"Writes then reads back checksummed blocks for SECONDS (each block carries its block number, "
                + "a version and a checksum; reads check all three) and prints 'lost L duplicated D corrupted C' last; "
                + "exits non-zero when any is non-zero or a request failed.",
                "With --reconnect the driver waits for a back-end that dies and reconnects to the one restarted on the "
                + "same socket (every outstanding request completes exactly once), printing 'reconnected after N ms'."},
            footerHeading = "%nExamples:%n",
            footer = {"  vhost blk verify --socket /tmp/vub.sock --seconds 30 --queues 2",
                "  vhost blk verify --socket /tmp/vub.sock --seconds 2m --reconnect"})
    static final class Verify extends Subcommand {
        @Option(names = "--seconds", paramLabel = "DURATION", defaultValue = "10", converter = DurationConverter.class,
                description = "run time: 30, 500ms, 2m (a number alone is seconds; default ${DEFAULT-VALUE})")
        java.time.Duration time;

        @Option(names = "--reconnect", description = "survive a back-end that is killed and restarted on the same socket")
        boolean reconnect;

        /** {@code --reconnect-wait} in milliseconds (an initial value, not a defaultValue, which would override the alias). */
        long reconnectWaitMs = 30_000;

        @Option(names = "--reconnect-wait", paramLabel = "DURATION", converter = DurationConverter.class,
                description = "with --reconnect: how long requests wait for a new back-end (default 30s)")
        void reconnectWait(java.time.Duration d) {
            reconnectWaitMs = d.toMillis();
        }

        @Option(names = "--reconnect-wait-ms", hidden = true, converter = DurationConverter.Millis.class,
                description = "--reconnect-wait, a number alone being milliseconds (for old scripts)")
        void reconnectWaitMs(java.time.Duration d) {
            reconnectWaitMs = d.toMillis();
        }

        @Option(names = "--region", paramLabel = "B", defaultValue = "64M", converter = SizeConverter.class,
                description = "bytes at the start of the device to write (default ${DEFAULT-VALUE}, at most the capacity)")
        long region;

        @Option(names = "--bs", paramLabel = "B", defaultValue = "4k", converter = SizeConverter.class,
                description = "bytes per block (default ${DEFAULT-VALUE})")
        long bs;

        @Option(names = "--iodepth", paramLabel = "D", defaultValue = "8",
                description = "blocks each worker (one per queue) writes then reads at a time (default ${DEFAULT-VALUE})")
        int iodepth;

        @Mixin
        JsonOption json = new JsonOption();

        Verify(CliServices services) {
            super(services);
        }

        @Override
        public Integer call() throws Exception {
            if (time.isZero() || bs > Integer.MAX_VALUE || iodepth < 1) {
                throw new UsageException("--seconds and --iodepth must be positive, --bs at most 2 GiB");
            }
            PrintWriter out = json.notes(services);
            PrintWriter err = services.err();
            try (BlockDevice dev = conn.open(services, reconnect ? reconnectWaitMs : -1)) {
                BlkTools tools = services.blkTools();
                BlkTools.Reconnectable r = reconnect ? tools.reconnectable(dev) : null;
                Reconnector.Reopen reopen = reconnect ? conn.opener(services, 500) : null;
                BlkTools.Swappable counter = tools.swappable(dev);
                BlkVerify v = new BlkVerify(dev, region, (int) bs, conn.queues, iodepth,
                        counter == null ? null : counter::completedRequests, r, reopen, reconnectWaitMs, out);
                out.printf(Locale.ROOT, "verify %s, %d queue(s), bs=%d iodepth=%d%s on %s%n", Durations.human(time), conn.queues, bs, iodepth,
                        reconnect ? ", reconnecting" : "", dev.info().backend());
                out.flush();
                v.start();
                long start = System.nanoTime();
                Progress progress = new Progress(err, services.terminal());
                Progress.seconds(start, start + time.toNanos(), () -> true,
                        s -> progress.line(String.format(Locale.ROOT, "%d s: %d writes, %d reconnects", s, v.writes(), v.reconnects())));
                progress.done();
                BlkVerify.Outcome o = v.stop();
                if (o.firstError() != null) {
                    err.println("first error: " + o.firstError());
                    err.flush();
                }
                if (json.json) {
                    Map<String, Object> doc = new LinkedHashMap<>();
                    doc.put("time_s", time.toNanos() / 1e9);
                    doc.put("queues", conn.queues);
                    doc.put("bs", bs);
                    doc.put("iodepth", iodepth);
                    doc.put("reconnect", reconnect);
                    doc.put("backend", dev.info().backend());
                    doc.put("writes", o.writes());
                    doc.put("reads", o.reads());
                    doc.put("reconnects", o.reconnects());
                    doc.put("lost", o.lost());
                    doc.put("duplicated", o.duplicated());
                    doc.put("corrupted", o.corrupted());
                    doc.put("first_error", o.firstError());
                    doc.put("clean", o.clean());
                    JsonOption.print(services.out(), doc);
                } else {
                    out.printf(Locale.ROOT, "writes %d reads %d reconnects %d%n", o.writes(), o.reads(), o.reconnects());
                    out.println(o.counts());
                    out.flush();
                }
                return o.clean() ? 0 : VhostCli.EXIT_FAILURE;
            }
        }
    }

    static MemorySegment buffer(BlockDevice dev, Arena arena, int size) {
        try {
            return dev.allocateBuffer(size);
        } catch (IllegalStateException | UnsupportedOperationException e) {
            return arena.allocate(size, 4096);
        }
    }
}
