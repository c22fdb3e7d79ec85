package com.vhost.cli;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Where the daemon's control socket is when {@code --control} is not given: {@code
 * $XDG_RUNTIME_DIR/vhost/control.sock}; for root {@code /run/vhost/control.sock}; without
 * {@code XDG_RUNTIME_DIR}, {@code $TMPDIR/vhost-UID/control.sock} (JDK only: used by the plain
 * {@code vhost rpc} client too).
 */
final class ControlPath {
    private ControlPath() {}

    /** @return the default control socket path of this user */
    static Path defaultPath() {
        long uid = uid();
        if (uid == 0) {
            return Path.of("/run/vhost/control.sock");
        }
        String xdg = System.getenv("XDG_RUNTIME_DIR");
        if (xdg != null && !xdg.isBlank()) {
            return Path.of(xdg, "vhost", "control.sock");
        }
        return Path.of(System.getProperty("java.io.tmpdir"), "vhost-" + (uid < 0 ? System.getProperty("user.name") : uid),
                "control.sock");
    }

    /** @return this process's uid, or -1 when it cannot be read */
    static long uid() {
        try {
            return ((Number) Files.getAttribute(Path.of("/proc/self"), "unix:uid")).longValue();
        } catch (java.io.IOException | UnsupportedOperationException | IllegalArgumentException e) {
            return -1;
        }
    }
}
