package com.vhost.cli;

import com.vhost.api.backend.SocketOptions;
import com.vhost.spi.nativeio.IoUring;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.TypeConversionException;

/** {@code vhost serve}: device models served as vhost-user back-ends. */
@Command(name = "serve", mixinStandardHelpOptions = true,
        description = "Serves a device model as a vhost-user back-end until interrupted.",
        subcommands = {ServeCommand.Blk.class, ServeNetCommand.class})
final class ServeCommand extends ParentCommand {
    /**
     * Options every {@code vhost serve} subcommand shares: where to listen, who may connect, and
     * the ring size.
     */
    static final class Listen {
        @Option(names = "--socket", paramLabel = "PATH", required = true,
                description = "UNIX socket to listen on (a stale socket there is replaced; a live server's socket, or any "
                        + "other kind of file, is refused and left alone)")
        Path socket;

        @Option(names = "--socket-mode", paramLabel = "MODE", defaultValue = "0600", converter = ModeConverter.class,
                description = "octal permission bits of the socket file, applied whatever the umask (default ${DEFAULT-VALUE}: "
                        + "only this user may connect; e.g. 0660 lets the group)")
        int socketMode;

        @Option(names = "--socket-group", paramLabel = "GROUP",
                description = "group of the socket file (name or number; default the process's), e.g. with --socket-mode 0660")
        String socketGroup;

        @Option(names = "--queue-size", paramLabel = "N", defaultValue = "256",
                description = "maximum descriptors per queue, a power of two (default ${DEFAULT-VALUE})")
        int queueSize;

        /** @return the socket file's mode and group as given */
        SocketOptions access() {
            return new SocketOptions(socketMode, socketGroup);
        }
    }

    /** picocli converter for {@link SocketOptions#parseMode} ({@code 0660}). */
    static final class ModeConverter implements ITypeConverter<Integer> {
        @Override
        public Integer convert(String value) {
            try {
                return SocketOptions.parseMode(value);
            } catch (IllegalArgumentException e) {
                throw new TypeConversionException(e.getMessage());
            }
        }
    }

    /**
     * Prints {@code serving DESCRIBE} and {@code press Ctrl-C to stop}, then blocks until the
     * framework stops (Ctrl-C, or {@code stop 0} in a shell).
     *
     * @param describe the served model's one-line description
     * @throws InterruptedException when interrupted while waiting
     */
    static void announceAndAwait(CliServices services, String describe) throws InterruptedException {
        services.out().println("serving " + describe);
        services.out().println("press Ctrl-C to stop");
        services.out().flush();
        services.awaitShutdown();
    }

    /** {@code vhost serve blk}. */
    @Command(name = "blk", mixinStandardHelpOptions = true,
            description = {"Serves a virtio-blk disk (an image file, or memory) as a vhost-user-blk back-end.",
                "The socket is private (mode 0600) unless --socket-mode/--socket-group widen it. The image must be a "
                        + "regular file or block device of a positive multiple of 512 bytes (a FIFO, /dev/null, a directory, "
                        + "an empty or odd-sized file is refused).",
                "Runs until Ctrl-C; the socket is removed on exit."},
            footerHeading = "%nExamples:%n",
            footer = {"  vhost serve blk --socket /tmp/vub.sock --memory 1G",
                "  vhost serve blk --socket /tmp/vub.sock --image disk.img --queues 4 --direct"})
    static final class Blk implements Callable<Integer> {
        private final CliServices services;

        @ArgGroup(exclusive = true, multiplicity = "1")
        Disk disk;

        static final class Disk {
            @Option(names = "--image", paramLabel = "FILE", description = "raw disk image: a regular file or block device, its size a positive multiple of 512")
            Path image;

            @Option(names = "--memory", paramLabel = "SIZE", converter = SizeConverter.class,
                    description = "serve a zero-filled in-memory disk of SIZE bytes instead (e.g. 64M)")
            Long memory;
        }

        @Mixin
        Listen listen;

        @Option(names = "--readonly", description = "offer VIRTIO_BLK_F_RO and refuse writes")
        boolean readOnly;

        @Option(names = "--queues", paramLabel = "N", defaultValue = "1", description = "request queues (default ${DEFAULT-VALUE})")
        int queues;

        @Option(names = "--aio", paramLabel = "ENGINE", defaultValue = "auto",
                description = {"image I/O: io_uring (many requests in flight per queue, completed in any order), threads "
                        + "(synchronous pread/pwrite on the queue worker), or auto (default: io_uring where this host allows it, "
                        + "else threads, saying why); a --memory disk always uses threads"})
        String aio;

        @Option(names = "--direct", description = "open the image O_DIRECT, bypassing the page cache (needs --aio io_uring or auto "
                + "resolving to it; buffers not 512-byte aligned go through the page cache)")
        boolean direct;

        @Option(names = "--complete-order", paramLabel = "ORDER", defaultValue = "in-order",
                description = "in-order (default) or random: complete requests in random order (a test mode for "
                        + "front-ends and inflight I/O tracking; --image with --aio threads only)")
        String completeOrder;

        Blk(CliServices services) {
            this.services = services;
        }

        @Override
        public Integer call() throws Exception {
            Checks.queues(queues, listen.queueSize);
            SocketOptions access = listen.access();
            BlkTools tools = services.blkTools();
            BlkTools.Served served;
            if (!"in-order".equals(completeOrder) && !"random".equals(completeOrder)) {
                throw new UsageException("--complete-order " + completeOrder + " is not in-order or random");
            }
            boolean random = "random".equals(completeOrder);
            if (disk.image != null) {
                served = tools.serveImage(listen.socket, access, disk.image, readOnly, queues, listen.queueSize,
                        random && "auto".equals(aio) ? "threads" : engine(), direct, random);
            } else {
                if (direct || "io_uring".equals(aio)) {
                    throw new IllegalArgumentException("--memory disks use --aio threads (no --aio io_uring, no --direct)");
                }
                if (disk.memory % 512 != 0 || disk.memory == 0) {
                    throw new UsageException("--memory " + disk.memory + " is not a positive multiple of 512");
                }
                if (readOnly) {
                    throw new UsageException("--readonly makes no sense for a zero-filled --memory disk");
                }
                if (random) {
                    throw new UsageException("--complete-order random needs --image");
                }
                served = tools.serveMemory(listen.socket, access, disk.memory, queues, listen.queueSize);
            }
            try (served) {
                announceAndAwait(services, served.describe());
            }
            return 0;
        }

        /**
         * @return {@code threads} or {@code io_uring}: {@code auto} resolved to io_uring when this
         *     process can set one up, else to threads with the reason on stderr
         * @throws IllegalArgumentException for another value, or {@code --direct} that cannot have io_uring
         */
        private String engine() {
            switch (aio) {
                case "threads", "io_uring" -> {
                    return aio;
                }
                case "auto" -> {
                    String why = IoUring.unavailableReason();
                    if (why == null) {
                        return "io_uring";
                    }
                    services.err().println("vhost serve blk: --aio auto: using threads: " + why);
                    return "threads";
                }
                default -> throw new UsageException("--aio " + aio + " is not one of io_uring, threads, auto");
            }
        }
    }
}
