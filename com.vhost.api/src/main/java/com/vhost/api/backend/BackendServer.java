package com.vhost.api.backend;

import com.vhost.api.VhostException;
import java.nio.file.Path;
import org.osgi.annotation.versioning.ProviderType;

/**
 * A vhost-user back-end server (registered by the {@code com.vhost.user} bundle): serves a
 * {@link DeviceModel} to front-ends (QEMU, DPDK, this platform's own drivers) that connect to a
 * UNIX socket, one front-end session at a time, following the vhost-user protocol (QEMU
 * {@code docs/interop/vhost-user.rst}).
 */
@ProviderType
public interface BackendServer {
    /**
     * Starts listening on {@code socket}, private to this process's user ({@link SocketOptions#PRIVATE}),
     * and serves {@code model} until the returned handle is closed.
     *
     * @see #serve(Path, DeviceModel, SocketOptions)
     */
    default ServedBackend serve(Path socket, DeviceModel model) throws VhostException {
        return serve(socket, model, SocketOptions.PRIVATE);
    }

    /**
     * Starts listening on {@code socket} and serves {@code model} until the returned handle is
     * closed. The socket file gets exactly {@code options}' mode and group before the server
     * listens (so no peer connects while it has another mode). What already is at {@code socket}
     * (lstat(2)): a stale socket (connect refused: its server died) is replaced; a socket a server
     * answers on is left to it; anything else (a regular file, directory, FIFO, ...) is left alone.
     *
     * @param socket where to listen
     * @param model the model to serve; owned by the returned handle from now on (closed with it,
     *     or at once when this method throws)
     * @param options the socket file's mode and group
     * @return the running server
     * @throws com.vhost.api.VhostNativeException when the socket cannot be bound, with the errno:
     *     EADDRINUSE (98) and the message {@code socket P is in use by another server} when a live
     *     server answers on it; EEXIST (17) naming what the path is when it is not a socket
     * @throws IllegalArgumentException when {@code options} names a group that does not exist
     * @throws VhostException for any other failure to start
     */
    ServedBackend serve(Path socket, DeviceModel model, SocketOptions options) throws VhostException;

    /** @return the back-ends this server serves now (not yet closed), in the order they started */
    java.util.List<ServedBackend> served();
}
