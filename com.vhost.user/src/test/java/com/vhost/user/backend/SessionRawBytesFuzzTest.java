package com.vhost.user.backend;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import com.vhost.api.VhostException;
import com.vhost.spi.nativeio.EventFd;
import com.vhost.spi.nativeio.SharedMemory;
import com.vhost.user.testing.FuzzSupport;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Fuzz target 2b of issue #10 ("hostile front-ends"): raw bytes into a back-end session. The
 * input is the byte stream a front-end sends, in up to four {@code sendmsg} chunks, each carrying
 * up to two fds (an eventfd or a 1 MiB memfd, as SCM_RIGHTS); then the front-end's side shuts down
 * for writing, so the session reads EOF after the stream. Oracle: {@link SessionFuzzHarness} (the
 * session ends in time with a typed exception, no contained fault, no leaked fd).
 */
class SessionRawBytesFuzzTest {
    private static final MemorySegment BUF = Arena.global().allocate(1 << 16);

    @FuzzTest(maxDuration = "5m", maxExecutions = 12_000)
    void rawStream(FuzzedDataProvider data) throws Exception {
        runInput(data);
    }

    /** The target's body. */
    static void runInput(FuzzedDataProvider data) throws Exception {
        int chunks = data.consumeInt(1, 4);
        int[] kinds = new int[chunks];
        for (int i = 0; i < chunks; i++) {
            kinds[i] = data.consumeInt(0, 8);
        }
        byte[] stream = data.consumeRemainingAsBytes();
        int len = Math.min(stream.length, (int) BUF.byteSize());
        MemorySegment.copy(stream, 0, BUF, ValueLayout.JAVA_BYTE, 0, len);
        try (SessionFuzzHarness h = new SessionFuzzHarness()) {
            int at = 0;
            for (int i = 0; i < chunks; i++) {
                int end = i == chunks - 1 ? len : Math.min(len, at + len / chunks);
                if (end > at && !sendChunk(h, at, end - at, kinds[i])) {
                    break;
                }
                at = end;
            }
            FuzzSupport.shutdownOutput(h.frontSocket.fd());
        }
    }

    /**
     * kind 0-4: no fd; 5: an eventfd; 6: a memfd; 7: two eventfds; 8: a memfd and an eventfd.
     *
     * @return false when the session had already ended and closed its side (EPIPE)
     */
    private static boolean sendChunk(SessionFuzzHarness h, int at, int n, int kind) throws Exception {
        try (EventFd e1 = kind >= 5 ? EventFd.create() : null;
                EventFd e2 = kind >= 7 ? EventFd.create() : null;
                SharedMemory m = kind == 6 || kind == 8 ? SharedMemory.create("fuzz", 1 << 20) : null) {
            int[] fds = switch (kind) {
                case 5 -> new int[] {e1.fd()};
                case 6 -> new int[] {m.fd()};
                case 7 -> new int[] {e1.fd(), e2.fd()};
                case 8 -> new int[] {m.fd(), e1.fd()};
                default -> null;
            };
            h.frontSocket.sendMsg(BUF, at, n, fds);
            return true;
        } catch (VhostException peerGone) {
            return false;
        }
    }
}
