package com.vhost.user.backend;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.vhost.api.VhostNativeException;
import com.vhost.api.VhostTarget;
import com.vhost.api.backend.DeviceModel;
import com.vhost.api.backend.ServedBackend;
import com.vhost.api.backend.SocketOptions;
import com.vhost.api.user.VhostUserBackend;
import com.vhost.api.virtio.VirtioDevice;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.spi.nativeio.Linux;
import com.vhost.user.VhostUserOps;
import com.vhost.user.testing.RecordingDevice;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The back-end server's socket (issue #10): private under any umask, widened by
 * {@link SocketOptions}, and a second server on the path of a live one is refused while the first
 * keeps serving.
 */
@Timeout(30)
class SocketSafetyTest {
    private static final long VERSION_1 = VirtioFeatures.bit(VirtioFeatures.F_VERSION_1);

    @TempDir
    Path dir;

    private static String perms(Path p) throws Exception {
        return PosixFilePermissions.toString(Files.getPosixFilePermissions(p, LinkOption.NOFOLLOW_LINKS));
    }

    private static void assertServes(Path sock) throws Exception {
        try (VhostUserBackend fe = new VhostUserOps().open(VhostTarget.of(sock.toString()))) {
            assertThat(fe.getFeatures() & VERSION_1).isNotZero();
        }
    }

    private static DeviceModel model(AtomicBoolean closed) {
        RecordingDevice device = new RecordingDevice(1);
        return new DeviceModel() {
            @Override
            public VirtioDevice device() {
                return device;
            }

            @Override
            public String describe() {
                return "recording";
            }

            @Override
            public void close() {
                closed.set(true);
            }
        };
    }

    @Test
    void theSocketIsPrivateUnderUmask000() throws Exception {
        Path sock = dir.resolve("vu.sock");
        int old = Linux.umask(0);
        try (VhostUserServer server = new VhostUserServer(sock, new RecordingDevice(1))) {
            server.start();
            assertThat(perms(sock)).isEqualTo("rw-------");
            assertServes(sock);
        } finally {
            Linux.umask(old);
        }
    }

    @Test
    void theServiceAppliesTheModeAndGroupAsked() throws Exception {
        Path sock = dir.resolve("vu.sock");
        AtomicBoolean closed = new AtomicBoolean();
        try (ServedBackend served = new VhostUserBackendServer().serve(sock, model(closed), new SocketOptions(0660, "daemon"))) {
            assertThat(perms(sock)).isEqualTo("rw-rw----");
            assertThat(Files.getAttribute(sock, "posix:group", LinkOption.NOFOLLOW_LINKS).toString()).isEqualTo("daemon");
            assertServes(sock);
        }
        assertThat(closed).isTrue();
        assertThat(sock).doesNotExist();
    }

    @Test
    void anUnknownGroupIsNamedAndTheModelClosed() {
        Path sock = dir.resolve("vu.sock");
        AtomicBoolean closed = new AtomicBoolean();
        assertThatThrownBy(() -> new VhostUserBackendServer().serve(sock, model(closed), new SocketOptions(0660, "no-such-group-x")))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("'no-such-group-x'");
        assertThat(closed).isTrue();
        assertThat(sock).doesNotExist();
    }

    @Test
    void aSecondServerOnALiveSocketIsRefusedAndTheFirstKeepsServing() throws Exception {
        Path sock = dir.resolve("vu.sock");
        try (VhostUserServer first = new VhostUserServer(sock, new RecordingDevice(1))) {
            first.start();
            AtomicBoolean closed = new AtomicBoolean();
            assertThatThrownBy(() -> new VhostUserBackendServer().serve(sock, model(closed)))
                    .isInstanceOfSatisfying(VhostNativeException.class, e -> assertThat(e.errno()).isEqualTo(98))
                    .hasMessageContaining("socket " + sock + " is in use by another server");
            assertThat(closed).isTrue();
            assertThat(sock).exists();
            assertServes(sock);
            assertServes(sock);
        }
    }

    @Test
    void aStaleSocketIsReplacedAndAPlainFileIsNot() throws Exception {
        Path sock = dir.resolve("vu.sock");
        try (var dead = java.nio.channels.ServerSocketChannel.open(java.net.StandardProtocolFamily.UNIX)) {
            dead.bind(java.net.UnixDomainSocketAddress.of(sock));
        }
        try (VhostUserServer server = new VhostUserServer(sock, new RecordingDevice(1))) {
            server.start();
            assertServes(sock);
        }
        Path file = dir.resolve("disk.img");
        Files.writeString(file, "keep me");
        try (VhostUserServer server = new VhostUserServer(file, new RecordingDevice(1))) {
            assertThatThrownBy(server::start).hasMessageContaining("is a regular file, not a socket");
        }
        assertThat(file).hasContent("keep me");
    }
}
