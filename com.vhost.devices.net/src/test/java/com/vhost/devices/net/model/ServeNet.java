package com.vhost.devices.net.model;

import com.vhost.user.backend.VhostUserServer;
import java.nio.file.Path;
import java.util.concurrent.CountDownLatch;

/**
 * Test-only launcher for tests that need a net back-end in a process of its own (to kill it):
 * serves the loopback (echo) model with {@link VhostUserServer}. Usage: {@code ServeNet SOCKET
 * [PAIRS]}. Prints {@code serving SOCKET} once listening; runs until killed.
 */
public final class ServeNet {
    private ServeNet() {}

    public static void main(String[] args) throws Exception {
        if (args.length < 1 || args.length > 2) {
            System.err.println("usage: ServeNet SOCKET [PAIRS]");
            System.exit(64);
        }
        Path socket = Path.of(args[0]);
        int pairs = args.length > 1 ? Integer.parseInt(args[1]) : 1;
        LoopbackNetModel model = LoopbackNetModel.withDefaults(pairs);
        VhostUserServer server = new VhostUserServer(socket, model);
        CountDownLatch stop = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            server.close();
            model.close();
            stop.countDown();
        }));
        server.start();
        System.out.println("serving " + socket);
        System.out.flush();
        stop.await();
    }
}
