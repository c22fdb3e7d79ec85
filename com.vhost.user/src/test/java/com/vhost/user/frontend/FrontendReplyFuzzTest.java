package com.vhost.user.frontend;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import com.vhost.api.IotlbMessage;
import com.vhost.api.VhostException;
import com.vhost.api.VhostTimeoutException;
import com.vhost.api.VringAddr;
import com.vhost.api.user.DeviceStateDirection;
import com.vhost.api.user.DeviceStatePhase;
import com.vhost.api.user.InflightRegion;
import com.vhost.spi.nativeio.EventFd;
import com.vhost.spi.nativeio.Linux;
import com.vhost.spi.nativeio.UnixSocket;
import com.vhost.user.connection.VhostUserConnection;
import com.vhost.user.testing.FuzzSupport;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.TimeUnit;

/**
 * Fuzz target 4 of issue #10 ("hostile front-ends", here a hostile back-end): the front-end's
 * handling of replies. A fake back-end is the other end of a socket pair; before the front-end
 * runs, it writes the fuzzed reply stream (in up to four {@code sendmsg} chunks, each with up to
 * two eventfds attached as SCM_RIGHTS) and shuts its end down for writing, so the stream ends in
 * EOF and no read can wait on a peer that will never write. The front-end then runs a fuzzed
 * sequence of {@link VhostUserFrontend} operations (negotiation, GET_* requests, acked SET_*
 * requests, GET_CONFIG, GET_INFLIGHT_FD, SET_DEVICE_STATE_FD, IOTLB_MSG, ...), each reading its
 * reply from that stream.
 *
 * <p>Oracle: every operation returns or throws a {@link VhostException} subtype with a message;
 * never a {@link VhostTimeoutException} (the stream ends in EOF, so a timeout would be a read that
 * did not stop at the end) nor any other exception or error; no fd is leaked (the process's fd
 * count is the same after the input as before: fds the replies carried are closed or handed over
 * and closed here).
 */
class FrontendReplyFuzzTest {
    private static final int REPLY_TIMEOUT_MS = 2000;
    private static final MemorySegment BUF = Arena.global().allocate(1 << 16);

    @FuzzTest(maxDuration = "5m", maxExecutions = 20_000)
    void fuzzedReplies(FuzzedDataProvider data) throws Exception {
        runInput(data);
    }

    /** The target's body. */
    static void runInput(FuzzedDataProvider data) throws Exception {
        int fdsBefore = FuzzSupport.openFds();
        runOps(data);
        assertThat(FuzzSupport.openFds()).as("open fds after the input").isEqualTo(fdsBefore);
    }

    private static void runOps(FuzzedDataProvider data) throws Exception {
        int ops = data.consumeInt(1, 8);
        int[] op = new int[ops];
        long[] arg = new long[ops];
        for (int i = 0; i < ops; i++) {
            op[i] = data.consumeInt(0, 17);
            arg[i] = data.consumeLong();
        }
        int chunks = data.consumeInt(1, 4);
        int[] chunkFds = new int[chunks];
        for (int i = 0; i < chunks; i++) {
            chunkFds[i] = data.consumeInt(0, 2) == 2 && data.consumeBoolean() ? data.consumeInt(1, 2) : 0;
        }
        byte[] stream = data.consumeRemainingAsBytes();
        UnixSocket[] pair = UnixSocket.pair();
        VhostUserFrontend fe = new VhostUserFrontend(new VhostUserConnection(pair[0], "fuzzed back-end"), "vhost-user:fuzz",
                REPLY_TIMEOUT_MS);
        try (UnixSocket back = pair[1]) {
            writeStream(back, stream, chunkFds);
            FuzzSupport.shutdownOutput(back.fd());
            for (int i = 0; i < ops; i++) {
                long start = System.nanoTime();
                try {
                    run(fe, op[i], arg[i]);
                } catch (VhostTimeoutException e) {
                    throw new AssertionError("operation " + op[i] + " waited for a reply past the end of the stream", e);
                } catch (VhostException e) {
                    assertThat(e.getMessage()).as("message of %s", e).isNotBlank();
                }
                assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start)).as("ms for operation " + op[i])
                        .isLessThan(REPLY_TIMEOUT_MS);
            }
        } finally {
            fe.close();
        }
    }

    private static void writeStream(UnixSocket back, byte[] stream, int[] chunkFds) throws VhostException {
        MemorySegment.copy(stream, 0, BUF, java.lang.foreign.ValueLayout.JAVA_BYTE, 0, Math.min(stream.length, (int) BUF.byteSize()));
        int len = Math.min(stream.length, (int) BUF.byteSize());
        int chunks = chunkFds.length;
        int at = 0;
        for (int i = 0; i < chunks; i++) {
            int end = i == chunks - 1 ? len : Math.min(len, at + len / chunks);
            if (end > at || chunkFds[i] > 0) {
                EventFd[] efds = new EventFd[chunkFds[i]];
                int[] raw = new int[efds.length];
                try {
                    for (int k = 0; k < efds.length; k++) {
                        efds[k] = EventFd.create();
                        raw[k] = efds[k].fd();
                    }
                    if (end > at) {
                        back.sendMsg(BUF, at, end - at, raw.length == 0 ? null : raw);
                    }
                } finally {
                    for (EventFd e : efds) {
                        if (e != null) {
                            e.close();
                        }
                    }
                }
            }
            at = end;
        }
    }

    /** Runs operation {@code op} with a fuzzed argument. */
    private static void run(VhostUserFrontend fe, int op, long arg) throws VhostException {
        int a = (int) arg;
        switch (op) {
            case 0 -> fe.getFeatures();
            case 1 -> fe.setFeatures(arg);
            case 2 -> fe.getProtocolFeatures();
            case 3 -> fe.setProtocolFeatures(arg);
            case 4 -> fe.getQueueNum();
            case 5 -> fe.getMaxMemSlots();
            case 6 -> fe.getVringBase(a & 0xFF);
            case 7 -> fe.setVringNum(a & 0xFF, 256);
            case 8 -> fe.getConfig(a & 0xFF, (a >>> 8) & 0x1FF);
            case 9 -> fe.getStatus();
            case 10 -> fe.setStatus(a);
            case 11 -> fe.checkDeviceState();
            case 12 -> {
                InflightRegion r = fe.getInflightFd(a & 0xFF, 256);
                if (r.fd() >= 0) {
                    Linux.closeQuietly(r.fd());
                }
            }
            case 13 -> fe.setOwner();
            case 14 -> fe.setVringEnable(a & 0xFF, (a & 0x100) != 0);
            case 15 -> {
                try (EventFd pipe = EventFd.create()) {
                    int own = fe.setDeviceStateFd((a & 1) == 0 ? DeviceStateDirection.SAVE : DeviceStateDirection.LOAD,
                            DeviceStatePhase.STOPPED, pipe.fd());
                    if (own >= 0) {
                        Linux.closeQuietly(own);
                    }
                }
            }
            case 16 -> fe.iotlbMessage(new IotlbMessage(arg, 4096, 0, IotlbMessage.PERM_RW, IotlbMessage.UPDATE));
            default -> fe.setVringAddr(new VringAddr(a & 0xFF, 0, 0x1000, 0x3000, 0x2000, 0));
        }
    }
}
