package com.vhost.devices.blk.model;

import com.vhost.user.backend.VhostUserServer;
import java.nio.file.Path;
import java.util.concurrent.CountDownLatch;

/**
 * Test-only launcher for scripts/guest/blk-guest-test.sh ({@code VHOST_CMD}): serves the
 * file-backed blk model with {@link VhostUserServer}; also the back-end in a process of its own
 * that the driver contract kills ({@code BlkDriverContractTest}). Usage: {@code serve blk --image
 * IMG --socket SOCK [--queues N] [--queue-size N] [--aio threads|io_uring] [--direct]} (queue size default
 * 256). Prints {@code serving
 * SOCK} once listening; runs until killed (TERM closes the server and unlinks the socket).
 */
public final class ServeBlk {
    private ServeBlk() {}

    public static void main(String[] args) throws Exception {
        Path image = null;
        Path socket = null;
        int queues = 1;
        int queueSize = 256;
        FileBlockModel.Aio aio = FileBlockModel.Aio.THREADS;
        boolean direct = false;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "serve", "blk" -> { }
                case "--image" -> image = Path.of(args[++i]);
                case "--socket" -> socket = Path.of(args[++i]);
                case "--queues" -> queues = Integer.parseInt(args[++i]);
                case "--queue-size" -> queueSize = Integer.parseInt(args[++i]);
                case "--aio" -> aio = FileBlockModel.Aio.parse(args[++i]);
                case "--direct" -> direct = true;
                default -> throw new IllegalArgumentException("unknown argument " + args[i]);
            }
        }
        if (image == null || socket == null) {
            System.err.println("usage: serve blk --image IMG --socket SOCK [--queues N] [--queue-size N]");
            System.exit(64);
        }
        FileBlockModel model = FileBlockModel.open(image, false, queues, queueSize, aio, direct);
        VhostUserServer server = new VhostUserServer(socket, model);
        CountDownLatch stop = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            server.close();
            try {
                model.close();
            } catch (Exception e) {
                System.err.println("closing the blk model: " + e.getMessage());
            }
            stop.countDown();
        }));
        server.start();
        System.out.println("serving " + socket);
        System.out.flush();
        stop.await();
    }
}
