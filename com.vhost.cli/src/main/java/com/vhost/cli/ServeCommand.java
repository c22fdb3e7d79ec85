package com.vhost.cli;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code vhost serve}: device models served as vhost-user back-ends. */
@Command(name = "serve", mixinStandardHelpOptions = true,
        description = "Serves a device model as a vhost-user back-end until interrupted.",
        subcommands = {ServeCommand.Blk.class, ServeNetCommand.class})
final class ServeCommand extends ParentCommand {
    /** Options every {@code vhost serve} subcommand shares: where to listen and the ring size. */
    static final class Listen {
        @Option(names = "--socket", paramLabel = "PATH", required = true, description = "UNIX socket to listen on")
        Path socket;

        @Option(names = "--queue-size", paramLabel = "N", defaultValue = "256",
                description = "maximum descriptors per queue, a power of two (default ${DEFAULT-VALUE})")
        int queueSize;
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
                "Runs until Ctrl-C; the socket is removed on exit."})
    static final class Blk implements Callable<Integer> {
        private final CliServices services;

        @ArgGroup(exclusive = true, multiplicity = "1")
        Disk disk;

        static final class Disk {
            @Option(names = "--image", paramLabel = "FILE", description = "raw disk image (size a multiple of 512)")
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

        Blk(CliServices services) {
            this.services = services;
        }

        @Override
        public Integer call() throws Exception {
            Checks.queues(queues, listen.queueSize);
            BlkTools tools = services.blkTools();
            BlkTools.Served served;
            if (disk.image != null) {
                served = tools.serveImage(listen.socket, disk.image, readOnly, queues, listen.queueSize);
            } else {
                if (disk.memory % 512 != 0 || disk.memory == 0) {
                    throw new IllegalArgumentException("--memory " + disk.memory + " is not a positive multiple of 512");
                }
                if (readOnly) {
                    throw new IllegalArgumentException("--readonly makes no sense for a zero-filled --memory disk");
                }
                served = tools.serveMemory(listen.socket, disk.memory, queues, listen.queueSize);
            }
            try (served) {
                announceAndAwait(services, served.describe());
            }
            return 0;
        }
    }
}
