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
     * Starts listening on {@code socket} and serves {@code model} until the returned handle is
     * closed.
     *
     * @param socket where to listen; a stale socket file is replaced
     * @param model the model to serve; owned by the returned handle from now on (closed with it,
     *     or at once when this method throws)
     * @return the running server
     * @throws com.vhost.api.VhostNativeException when the socket cannot be bound, with the errno
     * @throws VhostException for any other failure to start
     */
    ServedBackend serve(Path socket, DeviceModel model) throws VhostException;
}
