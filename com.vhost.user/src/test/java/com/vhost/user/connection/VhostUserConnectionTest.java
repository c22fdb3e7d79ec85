package com.vhost.user.connection;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.vhost.api.VhostDisconnectedException;
import com.vhost.api.VhostProtocolException;
import com.vhost.api.VhostTimeoutException;
import com.vhost.spi.nativeio.EventFd;
import com.vhost.spi.nativeio.OwnedFd;
import com.vhost.spi.nativeio.UnixSocket;
import com.vhost.user.message.FrontendRequest;
import com.vhost.user.message.MessageHeader;
import com.vhost.user.message.U64Payload;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(20)
class VhostUserConnectionTest {
    private UnixSocket raw;
    private VhostUserConnection conn;
    private final List<OwnedFd> fds = new ArrayList<>();
    private final MemorySegment scratch = Arena.ofAuto().allocate(64);

    @BeforeEach
    void pair() throws Exception {
        UnixSocket[] p = UnixSocket.pair();
        conn = new VhostUserConnection(p[0], "test");
        raw = p[1];
        conn.setTimeouts(2000, 2000);
    }

    @AfterEach
    void close() {
        fds.forEach(OwnedFd::close);
        conn.close();
        raw.close();
    }

    @Test
    void messageWithFdRoundTripsAndTheFdIsOwnedAndWorks() throws Exception {
        UnixSocket[] p = UnixSocket.pair();
        try (VhostUserConnection a = new VhostUserConnection(p[0], "a"); VhostUserConnection b = new VhostUserConnection(p[1], "b");
                EventFd ev = EventFd.create()) {
            b.setTimeouts(2000, 2000);
            new U64Payload(0x0102030405060708L).encode(a.sendPayload(), 0);
            a.send(MessageHeader.request(FrontendRequest.SET_VRING_CALL.code(), 8, false), new int[] {ev.fd()});
            MessageHeader h = b.receive(fds);
            assertThat(h.request()).isEqualTo(13);
            assertThat(h.size()).isEqualTo(8);
            assertThat(U64Payload.decode("x", b.receivePayload(), 0, 8).value()).isEqualTo(0x0102030405060708L);
            assertThat(fds).hasSize(1);
            assertThat(fds.get(0).fd()).isNotEqualTo(ev.fd());
            // writing through the received fd signals the original eventfd
            try (EventFd received = EventFd.wrap(fds.remove(0).release())) {
                received.signal();
                assertThat(ev.await(1000)).isTrue();
            }
        }
    }

    /**
     * Issue #10 bounds: a received message with 8 fds (a full SET_MEM_TABLE) is taken; with 9 it
     * ends the session, naming the bound, and every fd it carried is closed.
     */
    @Test
    void aReceivedMessageWithMoreThan8FdsIsRefusedAndItsFdsClosed() throws Exception {
        try (EventFd ev = EventFd.create()) {
            int[] eight = new int[8];
            java.util.Arrays.fill(eight, ev.fd());
            MessageHeader.request(FrontendRequest.GET_FEATURES.code(), 0, false).encode(scratch, 0);
            raw.sendMsg(scratch, 0, 12, eight);
            conn.receive(fds);
            assertThat(fds).hasSize(8);
            fds.forEach(OwnedFd::close);
            fds.clear();
            int[] nine = new int[9];
            java.util.Arrays.fill(nine, ev.fd());
            raw.sendMsg(scratch, 0, 12, nine);
            assertThatThrownBy(() -> conn.receive(fds)).isInstanceOf(VhostProtocolException.class)
                    .hasMessageContaining("message carried 9 fds (max 8, VHOST_MEMORY_BASELINE_NREGIONS)");
            assertThat(fds).isEmpty();
        }
    }

    @Test
    void headerSplitAcrossSegmentsIsReassembled() throws Exception {
        MessageHeader.request(1, 8, false).encode(scratch, 0);
        scratch.set(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, 12, 77L);
        raw.sendMsg(scratch, 0, 5, null);
        Thread t = Thread.ofPlatform().start(() -> {
            try {
                Thread.sleep(50);
                raw.sendMsg(scratch, 5, 15, null);
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        });
        MessageHeader h = conn.receive(fds);
        t.join();
        assertThat(h.size()).isEqualTo(8);
        assertThat(U64Payload.decode("x", conn.receivePayload(), 0, 8).value()).isEqualTo(77L);
    }

    @Test
    void fdsOnPayloadBytesAreClosedAndRejected() throws Exception {
        try (EventFd ev = EventFd.create()) {
            MessageHeader.request(1, 8, false).encode(scratch, 0);
            raw.sendMsg(scratch, 0, 12, null);
            Thread.sleep(20);
            raw.sendMsg(scratch, 12, 8, new int[] {ev.fd()});
            assertThatThrownBy(() -> conn.receive(fds)).isInstanceOf(VhostProtocolException.class)
                    .hasMessageContaining("1 unexpected fds arrived with the payload of request 1");
            assertThat(fds).isEmpty();
        }
    }

    @Test
    void peerClosingIsDisconnectedBeforeAndInsideAMessage() throws Exception {
        MessageHeader.request(1, 8, false).encode(scratch, 0);
        raw.sendMsg(scratch, 0, 16, null); // header + half the payload
        raw.close();
        assertThatThrownBy(() -> conn.receive(fds)).isInstanceOf(VhostDisconnectedException.class)
                .hasMessageContaining("in the middle of the payload of request 1 (4 of 8 bytes)");

        UnixSocket[] p = UnixSocket.pair();
        try (VhostUserConnection c = new VhostUserConnection(p[0], "c")) {
            p[1].close();
            assertThatThrownBy(() -> c.receive(fds)).isInstanceOf(VhostDisconnectedException.class)
                    .hasMessage("c: peer closed the connection");
        }
    }

    @Test
    void silentPeerTimesOut() {
        conn.setTimeouts(200, 200);
        long t0 = System.nanoTime();
        assertThatThrownBy(() -> conn.receive(fds)).isInstanceOf(VhostTimeoutException.class)
                .hasMessageContaining("no message header within 200 ms");
        assertThat((System.nanoTime() - t0) / 1_000_000).isBetween(150L, 5000L);
    }

    @Test
    void badHeadersAndLimitsAreRejected() throws Exception {
        new MessageHeader(1, 0x41, 0).encode(scratch, 0);
        raw.sendMsg(scratch, 0, 12, null);
        assertThatThrownBy(() -> conn.receive(fds)).isInstanceOf(VhostProtocolException.class)
                .hasMessageContaining("reserved flag bits");
        assertThatThrownBy(() -> conn.send(new MessageHeader(1, 1, 0x2000), null)).isInstanceOf(VhostProtocolException.class)
                .hasMessageContaining("8192-byte payload");
        assertThatThrownBy(() -> conn.send(new MessageHeader(5, 1, 0), new int[9])).isInstanceOf(VhostProtocolException.class)
                .hasMessageContaining("9 fds (max 8, VHOST_MEMORY_BASELINE_NREGIONS)");
        conn.close();
        assertThatThrownBy(() -> conn.receive(fds)).isInstanceOf(VhostDisconnectedException.class);
    }
}
