package com.vhost.user.backend.session;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.vhost.api.VhostException;
import com.vhost.api.VhostProtocolException;
import com.vhost.api.user.DeviceStateDirection;
import com.vhost.api.user.VhostUserProtocolFeature;
import com.vhost.api.VringAddr;
import com.vhost.spi.nativeio.Linux;
import com.vhost.spi.nativeio.OwnedFd;
import com.vhost.user.message.FrontendRequest;
import com.vhost.user.message.MemRegionPayload;
import com.vhost.user.message.MessageHeader;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The request dispatcher alone (rust-vmm {@code backend_req_handler.rs}'s tests): messages as
 * byte arrays, eventfds as the fds that ride with them, a handler that records its calls. No
 * socket, no device model.
 */
class RequestDispatcherTest {
    private static final int V = MessageHeader.VERSION;
    private static final int NEED_REPLY = MessageHeader.NEED_REPLY;

    private final Recording handler = new Recording();
    private final MemorySegment replyBuf = Arena.ofAuto().allocate(MessageHeader.MAX_PAYLOAD_SIZE);
    private final List<MessageHeader> replies = new ArrayList<>();
    private final List<byte[]> replyBodies = new ArrayList<>();
    private final RequestDispatcher dispatcher = new RequestDispatcher("test", handler, replyBuf, (h, replyFds) -> {
        replies.add(h);
        replyBodies.add(replyBuf.asSlice(0, h.size()).toArray(ValueLayout.JAVA_BYTE));
    });
    private final List<OwnedFd> fds = new ArrayList<>();

    @AfterEach
    void closeFds() {
        fds.forEach(OwnedFd::close);
        handler.received.forEach(OwnedFd::close);
    }

    /** The handler under the dispatcher: records each call, throws what it is told to. */
    static final class Recording implements FrontendRequestHandler {
        final List<String> calls = new ArrayList<>();
        final List<OwnedFd> received = new ArrayList<>();
        Exception toThrow;

        private void call(String c) throws VhostException, Refusal {
            calls.add(c);
            Exception e = toThrow;
            if (e instanceof Refusal r) {
                throw r;
            } else if (e instanceof VhostException v) {
                throw v;
            } else if (e instanceof RuntimeException r) {
                throw r;
            }
        }

        private String fd(OwnedFd fd) {
            if (fd == null) {
                return "nofd";
            }
            received.add(fd);
            return "fd";
        }

        @Override
        public void setLogBase(long size, long offset, OwnedFd fd) throws VhostException, Refusal {
            call("setLogBase(" + size + "," + offset + "," + fd(fd) + ")");
        }

        @Override
        public long getFeatures() throws VhostException, Refusal {
            call("getFeatures");
            return 0x1_4000_0000L;
        }

        @Override
        public void setFeatures(long features) throws VhostException, Refusal {
            call("setFeatures(0x" + Long.toHexString(features) + ")");
        }

        @Override
        public void setOwner() throws VhostException, Refusal {
            call("setOwner");
        }

        @Override
        public void resetOwner() throws VhostException, Refusal {
            call("resetOwner");
        }

        @Override
        public long getProtocolFeatures() throws VhostException, Refusal {
            call("getProtocolFeatures");
            return BackendHandler.PROTOCOL_FEATURES;
        }

        @Override
        public void setProtocolFeatures(long features) throws VhostException, Refusal {
            call("setProtocolFeatures(0x" + Long.toHexString(features) + ")");
        }

        @Override
        public int getQueueNum() throws VhostException, Refusal {
            call("getQueueNum");
            return 2;
        }

        @Override
        public int getMaxMemSlots() throws VhostException, Refusal {
            call("getMaxMemSlots");
            return 32;
        }

        @Override
        public void setMemTable(List<MemRegionPayload> regions, List<OwnedFd> fds) throws VhostException, Refusal {
            received.addAll(fds);
            call("setMemTable(" + regions.size() + " regions, " + fds.size() + " fds)");
        }

        @Override
        public void addMemRegion(MemRegionPayload region, OwnedFd fd) throws VhostException, Refusal {
            call("addMemRegion(0x" + Long.toHexString(region.guestAddr()) + ", " + fd(fd) + ")");
        }

        @Override
        public void removeMemRegion(MemRegionPayload region) throws VhostException, Refusal {
            call("removeMemRegion(0x" + Long.toHexString(region.guestAddr()) + ")");
        }

        @Override
        public void setVringNum(int index, int num) throws VhostException, Refusal {
            call("setVringNum(" + index + ", " + num + ")");
        }

        @Override
        public void setVringAddr(VringAddr addr) throws VhostException, Refusal {
            call("setVringAddr(" + addr.index() + ", 0x" + Long.toHexString(addr.descUserAddr()) + ")");
        }

        @Override
        public void setVringBase(int index, int base) throws VhostException, Refusal {
            call("setVringBase(" + index + ", " + base + ")");
        }

        @Override
        public int getVringBase(int index) throws VhostException, Refusal {
            call("getVringBase(" + index + ")");
            return 42;
        }

        @Override
        public void setVringKick(int index, OwnedFd kick) throws VhostException, Refusal {
            call("setVringKick(" + index + ", " + fd(kick) + ")");
        }

        @Override
        public void setVringCall(int index, OwnedFd call) throws VhostException, Refusal {
            call("setVringCall(" + index + ", " + fd(call) + ")");
        }

        @Override
        public void setVringErr(int index, OwnedFd err) throws VhostException, Refusal {
            call("setVringErr(" + index + ", " + fd(err) + ")");
        }

        @Override
        public void setVringEnable(int index, boolean enable) throws VhostException, Refusal {
            call("setVringEnable(" + index + ", " + enable + ")");
        }

        @Override
        public byte[] getConfig(int offset, int size) throws VhostException, Refusal {
            call("getConfig(" + offset + ", " + size + ")");
            byte[] b = new byte[size];
            for (int i = 0; i < size; i++) {
                b[i] = (byte) (offset + i);
            }
            return b;
        }

        @Override
        public void setConfig(int offset, int flags, byte[] data) throws VhostException, Refusal {
            call("setConfig(" + offset + ", " + data.length + " bytes)");
        }

        @Override
        public void setBackendReqFd(OwnedFd fd) throws VhostException, Refusal {
            call("setBackendReqFd(" + fd(fd) + ")");
        }

        @Override
        public void resetDevice() throws VhostException, Refusal {
            call("resetDevice");
        }

        @Override
        public void setStatus(int status) throws VhostException, Refusal {
            call("setStatus(" + status + ")");
        }

        @Override
        public int getStatus() throws VhostException, Refusal {
            call("getStatus");
            return 0x0F;
        }

        @Override
        public long setDeviceStateFd(DeviceStateDirection direction, OwnedFd fd) throws VhostException, Refusal {
            call("setDeviceStateFd(" + direction + ", " + fd(fd) + ")");
            return 0x100;
        }

        @Override
        public long checkDeviceState() throws VhostException, Refusal {
            call("checkDeviceState");
            return 0;
        }
    }

    // ---------------------------------------------------------------- message building

    private static byte[] u64(long v) {
        return ByteBuffer.allocate(8).order(ByteOrder.nativeOrder()).putLong(v).array();
    }

    private static byte[] u32s(int... vs) {
        ByteBuffer b = ByteBuffer.allocate(4 * vs.length).order(ByteOrder.nativeOrder());
        for (int v : vs) {
            b.putInt(v);
        }
        return b.array();
    }

    private static byte[] region(long guest, long size, long user, long offset) {
        return ByteBuffer.allocate(32).order(ByteOrder.nativeOrder()).putLong(guest).putLong(size).putLong(user).putLong(offset).array();
    }

    private static byte[] concat(byte[]... parts) {
        ByteBuffer b = ByteBuffer.allocate(java.util.Arrays.stream(parts).mapToInt(p -> p.length).sum());
        for (byte[] p : parts) {
            b.put(p);
        }
        return b.array();
    }

    /** Sends the message {@code header(code, flags, payload.length) + payload}, as bytes, through the dispatcher. */
    private void send(int code, int flags, byte[] payload) throws VhostException {
        byte[] wire = concat(u32s(code, flags, payload.length), payload);
        MemorySegment seg = MemorySegment.ofArray(wire);
        MessageHeader h = MessageHeader.decode(seg, 0);
        dispatcher.dispatch(h, seg.asSlice(MessageHeader.SIZE), fds);
    }

    private void send(FrontendRequest req, int flags, byte[] payload) throws VhostException {
        send(req.code(), flags, payload);
    }

    private void withFds(int n) throws VhostException {
        for (int i = 0; i < n; i++) {
            fds.add(new OwnedFd(Linux.eventfd(Linux.EFD_CLOEXEC)));
        }
    }

    private long replyU64(int i) {
        return ByteBuffer.wrap(replyBodies.get(i)).order(ByteOrder.nativeOrder()).getLong();
    }

    private void negotiate(VhostUserProtocolFeature... fs) throws VhostException {
        long mask = 0;
        for (VhostUserProtocolFeature f : fs) {
            mask |= f.mask();
        }
        send(FrontendRequest.SET_PROTOCOL_FEATURES, V, u64(mask));
        handler.calls.clear();
    }

    // ---------------------------------------------------------------- tests

    @Test
    void unknownRequestCodesAndRepliesSentAsRequestsAreMalformed() {
        assertThatThrownBy(() -> send(99, V, new byte[0])).isInstanceOf(VhostProtocolException.class)
                .hasMessage("malformed message: unknown front-end request code 99");
        assertThatThrownBy(() -> send(0, V, new byte[0])).isInstanceOf(VhostProtocolException.class)
                .hasMessageContaining("unknown front-end request code 0");
        assertThatThrownBy(() -> send(FrontendRequest.SET_OWNER, V | MessageHeader.REPLY, new byte[0]))
                .isInstanceOf(VhostProtocolException.class)
                .hasMessage("malformed SET_OWNER: a front-end request has the REPLY flag set");
        assertThat(handler.calls).isEmpty();
        assertThat(replies).isEmpty();
    }

    @Test
    void wrongPayloadSizesAreMalformedAndReachNoHandler() {
        assertThatThrownBy(() -> send(FrontendRequest.SET_FEATURES, V, new byte[3])).isInstanceOf(VhostProtocolException.class)
                .hasMessageStartingWith("malformed SET_FEATURES");
        assertThatThrownBy(() -> send(FrontendRequest.GET_FEATURES, V, new byte[8])).isInstanceOf(VhostProtocolException.class)
                .hasMessage("malformed GET_FEATURES: payload of 8 bytes, expected none");
        assertThatThrownBy(() -> send(FrontendRequest.SET_VRING_NUM, V, u32s(0))).isInstanceOf(VhostProtocolException.class)
                .hasMessageStartingWith("malformed SET_VRING_NUM");
        // SET_MEM_TABLE: nregions says 2, one region follows
        assertThatThrownBy(() -> send(FrontendRequest.SET_MEM_TABLE, V, concat(u32s(2, 0), region(0, 0x1000, 0x1000, 0))))
                .isInstanceOf(VhostProtocolException.class).hasMessageStartingWith("malformed SET_MEM_TABLE");
        assertThat(handler.calls).isEmpty();
        assertThat(replies).isEmpty();
    }

    @Test
    void missingAndExtraFdsAreMalformedAndTheFdsStayWithTheCaller() throws Exception {
        // SET_VRING_KICK without NOFD must carry one fd
        assertThatThrownBy(() -> send(FrontendRequest.SET_VRING_KICK, V, u64(0))).isInstanceOf(VhostProtocolException.class)
                .hasMessage("malformed SET_VRING_KICK: carried 0 fds, expected 1");
        // NOFD with an fd is one too many
        withFds(1);
        assertThatThrownBy(() -> send(FrontendRequest.SET_VRING_CALL, V, u64(0x100))).isInstanceOf(VhostProtocolException.class)
                .hasMessage("malformed SET_VRING_CALL: carried 1 fds, expected 0");
        assertThatThrownBy(() -> send(FrontendRequest.GET_FEATURES, V, new byte[0])).isInstanceOf(VhostProtocolException.class)
                .hasMessage("malformed GET_FEATURES: carried 1 fds, expected 0");
        // one region, two fds
        withFds(1);
        assertThatThrownBy(() -> send(FrontendRequest.SET_MEM_TABLE, V, concat(u32s(1, 0), region(0, 0x1000, 0x1000, 0))))
                .isInstanceOf(VhostProtocolException.class).hasMessage("malformed SET_MEM_TABLE: carried 2 fds, expected 1");
        assertThat(fds).hasSize(2).allMatch(f -> f.fd() >= 0);
        assertThat(handler.calls).isEmpty();
    }

    @Test
    void fdsAreHandedOverOnePerRequestAndNofdAsNull() throws Exception {
        withFds(2);
        send(FrontendRequest.SET_MEM_TABLE, V, concat(u32s(2, 0), region(0, 0x1000, 0x1000, 0), region(0x1000, 0x1000, 0x2000, 0)));
        assertThat(fds).isEmpty();
        withFds(1);
        send(FrontendRequest.SET_VRING_KICK, V, u64(1));
        send(FrontendRequest.SET_VRING_CALL, V, u64(0x100 | 1));
        withFds(1);
        send(FrontendRequest.SET_VRING_ERR, V, u64(0));
        assertThat(fds).isEmpty();
        assertThat(handler.received).hasSize(4);
        assertThat(handler.calls).containsExactly("setMemTable(2 regions, 2 fds)", "setVringKick(1, fd)", "setVringCall(1, nofd)",
                "setVringErr(0, fd)");
    }

    @Test
    void needReplyGetsAZeroAckAndNoAckOtherwise() throws Exception {
        send(FrontendRequest.SET_OWNER, V, new byte[0]);
        assertThat(replies).isEmpty();
        send(FrontendRequest.SET_OWNER, V | NEED_REPLY, new byte[0]);
        assertThat(replies).containsExactly(MessageHeader.reply(FrontendRequest.SET_OWNER.code(), 8));
        assertThat(replyU64(0)).isZero();
        send(FrontendRequest.SET_VRING_ADDR, V | NEED_REPLY, concat(u32s(1, 0), u64(0x1000), u64(0x3000), u64(0x2000), u64(0)));
        assertThat(replies).hasSize(2);
        assertThat(handler.calls).containsExactly("setOwner", "setOwner", "setVringAddr(1, 0x1000)");
    }

    @Test
    void getRequestsReplyWithTheirPayloadAndNoExtraAck() throws Exception {
        send(FrontendRequest.GET_FEATURES, V | NEED_REPLY, new byte[0]);
        send(FrontendRequest.GET_QUEUE_NUM, V, new byte[0]);
        send(FrontendRequest.GET_VRING_BASE, V, u32s(1, 0));
        assertThat(replies).containsExactly(MessageHeader.reply(FrontendRequest.GET_FEATURES.code(), 8),
                MessageHeader.reply(FrontendRequest.GET_QUEUE_NUM.code(), 8), MessageHeader.reply(FrontendRequest.GET_VRING_BASE.code(), 8));
        assertThat(replyU64(0)).isEqualTo(0x1_4000_0000L);
        assertThat(replyU64(1)).isEqualTo(2);
        assertThat(replyBodies.get(2)).isEqualTo(u32s(1, 42));

        negotiate(VhostUserProtocolFeature.CONFIG);
        send(FrontendRequest.GET_CONFIG, V, concat(u32s(4, 3, 0), new byte[3]));
        assertThat(replies.getLast()).isEqualTo(MessageHeader.reply(FrontendRequest.GET_CONFIG.code(), 15));
        assertThat(replyBodies.getLast()).isEqualTo(concat(u32s(4, 3, 0), new byte[] {4, 5, 6}));
    }

    @Test
    void requestsNeedingAProtocolFeatureAreRefusedUntilItIsNegotiated() throws Exception {
        send(FrontendRequest.GET_STATUS, V | NEED_REPLY, new byte[0]);
        assertThat(replyU64(0)).isEqualTo(1);
        assertThatThrownBy(() -> send(FrontendRequest.RESET_DEVICE, V, new byte[0])).isInstanceOf(VhostProtocolException.class)
                .hasMessage("RESET_DEVICE failed and the front-end asked for no reply: "
                        + "RESET_DEVICE needs protocol feature RESET_DEVICE, which was not negotiated");
        withFds(1);
        assertThatThrownBy(() -> send(FrontendRequest.ADD_MEM_REG, V, concat(u64(0), region(0, 0x1000, 0x1000, 0))))
                .isInstanceOf(VhostProtocolException.class).hasMessageContaining("CONFIGURE_MEM_SLOTS");
        assertThat(fds).as("left for the caller").hasSize(1);
        fds.removeFirst().close();
        assertThat(handler.calls).isEmpty();

        negotiate(VhostUserProtocolFeature.STATUS, VhostUserProtocolFeature.RESET_DEVICE, VhostUserProtocolFeature.CONFIGURE_MEM_SLOTS);
        send(FrontendRequest.GET_STATUS, V, new byte[0]);
        assertThat(replyU64(1)).isEqualTo(0x0F);
        send(FrontendRequest.RESET_DEVICE, V, new byte[0]);
        withFds(1);
        send(FrontendRequest.ADD_MEM_REG, V, concat(u64(0), region(0x4000, 0x1000, 0x1000, 0)));
        assertThat(handler.calls).containsExactly("getStatus", "resetDevice", "addMemRegion(0x4000, fd)");
    }

    @Test
    void valuesTheWireDefinesAreCheckedHereAndUnsupportedRequestsRefused() throws Exception {
        negotiate(VhostUserProtocolFeature.STATUS);
        send(FrontendRequest.SET_VRING_ENABLE, V | NEED_REPLY, u32s(0, 2));
        send(FrontendRequest.SET_STATUS, V | NEED_REPLY, u64(0x100));
        send(FrontendRequest.SET_LOG_FD, V | NEED_REPLY, new byte[0]);
        assertThat(replies).hasSize(3);
        assertThat(List.of(replyU64(0), replyU64(1), replyU64(2))).containsOnly(1L);
        assertThatThrownBy(() -> send(FrontendRequest.SET_LOG_FD, V, new byte[0])).isInstanceOf(VhostProtocolException.class)
                .hasMessageContaining("SET_LOG_FD is not supported by this back-end");
        send(FrontendRequest.SET_VRING_ENABLE, V, u32s(1, 1));
        send(FrontendRequest.SET_STATUS, V, u64(0xFF));
        assertThat(handler.calls).containsExactly("setVringEnable(1, true)", "setStatus(255)");
    }

    @Test
    void setLogBaseNeedsLogShmfdHandsItsFdOverAndAlwaysGetsItsReply() throws Exception {
        byte[] log = concat(u64(4096), u64(0)); // mmap_size, mmap_offset
        send(FrontendRequest.SET_LOG_BASE, V | NEED_REPLY, log);
        assertThat(replyU64(0)).as("LOG_SHMFD not negotiated: refused with ack 1").isEqualTo(1L);
        negotiate(VhostUserProtocolFeature.LOG_SHMFD);
        withFds(1);
        send(FrontendRequest.SET_LOG_BASE, V, log); // no NEED_REPLY: the reply comes all the same
        assertThat(handler.calls).containsExactly("setLogBase(4096,0,fd)");
        assertThat(fds).isEmpty();
        assertThat(replies).hasSize(2);
        assertThat(replyU64(1)).isZero();
        withFds(1);
        send(FrontendRequest.SET_LOG_BASE, V | NEED_REPLY, log);
        assertThat(replies).as("one reply, not a reply and an ack").hasSize(3);
        withFds(1);
        assertThatThrownBy(() -> send(FrontendRequest.SET_LOG_BASE, V, u64(4096))).isInstanceOf(VhostProtocolException.class)
                .hasMessageContaining("malformed SET_LOG_BASE");
    }

    @Test
    void aRemMemRegFdIsClosedAndTwoAreMalformed() throws Exception {
        negotiate(VhostUserProtocolFeature.CONFIGURE_MEM_SLOTS);
        withFds(1);
        OwnedFd attached = fds.getFirst();
        send(FrontendRequest.REM_MEM_REG, V, concat(u64(0), region(0x4000, 0x1000, 0x1000, 0)));
        assertThat(attached.fd()).as("closed").isEqualTo(-1);
        assertThat(fds).isEmpty();
        withFds(2);
        assertThatThrownBy(() -> send(FrontendRequest.REM_MEM_REG, V, concat(u64(0), region(0x4000, 0x1000, 0x1000, 0))))
                .isInstanceOf(VhostProtocolException.class).hasMessage("malformed REM_MEM_REG carried 2 fds, expected at most 1");
        assertThat(handler.calls).containsExactly("removeMemRegion(0x4000)");
    }

    @Test
    void aRefusalIsAckedWithOneWhenAskedAndEndsTheSessionOtherwise() throws Exception {
        handler.toThrow = new Refusal("queue 0: size 100 is not a power of two in 1..256");
        send(FrontendRequest.SET_VRING_NUM, V | NEED_REPLY, u32s(0, 100));
        assertThat(replies).containsExactly(MessageHeader.reply(FrontendRequest.SET_VRING_NUM.code(), 8));
        assertThat(replyU64(0)).isEqualTo(1);
        assertThatThrownBy(() -> send(FrontendRequest.SET_VRING_NUM, V, u32s(0, 100))).isInstanceOf(VhostProtocolException.class)
                .hasMessage("SET_VRING_NUM failed and the front-end asked for no reply: queue 0: size 100 is not a power of two in 1..256");
        assertThat(replies).hasSize(1);
    }

    @Test
    void aFatalRefusalIsAckedAndThenEndsTheSession() {
        handler.toThrow = new Refusal("legacy front-ends are not served", true);
        assertThatThrownBy(() -> send(FrontendRequest.SET_FEATURES, V | NEED_REPLY, u64(0x20)))
                .isInstanceOf(VhostProtocolException.class)
                .hasMessage("SET_FEATURES refused, cannot continue: legacy front-ends are not served");
        assertThat(replies).hasSize(1);
        assertThat(replyU64(0)).isEqualTo(1);
    }

    @Test
    void whatElseTheHandlerThrowsPassesThroughUnanswered() {
        IllegalStateException boom = new IllegalStateException("model broke");
        handler.toThrow = boom;
        assertThatThrownBy(() -> send(FrontendRequest.SET_OWNER, V | NEED_REPLY, new byte[0])).isSameAs(boom);
        VhostProtocolException inner = new VhostProtocolException("SET_CONFIG: offset 300 past the config space");
        handler.toThrow = inner;
        assertThatThrownBy(() -> send(FrontendRequest.SET_OWNER, V | NEED_REPLY, new byte[0])).isInstanceOf(VhostProtocolException.class)
                .hasMessage("malformed SET_OWNER: SET_CONFIG: offset 300 past the config space");
        assertThat(replies).isEmpty();
    }

    @Test
    void deviceStateRequestsCarryTypedDirectionsAndAlwaysReply() throws Exception {
        negotiate(VhostUserProtocolFeature.DEVICE_STATE);
        withFds(1);
        send(FrontendRequest.SET_DEVICE_STATE_FD, V, u32s(1, 0));
        send(FrontendRequest.CHECK_DEVICE_STATE, V, new byte[0]);
        assertThat(handler.calls).containsExactly("setDeviceStateFd(LOAD, fd)", "checkDeviceState");
        assertThat(replyU64(0)).isEqualTo(0x100);
        assertThat(replyU64(1)).isZero();
        withFds(1);
        assertThatThrownBy(() -> send(FrontendRequest.SET_DEVICE_STATE_FD, V, u32s(2, 0))).isInstanceOf(VhostProtocolException.class)
                .hasMessageContaining("unknown direction 2");
    }

    @Test
    void protocolFeaturesCountOnlyOnceTheHandlerAcceptedThem() throws Exception {
        handler.toThrow = new Refusal("protocol features bit 40 were not offered");
        send(FrontendRequest.SET_PROTOCOL_FEATURES, V | NEED_REPLY, u64(VhostUserProtocolFeature.STATUS.mask()));
        handler.toThrow = null;
        send(FrontendRequest.GET_STATUS, V | NEED_REPLY, new byte[0]);
        assertThat(replyU64(0)).isEqualTo(1);
        assertThat(replyU64(1)).as("GET_STATUS refused").isEqualTo(1);
        assertThat(handler.calls).containsExactly("setProtocolFeatures(0x10000)");
    }

    // ---------------------------------------------------------------- fd kinds (issue #10)

    /** @return whether {@code fd} is still open */
    private static boolean open(int fd) {
        return FdKinds.link(fd) != null;
    }

    /**
     * Sends {@code req} for queue 0 with {@code fd}, once with NEED_REPLY (refused with ack 1, the
     * session goes on) and once, with a second fd of the same kind, without (the session ends).
     */
    private void assertRefused(FrontendRequest req, OwnedFd fd, OwnedFd again, String message) throws Exception {
        int n = fd.fd();
        fds.add(fd);
        send(req, V | NEED_REPLY, u64(0));
        assertThat(replies).hasSize(1);
        assertThat(replyU64(0)).as("ack of a refused " + req).isEqualTo(1);
        assertThat(fds).isEmpty();
        assertThat(open(n)).as("the refused fd is closed").isFalse();
        fds.add(again);
        assertThatThrownBy(() -> send(req, V, u64(0))).isInstanceOf(VhostProtocolException.class)
                .hasMessage(req + " failed and the front-end asked for no reply: " + message);
        assertThat(handler.calls).isEmpty();
        replies.clear();
        replyBodies.clear();
    }

    private static OwnedFd[] pipe() throws VhostException {
        int[] p = Linux.pipe();
        return new OwnedFd[] {new OwnedFd(p[0]), new OwnedFd(p[1])};
    }

    private static OwnedFd memfd() throws VhostException {
        return new OwnedFd(Linux.memfdCreate("not-an-eventfd"));
    }

    @Test
    void aCallFdThatIsAPipeIsRefusedNamingRequestQueueAndKind() throws Exception {
        OwnedFd[] p1 = pipe();
        OwnedFd[] p2 = pipe();
        try (OwnedFd w1 = p1[1]; OwnedFd w2 = p2[1]) {
            String link = FdKinds.link(p2[0].fd());
            assertRefused(FrontendRequest.SET_VRING_CALL, p1[0], p2[0], "SET_VRING_CALL for queue 0: fd is a pipe (" + link + "), not an eventfd");
        }
    }

    @Test
    void anErrFdThatIsAPipeIsRefused() throws Exception {
        OwnedFd[] p1 = pipe();
        OwnedFd[] p2 = pipe();
        try (OwnedFd r1 = p1[0]; OwnedFd r2 = p2[0]) {
            String link = FdKinds.link(p2[1].fd());
            assertRefused(FrontendRequest.SET_VRING_ERR, p1[1], p2[1], "SET_VRING_ERR for queue 0: fd is a pipe (" + link + "), not an eventfd");
        }
    }

    @Test
    void aKickFdThatIsAPipeAtEndOfFileIsRefused() throws Exception {
        OwnedFd[] p1 = pipe();
        OwnedFd[] p2 = pipe();
        p1[1].close(); // the writer closed: end-of-file
        p2[1].close();
        String link = FdKinds.link(p2[0].fd());
        assertRefused(FrontendRequest.SET_VRING_KICK, p1[0], p2[0], "SET_VRING_KICK for queue 0: fd is a pipe (" + link + "), not an eventfd");
    }

    @Test
    void aKickFdThatIsAMemfdOrARegularFileIsRefused() throws Exception {
        OwnedFd m2 = memfd();
        String link = FdKinds.link(m2.fd());
        assertThat(link).startsWith("/memfd:not-an-eventfd");
        assertRefused(FrontendRequest.SET_VRING_KICK, memfd(), m2, "SET_VRING_KICK for queue 0: fd is a memfd (" + link + "), not an eventfd");
        OwnedFd f1 = new OwnedFd(Linux.open("/dev/null", Linux.O_RDWR));
        OwnedFd f2 = new OwnedFd(Linux.open("/dev/null", Linux.O_RDWR));
        assertRefused(FrontendRequest.SET_VRING_KICK, f1, f2, "SET_VRING_KICK for queue 0: fd is a device file (/dev/null), not an eventfd");
    }

    @Test
    void aCallFdThatIsASocketIsRefused() throws Exception {
        com.vhost.spi.nativeio.UnixSocket[] a = com.vhost.spi.nativeio.UnixSocket.pair();
        com.vhost.spi.nativeio.UnixSocket[] b = com.vhost.spi.nativeio.UnixSocket.pair();
        try (var a1 = a[1]; var b1 = b[1]) {
            // the dispatcher owns these ends from here on (the UnixSocket objects are dropped)
            OwnedFd s1 = new OwnedFd(a[0].fd());
            OwnedFd s2 = new OwnedFd(b[0].fd());
            String link = FdKinds.link(s2.fd());
            assertRefused(FrontendRequest.SET_VRING_CALL, s1, s2, "SET_VRING_CALL for queue 0: fd is a socket (" + link + "), not an eventfd");
        }
    }

    @Test
    void aKickEventFdInSemaphoreModeIsRefused() throws Exception {
        int efdSemaphore = 1;
        OwnedFd e1 = new OwnedFd(Linux.eventfd(Linux.EFD_CLOEXEC | efdSemaphore));
        OwnedFd e2 = new OwnedFd(Linux.eventfd(Linux.EFD_CLOEXEC | efdSemaphore));
        assertRefused(FrontendRequest.SET_VRING_KICK, e1, e2,
                "SET_VRING_KICK for queue 0: fd is an eventfd in semaphore mode (EFD_SEMAPHORE), which a kick fd may not be");
    }

    @Test
    void aBackendRequestFdThatIsNotASocketIsRefused() throws Exception {
        negotiate(VhostUserProtocolFeature.BACKEND_REQ);
        OwnedFd e = new OwnedFd(Linux.eventfd(Linux.EFD_CLOEXEC));
        OwnedFd e2 = new OwnedFd(Linux.eventfd(Linux.EFD_CLOEXEC));
        assertRefused(FrontendRequest.SET_BACKEND_REQ_FD, e, e2,
                "SET_BACKEND_REQ_FD: fd is an eventfd (anon_inode:[eventfd]), not a socket");
    }

    @Test
    void eventFdsAreHandedOverNonBlocking() throws Exception {
        // blocking eventfds, as a careless or hostile front-end may send
        for (FrontendRequest req : List.of(FrontendRequest.SET_VRING_KICK, FrontendRequest.SET_VRING_CALL, FrontendRequest.SET_VRING_ERR)) {
            withFds(1);
            send(req, V, u64(0));
        }
        assertThat(handler.received).hasSize(3);
        for (OwnedFd fd : handler.received) {
            assertThat(Linux.fileStatusFlags(fd.fd()) & Linux.O_NONBLOCK).as("O_NONBLOCK on " + fd).isEqualTo(Linux.O_NONBLOCK);
        }
    }
}
