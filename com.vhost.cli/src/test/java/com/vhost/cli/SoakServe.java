package com.vhost.cli;

import com.vhost.api.backend.SocketOptions;
import java.nio.file.Path;

/**
 * The back-end of the kill -9 soaks ({@link ReconnectSoakTest}, {@link NetReconnectSoakTest}) in a
 * JVM of its own, served through the CLI's tools (what {@code vhost serve} uses). Usage:
 * {@code blk SOCKET IMAGE QUEUES [threads|io_uring|random]} (this platform's file-backed virtio-blk
 * model; {@code random}: aio threads, completing requests in random order) or
 * {@code net SOCKET PAIRS} (the loopback virtio-net model, queues of 256, MTU 1500, as
 * {@code vhost serve net --loopback}). Prints {@code serving SOCKET} once it listens; runs until
 * killed.
 */
public final class SoakServe {
    private SoakServe() {}

    public static void main(String[] args) throws Exception {
        CapturingServices services = new CapturingServices() {};
        Path socket = Path.of(args[1]);
        AutoCloseable served = switch (args[0]) {
            case "blk" -> services.blkTools().serveImage(socket, SocketOptions.PRIVATE, Path.of(args[2]), false,
                    Integer.parseInt(args[3]), 256, args.length > 4 && !"random".equals(args[4]) ? args[4] : "threads", false,
                    args.length > 4 && "random".equals(args[4]));
            case "net" -> services.netTools().serveLoopback(socket, SocketOptions.PRIVATE, Integer.parseInt(args[2]), 256,
                    "52:54:00:12:34:56", 1500, false);
            default -> throw new IllegalArgumentException("usage: SoakServe blk SOCKET IMAGE QUEUES [threads|io_uring|random] | net SOCKET PAIRS");
        };
        System.out.println("serving " + socket + " (" + served + ")");
        System.out.flush();
        Thread.sleep(Long.MAX_VALUE);
    }
}
