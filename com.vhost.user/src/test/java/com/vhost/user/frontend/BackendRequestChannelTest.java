package com.vhost.user.frontend;

import static org.assertj.core.api.Assertions.assertThat;

import com.vhost.api.user.VhostUserProtocolFeature;
import com.vhost.spi.nativeio.OwnedFd;
import com.vhost.spi.nativeio.TestSockets;
import com.vhost.spi.nativeio.UnixSocket;
import com.vhost.user.connection.VhostUserConnection;
import com.vhost.user.message.BackendRequest;
import com.vhost.user.message.FrontendRequest;
import com.vhost.user.message.MessageHeader;
import com.vhost.user.message.U64Payload;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** SET_BACKEND_REQ_FD and the back-end's CONFIG_CHANGE_MSG reaching the config change listener. */
@Timeout(20)
class BackendRequestChannelTest {
    private final List<OwnedFd> fds = new ArrayList<>();

    private MessageHeader expect(VhostUserConnection c, FrontendRequest req) throws Exception {
        fds.forEach(OwnedFd::close);
        fds.clear();
        MessageHeader h = c.receive(fds);
        assertThat(h.request()).isEqualTo(req.code());
        return h;
    }

    private static void reply(VhostUserConnection c, int code, long v) throws Exception {
        new U64Payload(v).encode(c.sendPayload(), 0);
        c.send(MessageHeader.reply(code, 8), null);
    }

    @Test
    void configChangeMessageRunsTheListenerAndOtherRequestsAreRefused() throws Exception {
        UnixSocket[] p = UnixSocket.pair();
        long protocol = VhostUserProtocolFeature.BACKEND_REQ.mask() | VhostUserProtocolFeature.REPLY_ACK.mask();
        CountDownLatch changed = new CountDownLatch(1);
        java.util.concurrent.atomic.AtomicReference<Throwable> failure = new java.util.concurrent.atomic.AtomicReference<>();
        try (VhostUserFrontend fe = new VhostUserFrontend(new VhostUserConnection(p[0], "fe"), "vhost-user:fake", 2000);
                VhostUserConnection back = new VhostUserConnection(p[1], "fake back-end")) {
            back.setTimeouts(5000, 5000);
            fe.setConfigChangeListener(changed::countDown);
            Thread script = Thread.ofPlatform().daemon().start(() -> {
                try {
                    expect(back, FrontendRequest.GET_FEATURES);
                    reply(back, FrontendRequest.GET_FEATURES.code(), (1L << 32) | (1L << 30));
                    expect(back, FrontendRequest.GET_PROTOCOL_FEATURES);
                    reply(back, FrontendRequest.GET_PROTOCOL_FEATURES.code(), protocol);
                    expect(back, FrontendRequest.SET_PROTOCOL_FEATURES);
                    MessageHeader h = expect(back, FrontendRequest.SET_BACKEND_REQ_FD);
                    assertThat(h.needsReply()).isTrue();
                    assertThat(h.size()).isZero();
                    assertThat(fds).hasSize(1);
                    UnixSocket channel = TestSockets.wrap(fds.remove(0).release(), "backend channel");
                    reply(back, FrontendRequest.SET_BACKEND_REQ_FD.code(), 0);
                    try (VhostUserConnection ch = new VhostUserConnection(channel, "backend channel")) {
                        ch.setTimeouts(5000, 5000);
                        List<OwnedFd> none = new ArrayList<>();
                        ch.send(MessageHeader.request(BackendRequest.CONFIG_CHANGE_MSG.code(), 0, true), null);
                        MessageHeader ack = ch.receive(none);
                        assertThat(ack.request()).isEqualTo(BackendRequest.CONFIG_CHANGE_MSG.code());
                        assertThat(ack.isReply()).isTrue();
                        assertThat(U64Payload.decode("ack", ch.receivePayload(), 0, ack.size()).value()).isZero();
                        ch.send(MessageHeader.request(BackendRequest.VRING_CALL.code(), 0, true), null);
                        MessageHeader nack = ch.receive(none);
                        assertThat(U64Payload.decode("ack", ch.receivePayload(), 0, nack.size()).value())
                                .isEqualTo(BackendRequestChannel.UNSUPPORTED);
                    }
                } catch (Throwable e) {
                    failure.set(e);
                }
            });
            fe.getFeatures();
            fe.setProtocolFeatures(protocol);
            assertThat(changed.await(5, TimeUnit.SECONDS)).isTrue();
            script.join(5000);
            assertThat(script.isAlive()).isFalse();
            assertThat(failure.get()).isNull();
        }
    }
}
