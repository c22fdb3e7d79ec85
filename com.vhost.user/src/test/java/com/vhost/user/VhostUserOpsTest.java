package com.vhost.user;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.vhost.api.user.VhostUserBackend;
import com.vhost.api.VhostBackendType;
import com.vhost.api.VhostNativeException;
import com.vhost.api.VhostProtocolException;
import com.vhost.api.VhostTarget;
import com.vhost.api.VhostTimeoutException;
import com.vhost.api.registry.DeviceConfigKeys;
import com.vhost.spi.nativeio.OwnedFd;
import com.vhost.spi.nativeio.UnixServer;
import com.vhost.spi.nativeio.UnixSocket;
import com.vhost.user.connection.VhostUserConnection;
import com.vhost.user.message.FrontendRequest;
import com.vhost.user.message.MessageHeader;
import com.vhost.user.message.U64Payload;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

@Timeout(30)
class VhostUserOpsTest {
    @TempDir
    Path dir;
    private final VhostUserOps ops = new VhostUserOps();

    @Test
    void identity() {
        assertThat(ops.type()).isEqualTo(VhostBackendType.USER);
        assertThat(ops.name()).isEqualTo("user");
    }

    @Test
    void unusableReasonNamesMissingFilesAndNonSockets() throws Exception {
        Path missing = dir.resolve("none.sock");
        assertThat(ops.unusableReason(VhostTarget.of(missing.toString()))).contains(missing + ": no such file");
        Path file = Files.writeString(dir.resolve("file"), "x");
        assertThat(ops.unusableReason(VhostTarget.of(file.toString()))).contains(file + ": not a socket");
        try (UnixServer s = UnixServer.listen(dir.resolve("ok.sock"))) {
            assertThat(ops.unusableReason(VhostTarget.of(s.path().toString()))).isEmpty();
        }
        assertThat(ops.unusableReason(new VhostTarget(missing.toString(), Map.of("mode", "server")))).isEmpty();
        assertThat(ops.unusableReason(new VhostTarget(dir.resolve("no/dir.sock").toString(), Map.of("mode", "server"))))
                .hasValueSatisfying(r -> assertThat(r).contains("does not exist"));
        assertThat(ops.unusableReason(new VhostTarget(missing.toString(), Map.of("mode", "both"))))
                .hasValueSatisfying(r -> assertThat(r).contains("mode=both"));
    }

    @Test
    void clientModeConnectFailureIsBoundedAndTyped() {
        Path missing = dir.resolve("none.sock");
        long t0 = System.nanoTime();
        assertThatThrownBy(() -> ops.open(new VhostTarget(missing.toString(), Map.of(DeviceConfigKeys.OPTION_CONNECT_TIMEOUT_MS, "300"))))
                .isInstanceOf(VhostNativeException.class).hasMessageContaining("none.sock");
        assertThat((System.nanoTime() - t0) / 1_000_000).isLessThan(5000);
        assertThatThrownBy(() -> ops.open(new VhostTarget(missing.toString(), Map.of(DeviceConfigKeys.OPTION_CONNECT_TIMEOUT_MS, "soon"))))
                .isInstanceOf(VhostProtocolException.class).hasMessageContaining("connect.timeout.ms=soon");
    }

    @Test
    void serverModeAcceptsOneBackEndOrTimesOut() throws Exception {
        Path path = dir.resolve("listen.sock");
        assertThatThrownBy(() -> ops.open(new VhostTarget(path.toString(),
                Map.of(DeviceConfigKeys.OPTION_MODE, "server", DeviceConfigKeys.OPTION_CONNECT_TIMEOUT_MS, "200"))))
                .isInstanceOf(VhostTimeoutException.class).hasMessageContaining("no back-end connected within 200 ms");

        CompletableFuture<Void> backend = CompletableFuture.runAsync(() -> {
            try (UnixSocket s = UnixSocket.connect(path, 5000); VhostUserConnection c = new VhostUserConnection(s, "fake")) {
                c.setTimeouts(5000, 5000);
                List<OwnedFd> fds = new ArrayList<>();
                MessageHeader h = c.receive(fds);
                assertThat(h.request()).isEqualTo(FrontendRequest.GET_FEATURES.code());
                new U64Payload(1L << 32).encode(c.sendPayload(), 0);
                c.send(MessageHeader.reply(h.request(), 8), null);
                c.receive(fds); // wait for the front-end to close
            } catch (com.vhost.api.VhostDisconnectedException expected) {
                // front-end closed
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        });
        try (VhostUserBackend fe = ops.open(new VhostTarget(path.toString(), Map.of(DeviceConfigKeys.OPTION_MODE, "server")))) {
            assertThat(fe.describe()).isEqualTo("vhost-user:" + path);
            assertThat(fe.getFeatures()).isEqualTo(1L << 32);
        }
        backend.get(5, TimeUnit.SECONDS);
    }
}
