package com.vhost.user.frontend;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.vhost.api.VhostDisconnectedException;
import com.vhost.api.VhostFeatureException;
import com.vhost.api.VhostProtocolException;
import com.vhost.api.VhostRefusedException;
import com.vhost.api.VhostTimeoutException;
import com.vhost.api.user.VhostUserProtocolFeature;
import com.vhost.api.user.VringRequest;
import com.vhost.api.VringAddr;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.spi.nativeio.EventFd;
import com.vhost.spi.nativeio.OwnedFd;
import com.vhost.spi.nativeio.UnixSocket;
import com.vhost.user.connection.VhostUserConnection;
import com.vhost.user.message.FrontendRequest;
import com.vhost.user.message.MessageHeader;
import com.vhost.user.message.U64Payload;
import com.vhost.user.message.VringState;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The front-end against a scripted fake back-end that misbehaves in one way per test. */
@Timeout(20)
class FakeBackendTest {
    private static final long VERSION_1 = VirtioFeatures.bit(VirtioFeatures.F_VERSION_1);
    private static final long PROTOCOL = 1L << 30;

    private VhostUserFrontend fe;
    private UnixSocket backSocket;
    private VhostUserConnection back;
    private final MemorySegment raw = Arena.ofAuto().allocate(64);
    private final List<OwnedFd> fds = new ArrayList<>();

    @BeforeEach
    void pair() throws Exception {
        UnixSocket[] p = UnixSocket.pair();
        fe = new VhostUserFrontend(new VhostUserConnection(p[0], "fake"), "vhost-user:fake", 500);
        backSocket = p[1];
        back = new VhostUserConnection(p[1], "fake back-end");
        back.setTimeouts(5000, 5000);
    }

    @AfterEach
    void close() {
        fds.forEach(OwnedFd::close);
        fe.close();
        back.close();
    }

    /** Runs {@code script} as the back-end in another thread. */
    private CompletableFuture<Void> backend(Script script) {
        CompletableFuture<Void> done = new CompletableFuture<>();
        Thread.ofPlatform().daemon().start(() -> {
            try {
                script.run();
                done.complete(null);
            } catch (Throwable t) {
                done.completeExceptionally(t);
            }
        });
        return done;
    }

    interface Script {
        void run() throws Exception;
    }

    private MessageHeader expect(FrontendRequest req) throws Exception {
        fds.forEach(OwnedFd::close);
        fds.clear();
        MessageHeader h = back.receive(fds);
        assertThat(h.request()).isEqualTo(req.code());
        return h;
    }

    private void replyU64(FrontendRequest req, long v) throws Exception {
        new U64Payload(v).encode(back.sendPayload(), 0);
        back.send(MessageHeader.reply(req.code(), 8), null);
    }

    /** Scripts GET_FEATURES / GET_PROTOCOL_FEATURES / SET_PROTOCOL_FEATURES / SET_FEATURES. */
    private void negotiateScript(long features, long protocol) throws Exception {
        expect(FrontendRequest.GET_FEATURES);
        replyU64(FrontendRequest.GET_FEATURES, features);
        expect(FrontendRequest.GET_PROTOCOL_FEATURES);
        replyU64(FrontendRequest.GET_PROTOCOL_FEATURES, protocol);
        expect(FrontendRequest.SET_PROTOCOL_FEATURES);
        MessageHeader h = expect(FrontendRequest.SET_FEATURES);
        if (h.needsReply()) {
            replyU64(FrontendRequest.SET_FEATURES, 0);
        }
    }

    private void negotiate(long protocol) throws Exception {
        CompletableFuture<Void> b = backend(() -> negotiateScript(VERSION_1 | PROTOCOL, protocol));
        fe.getFeatures();
        fe.setProtocolFeatures(fe.getProtocolFeatures());
        fe.setFeatures(VERSION_1);
        b.get(5, TimeUnit.SECONDS);
    }

    @Test
    void backendClosingMidRequestIsDisconnected() throws Exception {
        backend(() -> {
            expect(FrontendRequest.GET_FEATURES);
            back.close();
        });
        assertThatThrownBy(fe::getFeatures).isInstanceOf(VhostDisconnectedException.class)
                .hasMessageStartingWith("GET_FEATURES: ").hasMessageContaining("peer closed the connection");
        assertThat(fe.isConnected()).isFalse();
        assertThatThrownBy(() -> fe.setOwner()).isInstanceOf(VhostDisconnectedException.class).hasMessageContaining("SET_OWNER");
    }

    @Test
    void shortReplyPayloadIsAProtocolError() throws Exception {
        backend(() -> {
            expect(FrontendRequest.GET_FEATURES);
            back.send(MessageHeader.reply(FrontendRequest.GET_FEATURES.code(), 4), null);
        });
        assertThatThrownBy(fe::getFeatures).isInstanceOf(VhostProtocolException.class)
                .hasMessage("GET_FEATURES reply: payload size 4 bytes, expected 8");
        assertThat(fe.isConnected()).isFalse();
    }

    @Test
    void truncatedReplyTimesOut() throws Exception {
        backend(() -> {
            expect(FrontendRequest.GET_FEATURES);
            MessageHeader.reply(FrontendRequest.GET_FEATURES.code(), 8).encode(raw, 0);
            backSocket.sendMsg(raw, 0, 14, null); // header + 2 of 8 payload bytes, then silence
        });
        assertThatThrownBy(fe::getFeatures).isInstanceOf(VhostTimeoutException.class)
                .hasMessageContaining("GET_FEATURES").hasMessageContaining("within 500 ms");
    }

    @Test
    void silentBackendTimesOut() {
        assertThatThrownBy(fe::getFeatures).isInstanceOf(VhostTimeoutException.class)
                .hasMessageContaining("GET_FEATURES: fake: no message header within 500 ms");
    }

    @Test
    void garbledRepliesAreProtocolErrors() throws Exception {
        backend(() -> {
            expect(FrontendRequest.GET_FEATURES);
            new MessageHeader(FrontendRequest.GET_FEATURES.code(), 0xF5, 8).encode(raw, 0);
            backSocket.sendMsg(raw, 0, 20, null);
        });
        assertThatThrownBy(fe::getFeatures).isInstanceOf(VhostProtocolException.class)
                .hasMessageContaining("GET_FEATURES").hasMessageContaining("reserved flag bits");
    }

    @Test
    void replyForAnotherRequestIsRejected() throws Exception {
        backend(() -> {
            expect(FrontendRequest.GET_FEATURES);
            replyU64(FrontendRequest.GET_PROTOCOL_FEATURES, 0);
        });
        assertThatThrownBy(fe::getFeatures).isInstanceOf(VhostProtocolException.class)
                .hasMessage("GET_FEATURES: reply is for GET_PROTOCOL_FEATURES, expected GET_FEATURES");
    }

    @Test
    void replyWithoutReplyFlagOrWithStrayFdsIsRejected() throws Exception {
        backend(() -> {
            expect(FrontendRequest.GET_FEATURES);
            new U64Payload(1).encode(back.sendPayload(), 0);
            back.send(MessageHeader.request(FrontendRequest.GET_FEATURES.code(), 8, false), null);
        });
        assertThatThrownBy(fe::getFeatures).isInstanceOf(VhostProtocolException.class).hasMessageContaining("lacks the REPLY flag");

        pair();
        try (EventFd ev = EventFd.create()) {
            backend(() -> {
                expect(FrontendRequest.GET_FEATURES);
                new U64Payload(VERSION_1).encode(back.sendPayload(), 0);
                back.send(MessageHeader.reply(FrontendRequest.GET_FEATURES.code(), 8), new int[] {ev.fd()});
            });
            assertThatThrownBy(fe::getFeatures).isInstanceOf(VhostProtocolException.class)
                    .hasMessageContaining("reply carried 1 unexpected fds");
        }
    }

    @Test
    void backendWithoutVersion1CannotBeGivenIt() throws Exception {
        CompletableFuture<Void> b = backend(() -> {
            expect(FrontendRequest.GET_FEATURES);
            replyU64(FrontendRequest.GET_FEATURES, 1L << 5);
        });
        assertThat(fe.getFeatures()).isEqualTo(1L << 5);
        b.get(5, TimeUnit.SECONDS);
        assertThatThrownBy(() -> fe.setFeatures(VERSION_1)).isInstanceOf(VhostFeatureException.class)
                .hasMessageContaining("SET_FEATURES: features 0x100000000 were not offered");
        assertThatThrownBy(fe::getProtocolFeatures).isInstanceOf(VhostFeatureException.class)
                .hasMessageContaining("does not offer VHOST_USER_F_PROTOCOL_FEATURES");
    }

    @Test
    void replyAckIsAwaitedOnlyWhenNegotiatedAndNonZeroIsRefused() throws Exception {
        negotiate(VhostUserProtocolFeature.REPLY_ACK.mask());
        AtomicReference<MessageHeader> seen = new AtomicReference<>();
        backend(() -> {
            MessageHeader h = expect(FrontendRequest.SET_VRING_ADDR);
            seen.set(h);
            replyU64(FrontendRequest.SET_VRING_ADDR, 22);
        });
        assertThatThrownBy(() -> fe.setVringAddr(new VringAddr(1, 0, 0x1000, 0x3000, 0x2000, 0)))
                .isInstanceOf(VhostRefusedException.class)
                .hasMessage("SET_VRING_ADDR refused by back-end (status 22): queue 1");
        assertThat(seen.get().needsReply()).isTrue();
        assertThat(fe.isConnected()).isTrue();
    }

    @Test
    void withoutReplyAckNoAckIsAwaited() throws Exception {
        negotiate(0);
        CompletableFuture<MessageHeader> seen = new CompletableFuture<>();
        backend(() -> seen.complete(expect(FrontendRequest.SET_VRING_NUM)));
        fe.setVringNum(0, 128); // returns without any reply
        MessageHeader h = seen.get(5, TimeUnit.SECONDS);
        assertThat(h.needsReply()).isFalse();
        VringState s = VringState.decode("x", back.receivePayload(), 0, h.size());
        assertThat(s).isEqualTo(new VringState(0, 128));
    }

    @Test
    void getVringBaseReplyForAnotherQueueIsRejected() throws Exception {
        backend(() -> {
            expect(FrontendRequest.GET_VRING_BASE);
            int n = new VringState(3, 9).encode(back.sendPayload(), 0);
            back.send(MessageHeader.reply(FrontendRequest.GET_VRING_BASE.code(), n), null);
        });
        assertThatThrownBy(() -> fe.getVringBase(1)).isInstanceOf(VhostProtocolException.class)
                .hasMessage("GET_VRING_BASE for queue 1: GET_VRING_BASE reply names queue 3, expected 1");
    }

    @Test
    void kickWithoutFdSetsTheNoFdBit() throws Exception {
        CompletableFuture<Long> seen = new CompletableFuture<>();
        backend(() -> {
            MessageHeader h = expect(FrontendRequest.SET_VRING_KICK);
            seen.complete(back.receivePayload().get(ValueLayout.JAVA_LONG_UNALIGNED, 0) | ((long) fds.size() << 32));
        });
        fe.setVringKick(2, -1);
        assertThat(seen.get(5, TimeUnit.SECONDS)).isEqualTo(0x102L);
        assertThatThrownBy(() -> fe.setVringKick(300, -1)).isInstanceOf(VhostProtocolException.class)
                .hasMessageContaining("SET_VRING_KICK for queue 300");
    }

    @Test
    void pipelineSendsTheWholeBatchBeforeReadingAReplyAndNamesTheRefusedRequest() throws Exception {
        negotiate(VhostUserProtocolFeature.REPLY_ACK.mask());
        List<String> seen = new ArrayList<>();
        // the fake reads all four requests before it answers one: a front-end that waited for a
        // reply before sending the next request would time out here
        CompletableFuture<Void> b = backend(() -> {
            for (FrontendRequest r : List.of(FrontendRequest.SET_VRING_NUM, FrontendRequest.SET_VRING_KICK,
                    FrontendRequest.SET_VRING_ENABLE, FrontendRequest.GET_VRING_BASE)) {
                MessageHeader h = expect(r);
                seen.add(r + (h.needsReply() ? " NEED_REPLY" : "") + " fds " + fds.size());
            }
            replyU64(FrontendRequest.SET_VRING_NUM, 0);
            replyU64(FrontendRequest.SET_VRING_KICK, 22);
            replyU64(FrontendRequest.SET_VRING_ENABLE, 0);
            int n = new VringState(1, 9).encode(back.sendPayload(), 0);
            back.send(MessageHeader.reply(FrontendRequest.GET_VRING_BASE.code(), n), null);
        });
        try (EventFd kick = EventFd.create()) {
            assertThatThrownBy(() -> fe.pipeline(List.of(VringRequest.num(0, 128), VringRequest.kick(1, kick.fd()),
                    VringRequest.enable(1, true), VringRequest.getBase(1))))
                    .isInstanceOf(VhostRefusedException.class)
                    .hasMessage("SET_VRING_KICK refused by back-end (status 22): queue 1");
        }
        b.get(5, TimeUnit.SECONDS);
        assertThat(seen).containsExactly("SET_VRING_NUM NEED_REPLY fds 0", "SET_VRING_KICK NEED_REPLY fds 1",
                "SET_VRING_ENABLE NEED_REPLY fds 0", "GET_VRING_BASE fds 0");
        assertThat(fe.isConnected()).as("a refusal leaves the stream in step").isTrue();
        // the next batch reads its own replies: GET_VRING_BASE's state, SET_VRING_ENABLE's ack
        CompletableFuture<Void> b2 = backend(() -> {
            expect(FrontendRequest.GET_VRING_BASE);
            expect(FrontendRequest.SET_VRING_ENABLE);
            int n = new VringState(0, 7).encode(back.sendPayload(), 0);
            back.send(MessageHeader.reply(FrontendRequest.GET_VRING_BASE.code(), n), null);
            replyU64(FrontendRequest.SET_VRING_ENABLE, 0);
        });
        assertThat(fe.pipeline(List.of(VringRequest.getBase(0), VringRequest.enable(0, false)))).containsExactly(7, 0);
        b2.get(5, TimeUnit.SECONDS);
        // a request the front-end refuses itself: nothing of the batch is sent
        assertThatThrownBy(() -> fe.pipeline(List.of(VringRequest.num(0, 128), VringRequest.call(300, -1))))
                .isInstanceOf(VhostProtocolException.class).hasMessageContaining("SET_VRING_CALL for queue 300");
        assertThat(fe.isConnected()).isTrue();
    }
}
