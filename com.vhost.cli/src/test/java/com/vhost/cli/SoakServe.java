package com.vhost.cli;

import com.vhost.api.backend.SocketOptions;
import java.nio.file.Path;

/**
 * The back-end of {@link ReconnectSoakTest} in a JVM of its own: this platform's file-backed
 * virtio-blk model served through {@link ServiceBlkTools} (what {@code vhost serve blk} uses).
 * Usage: {@code SOCKET IMAGE QUEUES}. Prints {@code serving SOCKET} once it listens; runs until
 * killed.
 */
public final class SoakServe {
    private SoakServe() {}

    public static void main(String[] args) throws Exception {
        CapturingServices services = new CapturingServices() {};
        BlkTools.Served served = services.blkTools().serveImage(Path.of(args[0]), SocketOptions.PRIVATE, Path.of(args[1]), false,
                Integer.parseInt(args[2]), 256);
        System.out.println("serving " + served.socket());
        System.out.flush();
        Thread.sleep(Long.MAX_VALUE);
    }
}
