package com.vhost.user;

import com.vhost.api.user.VhostUserBackend;
import com.vhost.api.VhostBackendType;
import com.vhost.api.VhostException;
import com.vhost.api.VhostOps;
import com.vhost.api.VhostProtocolException;
import com.vhost.api.VhostTarget;
import com.vhost.api.VhostTimeoutException;
import com.vhost.api.registry.DeviceConfigKeys;
import com.vhost.spi.nativeio.UnixServer;
import com.vhost.spi.nativeio.UnixSocket;
import com.vhost.user.connection.VhostUserConnection;
import com.vhost.user.frontend.VhostUserFrontend;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.Optional;
import org.osgi.service.component.annotations.Component;

/**
 * The vhost-user {@link VhostOps}: opens a {@link VhostUserFrontend} on a UNIX socket.
 *
 * <p>Target options: {@value VhostTarget#OPTION_MODE} {@code client} (default: connect to a
 * listening back-end, retrying until the timeout) or {@code server} (listen at the path and accept
 * one back-end); {@value VhostTarget#OPTION_CONNECT_TIMEOUT_MS} bounds the connect or accept
 * (default 5000 ms); {@value VhostUserFrontend#OPTION_REPLY_TIMEOUT_MS} bounds each wait for a
 * reply (default 10000 ms).
 *
 * <p>Registered as a DS component with {@code vhost.backend.type=user} and
 * {@code vhost.backend.name=user}; the public no-arg constructor serves plain Java use.
 */
@Component(immediate = true, service = VhostOps.class,
        property = {VhostOps.BACKEND_TYPE + "=user", VhostOps.BACKEND_NAME + "=user"})
public final class VhostUserOps implements VhostOps {
    /** Default connect / accept timeout in milliseconds. */
    public static final int DEFAULT_CONNECT_TIMEOUT_MS = 5000;
    /** Mode value: connect to a listening back-end. */
    public static final String MODE_CLIENT = "client";
    /** Mode value: listen and accept the back-end. */
    public static final String MODE_SERVER = "server";
    private static final int S_IFMT = 0170000;
    private static final int S_IFSOCK = 0140000;

    /** Creates the service (DS or plain Java). */
    public VhostUserOps() {}

    @Override
    public VhostBackendType type() {
        return VhostBackendType.USER;
    }

    @Override
    public String name() {
        return "user";
    }

    @Override
    public VhostUserBackend open(VhostTarget target) throws VhostException {
        String mode = mode(target);
        // connect: 0 is one attempt, no retry; accepting (server mode) needs a positive wait
        int connectMs = intOption(target, DeviceConfigKeys.OPTION_CONNECT_TIMEOUT_MS, DEFAULT_CONNECT_TIMEOUT_MS,
                MODE_SERVER.equals(mode) ? 1 : 0);
        int replyMs = intOption(target, DeviceConfigKeys.OPTION_REPLY_TIMEOUT_MS, VhostUserFrontend.DEFAULT_REPLY_TIMEOUT_MS, 1);
        Path path = Path.of(target.path());
        String description = "vhost-user:" + target.path();
        UnixSocket socket;
        if (MODE_SERVER.equals(mode)) {
            try (UnixServer server = UnixServer.listen(path)) {
                socket = server.accept(connectMs);
                if (socket == null) {
                    throw new VhostTimeoutException(description + ": no back-end connected within " + connectMs + " ms");
                }
            }
        } else {
            socket = UnixSocket.connect(path, connectMs);
        }
        return new VhostUserFrontend(new VhostUserConnection(socket, description), description, replyMs);
    }

    @Override
    public Optional<String> unusableReason(VhostTarget target) {
        String mode;
        try {
            mode = mode(target);
        } catch (VhostProtocolException e) {
            return Optional.of(e.getMessage());
        }
        Path path = Path.of(target.path());
        if (MODE_SERVER.equals(mode)) {
            Path dir = path.toAbsolutePath().getParent();
            if (dir == null || !Files.isDirectory(dir)) {
                return Optional.of(target.path() + ": directory " + dir + " does not exist");
            }
            if (!Files.isWritable(dir)) {
                return Optional.of(target.path() + ": directory " + dir + " is not writable");
            }
            return Optional.empty();
        }
        if (!Files.exists(path, LinkOption.NOFOLLOW_LINKS) && !Files.exists(path)) {
            return Optional.of(target.path() + ": no such file");
        }
        try {
            Object m = Files.getAttribute(path, "unix:mode");
            if (m instanceof Integer mode2 && (mode2 & S_IFMT) != S_IFSOCK) {
                return Optional.of(target.path() + ": not a socket");
            }
        } catch (UnsupportedOperationException | IllegalArgumentException | IOException e) {
            if (Files.isRegularFile(path) || Files.isDirectory(path)) {
                return Optional.of(target.path() + ": not a socket");
            }
        }
        return Optional.empty();
    }

    private static String mode(VhostTarget target) throws VhostProtocolException {
        String mode = target.option(DeviceConfigKeys.OPTION_MODE, MODE_CLIENT);
        if (!MODE_CLIENT.equals(mode) && !MODE_SERVER.equals(mode)) {
            throw new VhostProtocolException(target.path() + ": option mode=" + mode + " is neither client nor server");
        }
        return mode;
    }

    private static int intOption(VhostTarget target, String key, int def, int min) throws VhostProtocolException {
        String v = target.option(key, null);
        if (v == null) {
            return def;
        }
        try {
            int n = Integer.parseInt(v.trim());
            if (n < min) {
                throw new NumberFormatException("below " + min);
            }
            return n;
        } catch (NumberFormatException e) {
            throw new VhostProtocolException(target.path() + ": option " + key + "=" + v + " is not an integer of at least "
                    + min + " (ms)");
        }
    }
}
