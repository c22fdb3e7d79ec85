package com.vhost.user.backend;

import com.vhost.api.virtio.VirtioDevice;
import java.nio.file.Path;

/** COMPILE-ONLY placeholder of the agreed signature (see src/placeholder/README.md). */
public final class VhostUserServer implements AutoCloseable {
    public VhostUserServer(Path socket, VirtioDevice model) {
        throw new UnsupportedOperationException("compile-only placeholder");
    }

    public void start() throws Exception {
        throw new UnsupportedOperationException("compile-only placeholder");
    }

    @Override
    public void close() throws Exception {
        throw new UnsupportedOperationException("compile-only placeholder");
    }
}
