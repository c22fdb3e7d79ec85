package com.vhost.user.backend;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.vhost.api.VhostException;
import com.vhost.api.VhostRefusedException;
import com.vhost.api.VhostTarget;
import com.vhost.api.user.VhostUserBackend;
import com.vhost.api.user.VhostUserProtocolFeature;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.spi.nativeio.Linux;
import com.vhost.spi.nativeio.OwnedFd;
import com.vhost.spi.nativeio.SharedMemory;
import com.vhost.user.VhostUserOps;
import com.vhost.user.testing.RecordingDevice;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * SET_LOG_BASE with an fd the log cannot live in (a pipe, a memfd shorter than mmap_offset +
 * mmap_size) is refused under the back-end's refusal rule: with REPLY_ACK the front-end's NEED_REPLY
 * gets ack 1 and the session goes on (a good log is accepted next); without it the session ends
 * (QEMU reads SET_LOG_BASE's reply but not its value, so only a closed session shows it the
 * refusal) and the server serves the next front-end. The refusal's text is checked in
 * {@code MappedLogTest}; it is logged here.
 */
@Timeout(30)
class DirtyLogRefusalTest {
    @TempDir
    Path dir;
    private Path sock;
    private VhostUserServer server;

    @BeforeEach
    void start() throws Exception {
        sock = dir.resolve("vu.sock");
        server = new VhostUserServer(sock, new RecordingDevice(1));
        server.start();
    }

    @AfterEach
    void stop() {
        server.close();
    }

    private VhostUserBackend frontEnd(long protocol) throws Exception {
        VhostUserBackend fe = new VhostUserOps().open(VhostTarget.of(sock.toString()));
        fe.getFeatures();
        fe.setProtocolFeatures(fe.getProtocolFeatures() & protocol);
        fe.setFeatures(VirtioFeatures.bit(VirtioFeatures.F_VERSION_1));
        return fe;
    }

    @Test
    void withReplyAckABadLogIsRefusedAndTheSessionGoesOn() throws Exception {
        long proto = VhostUserProtocolFeature.LOG_SHMFD.mask() | VhostUserProtocolFeature.REPLY_ACK.mask();
        try (VhostUserBackend fe = frontEnd(proto); SharedMemory small = SharedMemory.create("log", 4096);
                SharedMemory good = SharedMemory.create("log", 4096)) {
            assertThatThrownBy(() -> fe.setLogBase(small.fd(), 8192, 0)).isInstanceOf(VhostRefusedException.class)
                    .hasMessageContaining("SET_LOG_BASE");
            int[] pipe = Linux.pipe();
            try (OwnedFd r = new OwnedFd(pipe[0]); OwnedFd w = new OwnedFd(pipe[1])) {
                assertThatThrownBy(() -> fe.setLogBase(r.fd(), 32, 0)).isInstanceOf(VhostRefusedException.class);
            }
            fe.setLogBase(good.fd(), 4096, 0);
            assertThat(fe.getFeatures()).isNotZero();
            assertThat(fe.isConnected()).isTrue();
        }
    }

    @Test
    void withoutReplyAckABadLogEndsTheSessionAndTheNextFrontEndIsServed() throws Exception {
        try (VhostUserBackend fe = frontEnd(VhostUserProtocolFeature.LOG_SHMFD.mask());
                SharedMemory small = SharedMemory.create("log", 4096)) {
            assertThatThrownBy(() -> fe.setLogBase(small.fd(), 8192, 0)).isInstanceOf(VhostException.class)
                    .hasMessageContaining("SET_LOG_BASE");
            assertThat(fe.isConnected()).isFalse();
        }
        try (VhostUserBackend next = frontEnd(VhostUserProtocolFeature.LOG_SHMFD.mask());
                SharedMemory good = SharedMemory.create("log", 4096)) {
            next.setLogBase(good.fd(), 4096, 0);
            assertThat(next.getFeatures()).isNotZero();
        }
    }
}
