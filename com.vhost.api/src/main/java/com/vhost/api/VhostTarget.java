package com.vhost.api;

import java.util.Map;
import java.util.Objects;

/**
 * Where a {@link VhostOps} should connect: for {@code user} a vhost-user socket path, for
 * {@code kernel} a device node such as {@code /dev/vhost-net}, for {@code vdpa} a node such as
 * {@code /dev/vhost-vdpa-0}.
 *
 * @param path socket path or device node; never null
 * @param options backend-specific options, for example {@code mode=client|server} for vhost-user
 *     (the keys are listed in {@link com.vhost.api.registry.DeviceConfigKeys}, {@code OPTION_*})
 *     or {@code tap=NAME} for vhost-net; never null
 */
public record VhostTarget(String path, Map<String, String> options) {
    public VhostTarget {
        Objects.requireNonNull(path, "path");
        options = Map.copyOf(Objects.requireNonNull(options, "options"));
    }

    /** @param path socket path or device node */
    public static VhostTarget of(String path) {
        return new VhostTarget(path, Map.of());
    }

    /** @return the option's value, or {@code def} when absent */
    public String option(String key, String def) {
        return options.getOrDefault(key, def);
    }
}
