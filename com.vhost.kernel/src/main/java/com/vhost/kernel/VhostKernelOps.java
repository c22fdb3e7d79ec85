package com.vhost.kernel;

import com.vhost.api.VhostBackend;
import com.vhost.api.VhostBackendType;
import com.vhost.api.VhostException;
import com.vhost.api.VhostNativeException;
import com.vhost.api.VhostOps;
import com.vhost.api.VhostTarget;
import com.vhost.runtime.nativeio.Linux;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import org.osgi.service.component.annotations.Component;

/**
 * The vhost-kernel backend service ({@code vhost.backend.type=kernel}). A target's path is the
 * device node (default {@code /dev/vhost-net}); option {@code tap=NAME} names the TAP interface
 * the queues are attached to.
 */
@Component(service = VhostOps.class, property = {
    VhostOps.BACKEND_TYPE + "=kernel",
    VhostOps.BACKEND_NAME + "=kernel"
})
public final class VhostKernelOps implements VhostOps {
    /** Default device node. */
    public static final String DEFAULT_NODE = "/dev/vhost-net";
    /** Target option: the TAP interface to attach. */
    public static final String OPTION_TAP = "tap";

    @Override
    public VhostBackendType type() {
        return VhostBackendType.KERNEL;
    }

    @Override
    public String name() {
        return "kernel";
    }

    /**
     * Opens the node and, when option {@code tap} is given, the TAP interface.
     *
     * @throws VhostNativeException naming the node and errno, with a hint when the node is missing
     */
    @Override
    public VhostBackend open(VhostTarget target) throws VhostException {
        String node = target.path().isEmpty() ? DEFAULT_NODE : target.path();
        int fd;
        try {
            fd = Linux.open(node, Linux.O_RDWR);
        } catch (VhostNativeException e) {
            if (e.errno() == Linux.ENOENT) {
                throw new VhostNativeException("open(" + node + ")", e.errno(),
                        "no such device node: this kernel has no vhost-net (CONFIG_VHOST_NET) or the vhost_net module is not loaded");
            }
            throw e;
        }
        String tapName = target.option(OPTION_TAP, null);
        TapDevice tap = null;
        try {
            if (tapName != null) {
                tap = TapDevice.open(tapName);
            }
            return new VhostNetBackend(fd, node, tap);
        } catch (VhostException | RuntimeException e) {
            Linux.closeQuietly(fd);
            throw e;
        }
    }

    @Override
    public Optional<String> unusableReason(VhostTarget target) {
        Path node = Path.of(target.path().isEmpty() ? DEFAULT_NODE : target.path());
        if (!Files.exists(node)) {
            return Optional.of(node + ": no such device node (vhost_net module not loaded or CONFIG_VHOST_NET unset)");
        }
        if (!Files.isReadable(node) || !Files.isWritable(node)) {
            return Optional.of(node + ": permission denied (needs read and write access)");
        }
        String tap = target.option(OPTION_TAP, null);
        if (tap != null && !Files.exists(Path.of("/dev/net/tun"))) {
            return Optional.of("/dev/net/tun: no such device node (tun module not loaded), needed for tap " + tap);
        }
        return Optional.empty();
    }
}
