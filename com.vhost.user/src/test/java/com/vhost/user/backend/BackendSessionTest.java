package com.vhost.user.backend;

import static org.assertj.core.api.Assertions.assertThat;

import com.vhost.api.VhostDisconnectedException;
import com.vhost.api.VhostException;
import com.vhost.api.VhostFeatures;
import com.vhost.api.VhostProtocolException;
import com.vhost.api.virtio.VirtioDeviceState;
import com.vhost.spi.nativeio.EventFd;
import com.vhost.spi.nativeio.OwnedFd;
import com.vhost.spi.nativeio.UnixSocket;
import com.vhost.user.connection.VhostUserConnection;
import com.vhost.user.message.FrontendRequest;
import com.vhost.user.message.MessageHeader;
import com.vhost.user.message.U64Payload;
import com.vhost.user.testing.RecordingDevice;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The session loop over a socket pair: receive, dispatch, reply; how it ends; what close releases. */
@Timeout(20)
class BackendSessionTest {
    private final ExecutorService pool = Executors.newCachedThreadPool();
    private final RecordingDevice device = new RecordingDevice(1);
    private VhostUserConnection front;
    private BackendSession session;
    private CompletableFuture<VhostException> ended;

    @AfterEach
    void stop() {
        if (front != null) {
            front.close();
        }
        pool.shutdownNow();
    }

    private void start() throws Exception {
        UnixSocket[] p = UnixSocket.pair();
        session = new BackendSession("test", device, new VhostUserConnection(p[0], "front-end"), 2000, pool);
        front = new VhostUserConnection(p[1], "back-end");
        front.setTimeouts(5000, 5000);
        ended = CompletableFuture.supplyAsync(() -> {
            try {
                session.serve();
                return null;
            } catch (VhostException e) {
                return e;
            } finally {
                session.close();
            }
        }, pool);
    }

    private void request(FrontendRequest req, boolean needReply, Long value, int[] fds) throws VhostException {
        int size = 0;
        if (value != null) {
            size = new U64Payload(value).encode(front.sendPayload(), 0);
        }
        front.send(MessageHeader.request(req.code(), size, needReply), fds);
    }

    private long reply(FrontendRequest req) throws VhostException {
        List<OwnedFd> fds = new ArrayList<>();
        MessageHeader h = front.receive(fds);
        assertThat(h.request()).isEqualTo(req.code());
        assertThat(h.isReply()).isTrue();
        assertThat(fds).isEmpty();
        return front.receivePayload().get(ValueLayout.JAVA_LONG_UNALIGNED, 0);
    }

    @Test
    void servesUntilTheFrontEndLeavesThenReleasesEverything() throws Exception {
        start();
        request(FrontendRequest.GET_FEATURES, false, null, null);
        assertThat(reply(FrontendRequest.GET_FEATURES)).isEqualTo(device.features() | VhostFeatures.bit(VhostFeatures.F_PROTOCOL_FEATURES)
                | VhostFeatures.bit(VhostFeatures.F_LOG_ALL));
        request(FrontendRequest.SET_PROTOCOL_FEATURES, true, BackendSession.PROTOCOL_FEATURES, null);
        assertThat(reply(FrontendRequest.SET_PROTOCOL_FEATURES)).isZero();
        request(FrontendRequest.GET_MAX_MEM_SLOTS, false, null, null);
        assertThat(reply(FrontendRequest.GET_MAX_MEM_SLOTS)).isEqualTo(BackendSession.MAX_MEM_SLOTS);
        front.close();
        assertThat(ended.get(5, TimeUnit.SECONDS)).isInstanceOf(VhostDisconnectedException.class);
        assertThat(device.state()).isEqualTo(VirtioDeviceState.NEW);
    }

    @Test
    void aMalformedMessageEndsTheSessionAndItsFdsAreClosed() throws Exception {
        start();
        try (EventFd stray = EventFd.create()) {
            request(FrontendRequest.GET_FEATURES, false, null, new int[] {stray.fd()});
            VhostException e = ended.get(5, TimeUnit.SECONDS);
            assertThat(e).isInstanceOf(VhostProtocolException.class).hasMessage("malformed GET_FEATURES: carried 1 fds, expected 0");
        }
        // the session closed its end
        assertThat(front.peerClosed()).isTrue();
    }
}
