package com.vhost.user.testing;

import com.vhost.api.VhostBackend;
import com.vhost.api.VhostException;
import com.vhost.api.VhostTarget;
import com.vhost.api.virtio.VirtioDevice;
import com.vhost.spi.testing.VirtioDriverContract;
import com.vhost.user.VhostUserOps;
import com.vhost.user.backend.VhostUserServer;
import java.nio.file.Path;

/**
 * A vhost-user back-end for {@link VirtioDriverContract}: a {@link VhostUserServer} in this JVM
 * serving a device model, or a {@link ServerProcess} (whose {@link #kill} is a SIGKILL). Named by
 * its socket's file name, which the drivers' summaries show.
 */
public final class UserBackend implements VirtioDriverContract.Backend {
    private final Path socket;
    private final VhostUserServer server;
    private final VirtioDevice model;
    private final ServerProcess process;

    private UserBackend(Path socket, VhostUserServer server, VirtioDevice model, ServerProcess process) {
        this.socket = socket;
        this.server = server;
        this.model = model;
        this.process = process;
    }

    /**
     * Serves {@code model} on {@code socket} in this JVM; {@link #close} closes the server, then
     * the model when it is {@link AutoCloseable}.
     */
    public static UserBackend serve(Path socket, VirtioDevice model) throws VhostException {
        VhostUserServer server = new VhostUserServer(socket, model);
        server.start();
        return new UserBackend(socket, server, model, null);
    }

    /** A back-end {@code process} serving on {@code socket}; {@link #kill} and {@link #close} SIGKILL it by PID. */
    public static UserBackend inProcess(Path socket, ServerProcess process) {
        return new UserBackend(socket, null, null, process);
    }

    /** @return the socket path */
    public Path socket() {
        return socket;
    }

    @Override
    public String name() {
        return socket.getFileName().toString();
    }

    @Override
    public VhostBackend connect() throws VhostException {
        return new VhostUserOps().open(VhostTarget.of(socket.toString()));
    }

    @Override
    public void kill() throws Exception {
        if (process != null) {
            process.kill();
        } else {
            close();
        }
    }

    @Override
    public void close() throws Exception {
        if (process != null) {
            process.close();
            return;
        }
        server.close();
        if (model instanceof AutoCloseable c) {
            c.close();
        }
    }
}
