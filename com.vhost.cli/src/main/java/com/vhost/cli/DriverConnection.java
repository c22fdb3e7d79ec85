package com.vhost.cli;

import com.vhost.api.VhostTarget;
import com.vhost.api.registry.DeviceConfigKeys;
import java.nio.file.Path;
import java.util.Map;
import picocli.CommandLine.Option;

/**
 * The connection options that the driver commands ({@code vhost blk ...}, {@code vhost net ...})
 * share word for word: the ring size and how long to retry a connect. Each device type's
 * picocli mixin ({@code BlkCommand.Connection}, {@code NetCommand.Connection}) extends this
 * with where the back-end is, {@code --queues} and {@code --poll}, whose meaning differs per type.
 */
abstract class DriverConnection {
    @Option(names = "--queue-size", paramLabel = "N", defaultValue = "256",
            description = "descriptors per queue, a power of two (default ${DEFAULT-VALUE})")
    int queueSize;

    /** {@code --connect-timeout} in milliseconds. */
    long connectTimeoutMs;

    @Option(names = "--connect-timeout", paramLabel = "DURATION", defaultValue = "0", converter = DurationConverter.class,
            description = "how long to retry connecting while the socket is missing or refuses: 500ms, 5s (a number alone is "
                + "seconds; default ${DEFAULT-VALUE}: fail at once, as qemu-io does; a path that is not a socket fails at once always)")
    void connectTimeout(java.time.Duration d) {
        connectTimeoutMs = d.toMillis();
    }

    /**
     * @param path a vhost-user socket or a device node
     * @return a target for {@code path} with option {@link VhostTarget#OPTION_CONNECT_TIMEOUT_MS}
     *     set from {@code --connect-timeout}
     */
    VhostTarget connectTarget(Path path) {
        return connectTarget(path, connectTimeoutMs);
    }

    /**
     * @param path a vhost-user socket or a device node
     * @param timeoutMs how long to retry connecting, in milliseconds
     * @return a target for {@code path} with option {@link VhostTarget#OPTION_CONNECT_TIMEOUT_MS}
     *     set to {@code timeoutMs}
     */
    static VhostTarget connectTarget(Path path, long timeoutMs) {
        return new VhostTarget(path.toString(), Map.of(DeviceConfigKeys.OPTION_CONNECT_TIMEOUT_MS, Long.toString(timeoutMs)));
    }
}
