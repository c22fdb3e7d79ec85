package com.vhost.cli;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code vhost serve}: device models served as vhost-user back-ends. */
@Command(name = "serve", mixinStandardHelpOptions = true,
        description = "Serves a device model as a vhost-user back-end until interrupted.",
        subcommands = {ServeCommand.Blk.class, ServeNetCommand.class})
final class ServeCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        spec.commandLine().usage(spec.commandLine().getErr());
        return 2;
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

        @Option(names = "--socket", paramLabel = "PATH", required = true, description = "UNIX socket to listen on")
        Path socket;

        @Option(names = "--readonly", description = "offer VIRTIO_BLK_F_RO and refuse writes")
        boolean readOnly;

        @Option(names = "--queues", paramLabel = "N", defaultValue = "1", description = "request queues (default ${DEFAULT-VALUE})")
        int queues;

        @Option(names = "--queue-size", paramLabel = "N", defaultValue = "256",
                description = "maximum descriptors per queue, a power of two (default ${DEFAULT-VALUE})")
        int queueSize;

        Blk(CliServices services) {
            this.services = services;
        }

        @Override
        public Integer call() throws Exception {
            Checks.queues(queues, queueSize);
            BlkTools tools = services.blkTools();
            BlkTools.Served served;
            if (disk.image != null) {
                served = tools.serveImage(socket, disk.image, readOnly, queues, queueSize);
            } else {
                if (disk.memory % 512 != 0 || disk.memory == 0) {
                    throw new IllegalArgumentException("--memory " + disk.memory + " is not a positive multiple of 512");
                }
                if (readOnly) {
                    throw new IllegalArgumentException("--readonly makes no sense for a zero-filled --memory disk");
                }
                served = tools.serveMemory(socket, disk.memory, queues, queueSize);
            }
            try (served) {
                services.out().println("serving " + served.describe());
                services.out().println("press Ctrl-C to stop");
                services.out().flush();
                services.awaitShutdown();
            }
            return 0;
        }
    }
}
