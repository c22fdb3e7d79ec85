package com.vhost.kernel;

import com.vhost.spi.tap.TapDevice;
import com.vhost.api.VhostBackendType;
import com.vhost.api.VhostException;
import com.vhost.api.VhostNativeException;
import com.vhost.api.VhostOps;
import com.vhost.api.VhostFeatureException;
import com.vhost.api.VhostTarget;
import com.vhost.api.registry.DeviceConfigKeys;
import com.vhost.spi.nativeio.Linux;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import org.osgi.service.component.annotations.Component;

/**
 * The vhost-kernel backend service ({@code vhost.backend.type=kernel}). A target's path is the
 * device node (default {@code /dev/vhost-net}); option {@code tap=NAME} names the TAP interface
 * the queues are attached to, and option {@code queue-pairs=N} (default 1) opens the node once
 * per receive/transmit pair and the TAP with {@code IFF_MULTI_QUEUE} and N queues, offering
 * {@code VIRTIO_NET_F_MQ} (see {@link VhostNetBackend}).
 */
@Component(service = VhostOps.class, property = {
    VhostOps.BACKEND_TYPE + "=kernel",
    VhostOps.BACKEND_NAME + "=kernel"
})
public final class VhostKernelOps implements VhostOps {
    /** Default device node. */
    public static final String DEFAULT_NODE = "/dev/vhost-net";
    /** Most queue pairs: 2 × 127 rings fit the generic device's 255 queues. */
    public static final int MAX_QUEUE_PAIRS = 127;

    @Override
    public VhostBackendType type() {
        return VhostBackendType.KERNEL;
    }

    @Override
    public String name() {
        return "kernel";
    }

    /**
     * Opens the node once per queue pair and, when option {@code tap} is given, the TAP interface
     * with one queue per pair.
     *
     * @throws VhostFeatureException when {@code queue-pairs} is not a number in 1..{@value #MAX_QUEUE_PAIRS}
     * @throws VhostNativeException naming the node and errno, with a hint when the node is missing
     */
    @Override
    public VhostNetBackend open(VhostTarget target) throws VhostException {
        String node = target.path().isEmpty() ? DEFAULT_NODE : target.path();
        int pairs = queuePairs(target);
        int[] fds = new int[pairs];
        java.util.Arrays.fill(fds, -1);
        String tapName = target.option(DeviceConfigKeys.OPTION_TAP, null);
        TapDevice tap = null;
        try {
            for (int p = 0; p < pairs; p++) {
                fds[p] = openNode(node);
            }
            if (tapName != null) {
                tap = TapDevice.open(tapName, pairs);
            }
            return new VhostNetBackend(fds, node, tap);
        } catch (VhostException | RuntimeException e) {
            for (int fd : fds) {
                Linux.closeQuietly(fd);
            }
            if (tap != null) {
                tap.close();
            }
            throw e;
        }
    }

    private static int queuePairs(VhostTarget target) throws VhostFeatureException {
        String key = target.options().containsKey(DeviceConfigKeys.OPTION_QUEUE_PAIRS)
                        || !target.options().containsKey(DeviceConfigKeys.OPTION_QUEUE_PAIRS_LEGACY)
                ? DeviceConfigKeys.OPTION_QUEUE_PAIRS
                : DeviceConfigKeys.OPTION_QUEUE_PAIRS_LEGACY;
        String v = target.option(key, "1");
        try {
            int n = Integer.parseInt(v.trim());
            if (n >= 1 && n <= MAX_QUEUE_PAIRS) {
                return n;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new VhostFeatureException(target.path() + ": kernel target option " + key + "=" + v
                + " is not a number of queue pairs in 1.." + MAX_QUEUE_PAIRS);
    }

    private static int openNode(String node) throws VhostNativeException {
        try {
            return Linux.open(node, Linux.O_RDWR);
        } catch (VhostNativeException e) {
            if (e.errno() == Linux.ENOENT) {
                throw new VhostNativeException("open(" + node + ")", e.errno(),
                        "no such device node: this kernel has no vhost-net (CONFIG_VHOST_NET) or the vhost_net module is not loaded");
            }
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
        String tap = target.option(DeviceConfigKeys.OPTION_TAP, null);
        if (tap != null && !Files.exists(Path.of("/dev/net/tun"))) {
            return Optional.of("/dev/net/tun: no such device node (tun module not loaded), needed for tap " + tap);
        }
        return Optional.empty();
    }
}
