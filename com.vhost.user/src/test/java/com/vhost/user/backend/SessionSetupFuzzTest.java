package com.vhost.user.backend;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import com.vhost.api.VhostException;
import com.vhost.api.VhostFeatures;
import com.vhost.api.user.VhostUserProtocolFeature;
import com.vhost.spi.nativeio.EventFd;
import com.vhost.spi.nativeio.Linux;
import com.vhost.spi.nativeio.OwnedFd;
import com.vhost.spi.nativeio.SharedMemory;
import com.vhost.user.message.FrontendRequest;
import com.vhost.user.message.MessageHeader;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Fuzz target 2a of issue #10 ("hostile front-ends"): a back-end session driven through a valid
 * setup with ONE field mutated, then kicked with fuzzed descriptor chains in guest memory. The
 * setup is what a front-end sends to start queue 0 (QEMU {@code docs/interop/vhost-user.rst}):
 * GET_FEATURES, SET_OWNER, GET_PROTOCOL_FEATURES, SET_PROTOCOL_FEATURES (REPLY_ACK, STATUS, CONFIG,
 * MQ), SET_FEATURES, SET_MEM_TABLE (one 1 MiB memfd region), SET_VRING_NUM 16, SET_VRING_ADDR,
 * SET_VRING_BASE, SET_VRING_CALL and SET_VRING_KICK (eventfds), SET_VRING_ENABLE, each with
 * NEED_REPLY, then GET_STATUS as a sync point. The fuzzer picks one message and either overwrites
 * one 1/2/4/8-byte field of its header or payload (with a raw value, the old value ±2, a power of
 * two, 0 or all ones) or changes its fds (none, an extra eventfd, a pipe instead). When the ring
 * runs after that, up to three kicks follow, each publishing one chain of fuzzed descriptors
 * (addresses inside, at the end of or outside the region; fuzzed lengths, flags, next indices; an
 * indirect table) and waiting until the model's worker handled it.
 *
 * <p>Oracle ({@link SessionFuzzHarness}): each kick is handled within 2 s; the session ends within
 * 10 s of the front-end closing its side (so no message left it stuck); it ends with a
 * typed exception, no fault was contained, the model saw only {@link com.vhost.api.VirtqueueException};
 * no fd is leaked.
 */
class SessionSetupFuzzTest {
    private static final ValueLayout.OfShort LE16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt LE32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong LE64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final long MEM_SIZE = 1 << 20;
    private static final int RING = 16;
    private static final long DESC = 0;
    private static final long AVAIL = 0x1000;
    private static final long USED = 0x2000;
    private static final long INDIRECT = 0x3000;
    private static final long BUFFERS = 0x4000;
    private static final long PROTOCOL = VhostUserProtocolFeature.REPLY_ACK.mask() | VhostUserProtocolFeature.STATUS.mask()
            | VhostUserProtocolFeature.CONFIG.mask() | VhostUserProtocolFeature.MQ.mask();
    private static final int KICK_TIMEOUT_MS = 2000;
    /** How long the sync point's reply may take before the session counts as waiting for a header. */
    private static final int SYNC_WAIT_MS = 300;
    private static final SharedMemory GUEST = sharedMemory();
    private static final MemorySegment OUT = Arena.global().allocate(1 << 12);

    private static SharedMemory sharedMemory() {
        try {
            return SharedMemory.create("fuzz-guest", MEM_SIZE);
        } catch (VhostException e) {
            throw new IllegalStateException(e);
        }
    }

    /** One message of the setup: its bytes and how many eventfds / the memfd it carries. */
    private record Message(FrontendRequest req, byte[] bytes, int fdKind) {}

    private static final int NO_FD = 0;
    private static final int MEMFD = 1;
    private static final int CALL_FD = 2;
    private static final int KICK_FD = 3;

    @FuzzTest(maxDuration = "5m", maxExecutions = 12_000)
    void mutatedSetupThenKicks(FuzzedDataProvider data) throws Exception {
        runInput(data);
    }

    /** The target's body. */
    static void runInput(FuzzedDataProvider data) throws Exception {
        GUEST.segment().asSlice(0, BUFFERS).fill((byte) 0);
        List<Message> setup = setup();
        int target = data.consumeInt(0, setup.size());
        int mutation = data.consumeInt(0, 3);
        try (EventFd call = EventFd.create(); EventFd kick = EventFd.create(); EventFd extra = EventFd.create();
                SessionFuzzHarness h = new SessionFuzzHarness()) {
            int[] pipe = null;
            try {
                for (int i = 0; i < setup.size(); i++) {
                    Message m = setup.get(i);
                    byte[] b = m.bytes().clone();
                    List<Integer> fds = new ArrayList<>();
                    switch (m.fdKind()) {
                        case MEMFD -> fds.add(GUEST.fd());
                        case CALL_FD -> fds.add(call.fd());
                        case KICK_FD -> fds.add(kick.fd());
                        default -> { }
                    }
                    if (i == target) {
                        switch (mutation) {
                            case 0 -> fds.clear();
                            case 1 -> fds.add(extra.fd());
                            case 2 -> {
                                pipe = Linux.pipe();
                                fds.clear();
                                fds.add(pipe[data.consumeInt(0, 1)]);
                            }
                            default -> mutateField(b, data);
                        }
                    }
                    MemorySegment.copy(b, 0, OUT, ValueLayout.JAVA_BYTE, 0, b.length);
                    int[] raw = fds.isEmpty() ? null : fds.stream().mapToInt(Integer::intValue).toArray();
                    try {
                        h.frontSocket.sendMsg(OUT, 0, b.length, raw);
                    } catch (VhostException peerGone) {
                        return; // the session ended (and closed its side) on an earlier message
                    }
                }
            } finally {
                if (pipe != null) {
                    Linux.closeQuietly(pipe[0]);
                    Linux.closeQuietly(pipe[1]);
                }
            }
            if (awaitSync(h) && h.device.serving(0)) {
                kicks(h, kick, data);
            }
        }
    }

    /**
     * The target's unmutated path reaches the data plane: the setup starts queue 0 and a valid
     * chain (a readable and a writable descriptor) published and kicked completes on the used
     * ring, so the fuzzed kicks run against a live worker.
     */
    @Test
    void unmutatedSetupServesAValidChain() throws Exception {
        MemorySegment g = GUEST.segment();
        g.asSlice(0, BUFFERS).fill((byte) 0);
        try (EventFd call = EventFd.create(); EventFd kick = EventFd.create(); SessionFuzzHarness h = new SessionFuzzHarness()) {
            for (Message m : setup()) {
                int[] fds = switch (m.fdKind()) {
                    case MEMFD -> new int[] {GUEST.fd()};
                    case CALL_FD -> new int[] {call.fd()};
                    case KICK_FD -> new int[] {kick.fd()};
                    default -> null;
                };
                MemorySegment.copy(m.bytes(), 0, OUT, ValueLayout.JAVA_BYTE, 0, m.bytes().length);
                h.frontSocket.sendMsg(OUT, 0, m.bytes().length, fds);
            }
            assertThat(awaitSync(h)).as("GET_STATUS answered").isTrue();
            assertThat(h.device.serving(0)).as("queue 0 served").isTrue();
            g.set(LE64, DESC, BUFFERS);
            g.set(LE32, DESC + 8, 64);
            g.set(LE16, DESC + 12, (short) 1); // NEXT
            g.set(LE16, DESC + 14, (short) 1);
            g.set(LE64, DESC + 16, BUFFERS + 0x1000);
            g.set(LE32, DESC + 24, 32);
            g.set(LE16, DESC + 28, (short) 2); // WRITE
            g.set(LE16, AVAIL + 4, (short) 0);
            java.lang.invoke.VarHandle.releaseFence();
            g.set(LE16, AVAIL + 2, (short) 1);
            kick.signal();
            long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(KICK_TIMEOUT_MS);
            while (g.get(LE16, USED + 2) != 1) {
                assertThat(System.nanoTime() - deadline).as("chain completed within %d ms", KICK_TIMEOUT_MS).isNegative();
                Thread.onSpinWait();
            }
            assertThat(g.get(LE32, USED + 4)).as("used id").isZero();
            assertThat(g.get(LE32, USED + 8)).as("used len").isEqualTo(32);
            assertThat(h.device.chainFaults.get()).isZero();
        }
    }

    /**
     * Reads replies up to GET_STATUS's. When none comes within {@link #SYNC_WAIT_MS} the session is
     * waiting for a header (the mutation moved or dropped the sync point, e.g. a larger size field
     * swallowed it); whether it is stuck instead is told when the harness closes the front-end's
     * side: a session that does not end then is a finding.
     *
     * @return false when the session ended or did not answer the sync point
     */
    private static boolean awaitSync(SessionFuzzHarness h) throws Exception {
        List<OwnedFd> fds = new ArrayList<>();
        h.front.setTimeouts(SYNC_WAIT_MS, SessionFuzzHarness.MESSAGE_TIMEOUT_MS);
        try {
            while (true) {
                MessageHeader r = h.front.receive(fds);
                fds.forEach(OwnedFd::close);
                fds.clear();
                if (r.request() == FrontendRequest.GET_STATUS.code()) {
                    return true;
                }
            }
        } catch (VhostException endedOrWaiting) {
            return false;
        } finally {
            fds.forEach(OwnedFd::close);
        }
    }

    private static void mutateField(byte[] b, FuzzedDataProvider data) {
        int width = 1 << data.consumeInt(0, 3);
        int at = Math.min(data.consumeInt(0, b.length - 1) & -width, b.length - width);
        MemorySegment s = MemorySegment.ofArray(b);
        long old = switch (width) {
            case 1 -> s.get(ValueLayout.JAVA_BYTE, at);
            case 2 -> s.get(ValueLayout.JAVA_SHORT_UNALIGNED, at);
            case 4 -> s.get(ValueLayout.JAVA_INT_UNALIGNED, at);
            default -> s.get(ValueLayout.JAVA_LONG_UNALIGNED, at);
        };
        long v = switch (data.consumeInt(0, 4)) {
            case 0 -> data.consumeLong();
            case 1 -> old + data.consumeInt(-2, 2);
            case 2 -> 1L << data.consumeInt(0, 63);
            case 3 -> 0;
            default -> -1;
        };
        switch (width) {
            case 1 -> s.set(ValueLayout.JAVA_BYTE, at, (byte) v);
            case 2 -> s.set(ValueLayout.JAVA_SHORT_UNALIGNED, at, (short) v);
            case 4 -> s.set(ValueLayout.JAVA_INT_UNALIGNED, at, (int) v);
            default -> s.set(ValueLayout.JAVA_LONG_UNALIGNED, at, v);
        }
    }

    private static void kicks(SessionFuzzHarness h, EventFd kick, FuzzedDataProvider data) throws Exception {
        MemorySegment g = GUEST.segment();
        int kicks = data.consumeInt(1, 3);
        int availIdx = 0;
        for (int k = 0; k < kicks && h.device.serving(0); k++) {
            int descriptors = data.consumeInt(0, RING);
            for (int i = 0; i < descriptors; i++) {
                descriptor(g, DESC + 16L * data.consumeInt(0, RING - 1), data, RING);
            }
            int indirect = data.consumeInt(0, RING);
            for (int i = 0; i < indirect; i++) {
                descriptor(g, INDIRECT + 16L * i, data, indirect);
            }
            int head = data.consumeBoolean() ? data.consumeInt(0, RING - 1) : data.consumeInt(0, 0xFFFF);
            g.set(LE16, AVAIL + 4 + 2L * (availIdx % RING), (short) head);
            availIdx = data.consumeInt(0, 7) == 0 ? data.consumeInt(0, 0xFFFF) : (availIdx + 1) & 0xFFFF;
            java.lang.invoke.VarHandle.releaseFence();
            g.set(LE16, AVAIL + 2, (short) availIdx);
            int before = h.device.processCalls.get();
            kick.signal();
            long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(KICK_TIMEOUT_MS);
            while (h.device.processCalls.get() == before && h.device.serving(0)) {
                assertThat(System.nanoTime() - deadline).as("kick %d handled within %d ms", k, KICK_TIMEOUT_MS).isNegative();
                Thread.onSpinWait();
            }
        }
    }

    private static void descriptor(MemorySegment g, long at, FuzzedDataProvider data, int tableSize) {
        long addr = switch (data.consumeInt(0, 3)) {
            case 0 -> data.consumeLong();
            case 1 -> MEM_SIZE - data.consumeLong(0, 0x100);
            case 2 -> INDIRECT + 16L * data.consumeInt(0, RING);
            default -> BUFFERS + data.consumeLong(0, MEM_SIZE - BUFFERS);
        };
        g.set(LE64, at, addr);
        g.set(LE32, at + 8, data.consumeBoolean() ? data.consumeInt() : data.consumeInt(0, 0x2000));
        g.set(LE16, at + 12, (short) (data.consumeBoolean() ? data.consumeInt(0, 7) : data.consumeInt(0, 0xFFFF)));
        g.set(LE16, at + 14, (short) (data.consumeBoolean() ? data.consumeInt(0, tableSize) : data.consumeInt(0, 0xFFFF)));
    }

    /** The valid setup sequence for queue 0 (every message but the GETs with NEED_REPLY). */
    private static List<Message> setup() {
        long ua = GUEST.address();
        List<Message> out = new ArrayList<>();
        out.add(msg(FrontendRequest.GET_FEATURES, false, NO_FD));
        out.add(msg(FrontendRequest.SET_OWNER, true, NO_FD));
        out.add(msg(FrontendRequest.GET_PROTOCOL_FEATURES, false, NO_FD));
        out.add(msg(FrontendRequest.SET_PROTOCOL_FEATURES, true, NO_FD, PROTOCOL));
        out.add(msg(FrontendRequest.SET_FEATURES, true, NO_FD, ChainSinkDevice.FEATURES | VhostFeatures.bit(VhostFeatures.F_PROTOCOL_FEATURES)));
        out.add(msgBytes(FrontendRequest.SET_MEM_TABLE, true, MEMFD, new long[] {1, 0, MEM_SIZE, ua, 0}));
        out.add(msgU32Pair(FrontendRequest.SET_VRING_NUM, 0, RING));
        out.add(msgBytes(FrontendRequest.SET_VRING_ADDR, true, NO_FD, new long[] {0, ua + DESC, ua + USED, ua + AVAIL, 0}));
        out.add(msgU32Pair(FrontendRequest.SET_VRING_BASE, 0, 0));
        out.add(msg(FrontendRequest.SET_VRING_CALL, true, CALL_FD, 0));
        out.add(msg(FrontendRequest.SET_VRING_KICK, true, KICK_FD, 0));
        out.add(msgU32Pair(FrontendRequest.SET_VRING_ENABLE, 0, 1));
        out.add(msg(FrontendRequest.GET_STATUS, false, NO_FD));
        return out;
    }

    private static Message msg(FrontendRequest req, boolean needReply, int fdKind, long... u64) {
        return msgBytes(req, needReply, fdKind, u64);
    }

    /** A message whose payload is the given u64 values (SET_MEM_TABLE: u32 nregions + u32 padding first). */
    private static Message msgBytes(FrontendRequest req, boolean needReply, int fdKind, long[] u64) {
        int size = 8 * u64.length;
        byte[] b = new byte[MessageHeader.SIZE + size];
        MemorySegment s = MemorySegment.ofArray(b);
        MessageHeader.request(req.code(), size, needReply).encode(s, 0);
        for (int i = 0; i < u64.length; i++) {
            s.set(ValueLayout.JAVA_LONG_UNALIGNED, MessageHeader.SIZE + 8L * i, u64[i]);
        }
        return new Message(req, b, fdKind);
    }

    /** SET_VRING_ADDR's first u64 holds index and flags, SET_MEM_TABLE's nregions and padding. */
    private static Message msgU32Pair(FrontendRequest req, int index, int num) {
        byte[] b = new byte[MessageHeader.SIZE + 8];
        MemorySegment s = MemorySegment.ofArray(b);
        MessageHeader.request(req.code(), 8, true).encode(s, 0);
        s.set(ValueLayout.JAVA_INT_UNALIGNED, MessageHeader.SIZE, index);
        s.set(ValueLayout.JAVA_INT_UNALIGNED, MessageHeader.SIZE + 4, num);
        return new Message(req, b, NO_FD);
    }
}
