package com.vhost.user.backend;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.vhost.api.MemoryRegion;
import com.vhost.api.user.VhostUserBackend;
import com.vhost.api.VhostRefusedException;
import com.vhost.api.VhostTarget;
import com.vhost.api.VringAddr;
import com.vhost.api.virtio.VirtioDeviceState;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.spi.nativeio.EventFd;
import com.vhost.spi.nativeio.SharedMemory;
import com.vhost.spi.nativeio.UnixSocket;
import com.vhost.user.VhostUserOps;
import com.vhost.user.message.MessageHeader;
import com.vhost.user.testing.RecordingDevice;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

@Timeout(30)
class ServerRobustnessTest {
    private static final long VERSION_1 = VirtioFeatures.bit(VirtioFeatures.F_VERSION_1);

    @TempDir
    Path dir;
    private Path sock;
    private RecordingDevice device;
    private VhostUserServer server;
    private final MemorySegment raw = Arena.ofAuto().allocate(64);

    @BeforeEach
    void start() throws Exception {
        sock = dir.resolve("vu.sock");
        device = new RecordingDevice(1);
        server = new VhostUserServer(sock, device);
        server.start();
    }

    @AfterEach
    void stop() {
        server.close();
    }

    private void garbage(int request, int flags, int size, int sendBytes) throws Exception {
        try (UnixSocket s = UnixSocket.connect(sock, 2000)) {
            new MessageHeader(request, flags, size).encode(raw, 0);
            s.sendMsg(raw, 0, sendBytes, null);
            // the server drops us: the next read sees EOF
            s.setReceiveTimeout(5000);
            assertThat(s.recvMsg(raw, 0, 8, new java.util.ArrayList<>())).isZero();
        }
    }

    private void assertStillServes(long expectedEnded) throws Exception {
        assertThat(server.awaitSessionsEnded(expectedEnded, 5000)).isTrue();
        try (VhostUserBackend fe = new VhostUserOps().open(VhostTarget.of(sock.toString()))) {
            assertThat(fe.getFeatures() & VERSION_1).isNotZero();
        }
    }

    @Test
    void garbageFrontEndsAreDroppedAndTheServerKeepsServing() throws Exception {
        garbage(1, 0xFF, 0, 12); // reserved flags
        assertStillServes(1);
        garbage(99, 1, 0, 12); // unknown request code
        assertStillServes(3);
        garbage(2, 1, 3, 15); // SET_FEATURES with a 3-byte payload
        assertStillServes(5);
        garbage(1, 1, 0x2000, 12); // oversize
        assertStillServes(7);
        garbage(3, 1 | MessageHeader.REPLY, 0, 12); // a "reply" sent as a request
        assertStillServes(9);
        assertThat(server.acceptedConnections()).isEqualTo(10);
    }

    @Test
    void aFrontEndStallingInsideAMessageIsDroppedAfterTheMessageTimeout() throws Exception {
        server.close();
        server = new VhostUserServer(sock, device);
        server.setMessageTimeoutMs(300);
        server.start();
        try (UnixSocket s = UnixSocket.connect(sock, 2000)) {
            new MessageHeader(2, 1, 8).encode(raw, 0); // SET_FEATURES, 8 payload bytes promised
            s.sendMsg(raw, 0, 14, null); // ... only 2 sent
            assertThat(server.awaitSessionsEnded(1, 5000)).isTrue();
        }
        assertStillServes(1);
    }

    @Test
    void closeStopsServingAndUnlinksTheSocket() throws Exception {
        try (UnixSocket s = UnixSocket.connect(sock, 2000)) {
            assertThat(server.awaitConnection(2000)).isTrue();
            server.close();
            assertThat(server.isConnected()).isFalse();
            s.setReceiveTimeout(2000);
            assertThat(s.recvMsg(raw, 0, 8, new java.util.ArrayList<>())).isZero();
        }
        assertThat(Files.exists(sock)).isFalse();
    }

    @Test
    void memorySlotsCanBeAddedAndRemovedWhileARingRuns() throws Exception {
        try (VhostUserBackend fe = new VhostUserOps().open(VhostTarget.of(sock.toString()));
                SharedMemory a = SharedMemory.create("a", 0x10000); SharedMemory b = SharedMemory.create("b", 0x10000);
                EventFd kick = EventFd.create(); EventFd call = EventFd.create()) {
            fe.getFeatures();
            fe.setProtocolFeatures(fe.getProtocolFeatures());
            fe.setFeatures(VERSION_1);
            MemoryRegion ra = new MemoryRegion(0, 0x10000, a.address(), 0, a.fd());
            MemoryRegion rb = new MemoryRegion(0x100000, 0x10000, b.address(), 0, b.fd());
            fe.addMemRegion(ra);
            fe.setVringNum(0, 16);
            fe.setVringAddr(new VringAddr(0, 0, a.address(), a.address() + 0x2000, a.address() + 0x1000, 0));
            fe.setVringCall(0, call.fd());
            fe.setVringKick(0, kick.fd());
            fe.setVringEnable(0, true);
            assertThat(device.state()).isEqualTo(VirtioDeviceState.ACTIVE);
            assertThat(call.await(2000)).isTrue();

            // adding a region re-activates the model over the new memory, keeping nextAvail
            fe.addMemRegion(rb);
            assertThat(device.calls).containsSubsequence("activate[0]", "sleep", "wake[]", "reset", "activate[0]");
            assertThat(device.lastQueues.get(0).nextAvail()).isEqualTo(3);
            // a region that does not exist is refused (REPLY_ACK)
            assertThatThrownBy(() -> fe.removeMemRegion(new MemoryRegion(0x200000, 0x1000, 0x1000, 0, -1)))
                    .isInstanceOf(VhostRefusedException.class).hasMessageContaining("REM_MEM_REG");
            fe.removeMemRegion(rb);
            // removing the region the ring lives in is refused and leaves the ring running
            assertThatThrownBy(() -> fe.removeMemRegion(ra)).isInstanceOf(VhostRefusedException.class);
            assertThat(device.state()).isEqualTo(VirtioDeviceState.ACTIVE);
            assertThat(a.segment().get(ValueLayout.JAVA_SHORT_UNALIGNED, 0x2002)).isEqualTo(RecordingDevice.USED_MARKER);
            // a ring outside guest memory is refused when it starts
            fe.getVringBase(0);
            fe.setVringAddr(new VringAddr(0, 0, 0x7000_0000_0000L, 0x7000_0000_2000L, 0x7000_0000_1000L, 0));
            assertThatThrownBy(() -> fe.setVringKick(0, kick.fd())).isInstanceOf(VhostRefusedException.class)
                    .hasMessageContaining("SET_VRING_KICK");
            // a ring change while started is refused
            fe.setVringAddr(new VringAddr(0, 0, a.address(), a.address() + 0x2000, a.address() + 0x1000, 0));
            fe.setVringKick(0, kick.fd());
            assertThatThrownBy(() -> fe.setVringNum(0, 32)).isInstanceOf(VhostRefusedException.class)
                    .hasMessageContaining("queue 0");
        }
    }

    @Test
    void aSecondFrontEndWaitsUntilTheFirstLeaves() throws Exception {
        VhostUserOps ops = new VhostUserOps();
        try (VhostUserBackend first = ops.open(VhostTarget.of(sock.toString()))) {
            assertThat(first.getFeatures()).isNotZero();
            assertThat(server.acceptedConnections()).isEqualTo(1);
        }
        try (VhostUserBackend second = ops.open(VhostTarget.of(sock.toString()))) {
            assertThat(second.getFeatures()).isNotZero();
        }
        assertThat(server.acceptedConnections()).isEqualTo(2);
        assertThat(List.of(device.state())).containsAnyOf(VirtioDeviceState.NEW, VirtioDeviceState.INACTIVE);
    }

    @Test
    void aCallFdThatIsAPipeIsRefusedWithReplyAckAndEndsTheSessionWithout() throws Exception {
        int[] p = com.vhost.spi.nativeio.Linux.pipe();
        try (com.vhost.spi.nativeio.OwnedFd r = new com.vhost.spi.nativeio.OwnedFd(p[0]);
                com.vhost.spi.nativeio.OwnedFd w = new com.vhost.spi.nativeio.OwnedFd(p[1]); EventFd call = EventFd.create()) {
            // with REPLY_ACK: refused (ack 1), the session goes on and takes an eventfd
            try (VhostUserBackend fe = new VhostUserOps().open(VhostTarget.of(sock.toString()))) {
                fe.setProtocolFeatures(fe.getProtocolFeatures());
                assertThatThrownBy(() -> fe.setVringCall(0, w.fd())).isInstanceOf(VhostRefusedException.class)
                        .hasMessageContaining("SET_VRING_CALL");
                fe.setVringCall(0, call.fd());
                assertThat(fe.getFeatures() & VERSION_1).isNotZero();
                assertThat(server.isConnected()).isTrue();
            }
            assertThat(server.awaitSessionsEnded(1, 5000)).isTrue();
            // without REPLY_ACK the front-end could not learn of the refusal: the session ends
            try (VhostUserBackend fe = new VhostUserOps().open(VhostTarget.of(sock.toString()))) {
                fe.getFeatures();
                fe.setVringCall(0, w.fd());
                assertThat(server.awaitSessionsEnded(2, 5000)).as("the session ended").isTrue();
            }
            assertStillServes(2);
        }
    }
}
