package com.vhost.vdpa;

import com.vhost.api.VhostBackendType;
import com.vhost.api.VhostException;
import com.vhost.api.VhostNativeException;
import com.vhost.api.VhostOps;
import com.vhost.api.VhostTarget;
import com.vhost.spi.nativeio.Linux;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import org.osgi.service.component.annotations.Component;

/** The vhost-vdpa backend service ({@code vhost.backend.type=vdpa}); a target is a {@code /dev/vhost-vdpa-N} node. */
@Component(service = VhostOps.class, property = {
    VhostOps.BACKEND_TYPE + "=vdpa",
    VhostOps.BACKEND_NAME + "=vdpa"
})
public final class VhostVdpaOps implements VhostOps {
    @Override
    public VhostBackendType type() {
        return VhostBackendType.VDPA;
    }

    @Override
    public String name() {
        return "vdpa";
    }

    /** @throws VhostNativeException naming the node and errno, with a hint when it is missing */
    @Override
    public VdpaBackend open(VhostTarget target) throws VhostException {
        String node = target.path();
        try {
            return new VdpaBackend(Linux.open(node, Linux.O_RDWR), node);
        } catch (VhostNativeException e) {
            if (e.errno() == Linux.ENOENT) {
                throw new VhostNativeException("open(" + node + ")", e.errno(),
                        "no such device node: add a vDPA device first (vdpa dev add ...) and load vhost_vdpa");
            }
            throw e;
        }
    }

    @Override
    public Optional<String> unusableReason(VhostTarget target) {
        Path node = Path.of(target.path());
        if (!Files.exists(node)) {
            return Optional.of(node + ": no such device node (no vDPA device bound to vhost_vdpa)");
        }
        if (!Files.isReadable(node) || !Files.isWritable(node)) {
            return Optional.of(node + ": permission denied (needs read and write access)");
        }
        return Optional.empty();
    }
}
