package com.vhost.cli;

import com.vhost.api.net.NetDevice;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.BitSet;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.zip.CRC32C;

/**
 * The frame stream of {@code vhost net echo --reconnect}, shared with its soak test: one thread
 * sends numbered frames round-robin over the queue pairs to a peer that returns them on the same
 * pair ({@code vhost serve net --loopback}), keeping at most {@code window} frames unanswered per
 * pair, and tallies what comes back. Net has no exactly-once guarantee: a frame in flight when the
 * back-end dies may be lost, as on a wire; it must never come back twice or changed.
 *
 * <p><b>Frame</b> {@code seq}, {@link #lengthOf} bytes: destination ff:ff:ff:ff:ff:ff, source the
 * device's MAC, ethertype 0x88b5 (IEEE local experimental), {@code seq} as a big-endian 64-bit
 * number at byte 14, the frame length as a big-endian 16-bit number at byte 22, bytes
 * {@code (seq * 31 + i)}, and last a big-endian CRC-32C (RFC 3720 B.4) of bytes 12 to
 * {@code length - 4}.
 *
 * <p><b>Tally</b>: a frame whose length, ethertype, length field or CRC does not check out, or
 * whose number was never sent, is <em>corrupted</em>; a number received before is
 * <em>duplicated</em>; <em>lost</em> counts the numbers sent that never came back intact (after
 * the drain of {@link #stop}). When nothing comes back for {@link #STALL_MS} ms while a pair's
 * window is full and the device is attached, its unanswered frames stop counting against the
 * window (they are lost unless they still come back) so the stream goes on.
 *
 * <p>{@link #sent()}, {@link #received()}, {@link #stop} and {@link #firstError()} may be called
 * from any thread; the rest runs on the stream's thread.
 */
final class NetEchoStream {
    /** Shortest frame: Ethernet header, number, length field, CRC. */
    static final int MIN_FRAME = 28;
    /** Time without a frame back, with a pair's window full, after which its unanswered frames are given up on, ms. */
    static final long STALL_MS = 500;
    /** Extra time {@link #stop} gives the thread beyond the drain, ms. */
    private static final long STOP_GRACE_MS = 10_000;
    private static final ValueLayout.OfLong BE64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final ValueLayout.OfInt BE32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final ValueLayout.OfShort BE16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final int SEQ_AT = 14;
    private static final int LEN_AT = 22;
    private static final int PATTERN_AT = 24;
    private static final int CRC_FROM = 12;

    /**
     * What came back.
     *
     * @param sent frames the device took for transmit
     * @param received distinct intact frames received
     * @param lost sent and never received intact ({@code sent - received})
     * @param duplicated intact frames received again
     * @param corrupted frames that do not check out (see the class comment)
     * @param firstError the first data-path exception (the stream then stopped), or null
     */
    record Tally(long sent, long received, long lost, long duplicated, long corrupted, String firstError) {}

    private final NetDevice net;
    private final int pairs;
    private final int min;
    private final int span;
    private final int window;
    private final int burst;
    private final long limit;
    private final ReconnectView attachment;
    private final byte[] mac;
    private final BitSet seen = new BitSet();
    private final CRC32C crc = new CRC32C();
    private final int[] unanswered;
    private final long[] givenUpBelow;
    private final long[] lastBack;
    private volatile long sentCount;
    private volatile long receivedCount;
    private volatile String firstError;
    private volatile boolean stopping;
    private volatile long drainNanos;
    private long duplicated;
    private long corrupted;
    private Thread thread;

    /**
     * @param net the device; its peer must return every frame on the pair it was sent on
     * @param minLen shortest frame, at least {@value #MIN_FRAME} bytes
     * @param maxLen longest frame, at most MTU + 18 bytes
     * @param window most frames unanswered per pair (keep it at or below the queue size so the
     *     receive buffers never run out)
     * @param burst frames per transmit/receive call, 1..256
     * @param limit frames to send in all (the stream then only receives), or {@link Long#MAX_VALUE}
     * @param attachment the device's reconnect view (no give-up while it is detached), or null
     * @throws IllegalArgumentException for a bad range, window or burst
     */
    NetEchoStream(NetDevice net, int minLen, int maxLen, int window, int burst, long limit, ReconnectView attachment) {
        if (minLen < MIN_FRAME || maxLen < minLen || maxLen > net.mtu() + 18) {
            throw new IllegalArgumentException("frame lengths " + minLen + ".." + maxLen + " outside " + MIN_FRAME + ".."
                    + (net.mtu() + 18) + " (MTU " + net.mtu() + " + 18)");
        }
        if (window < 1 || burst < 1 || burst > 256) {
            throw new IllegalArgumentException("window " + window + " must be positive and burst " + burst + " in 1..256");
        }
        this.net = net;
        this.pairs = net.queuePairs();
        this.min = minLen;
        this.span = maxLen - minLen + 1;
        this.window = window;
        this.burst = burst;
        this.limit = Math.min(limit, Integer.MAX_VALUE); // BitSet indices
        this.attachment = attachment;
        this.mac = net.mac();
        this.unanswered = new int[pairs];
        this.givenUpBelow = new long[pairs];
        this.lastBack = new long[pairs];
    }

    /** @return the length of frame {@code seq} in bytes, cycling through the range */
    int lengthOf(long seq) {
        return min + (int) ((seq * 97) % span);
    }

    /** Writes frame {@code seq} into {@code f}; @return its length */
    int fill(MemorySegment f, long seq) {
        int len = lengthOf(seq);
        NetCommand.header(f, mac);
        f.set(BE64, SEQ_AT, seq);
        f.set(BE16, LEN_AT, (short) len);
        for (int i = PATTERN_AT; i < len - 4; i++) {
            f.set(ValueLayout.JAVA_BYTE, i, (byte) (seq * 31 + i));
        }
        f.set(BE32, len - 4, checksum(f, len));
        return len;
    }

    /** @return the frame's number when ethertype, length field and CRC check out and it was sent, else -1 */
    long check(MemorySegment f, int len) {
        if (len < MIN_FRAME || (f.get(BE16, 12) & 0xFFFF) != NetCommand.ETHERTYPE || (f.get(BE16, LEN_AT) & 0xFFFF) != len
                || f.get(BE32, len - 4) != checksum(f, len)) {
            return -1;
        }
        long seq = f.get(BE64, SEQ_AT);
        return seq >= 0 && seq < sentCount && lengthOf(seq) == len ? seq : -1;
    }

    private int checksum(MemorySegment f, int len) {
        crc.reset();
        crc.update(f.asSlice(CRC_FROM, len - 4 - CRC_FROM).asByteBuffer());
        return (int) crc.getValue();
    }

    /** Starts the stream on a thread of its own. */
    void start() {
        thread = Thread.ofPlatform().daemon().name("net-echo-stream").start(this::run);
    }

    /** @return frames the device took so far */
    long sent() {
        return sentCount;
    }

    /** @return distinct intact frames received so far */
    long received() {
        return receivedCount;
    }

    /** @return the first data-path exception (the stream then stopped), or null */
    String firstError() {
        return firstError;
    }

    /**
     * Stops sending and receives what still comes back, for at most {@code drainMillis} (ends
     * early once every frame is answered).
     *
     * @return the tally
     */
    Tally stop(long drainMillis) throws InterruptedException {
        drainNanos = TimeUnit.MILLISECONDS.toNanos(drainMillis);
        stopping = true;
        Thread t = thread;
        if (t != null) {
            t.join(drainMillis + STOP_GRACE_MS); // the drain ends on its own
            t.interrupt();
            t.join(STOP_GRACE_MS);
        }
        long s = sentCount;
        long r = receivedCount;
        return new Tally(s, r, s - r, duplicated, corrupted, firstError);
    }

    private void run() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment[] tx = new MemorySegment[burst];
            MemorySegment[] rx = new MemorySegment[burst];
            int[] txLen = new int[burst];
            int[] rxLen = new int[burst];
            for (int i = 0; i < burst; i++) {
                tx[i] = a.allocate(net.mtu() + 18);
                rx[i] = a.allocate(NetCommand.RX_BUFFER_BYTES);
            }
            java.util.Arrays.fill(lastBack, System.nanoTime());
            long drainUntil = 0;
            while (true) {
                if (stopping && drainUntil == 0) {
                    drainUntil = System.nanoTime() + drainNanos;
                }
                boolean moved = false;
                int waiting = 0;
                for (int p = 0; p < pairs; p++) {
                    if (drainUntil == 0 && sentCount < limit && unanswered[p] < window) {
                        moved |= send(p, tx, txLen) > 0;
                    }
                    moved |= receive(p, rx, rxLen) > 0;
                    giveUpWhenStalled(p, drainUntil != 0);
                    waiting += unanswered[p];
                }
                if (drainUntil != 0 && (waiting == 0 || System.nanoTime() - drainUntil > 0)) {
                    return;
                }
                if (!moved) {
                    if (pairs == 1) {
                        net.awaitReceive(0, 1_000_000L);
                    } else {
                        LockSupport.parkNanos(20_000);
                    }
                }
            }
        } catch (Throwable e) {
            firstError = e.toString();
        }
    }

    private int send(int p, MemorySegment[] tx, int[] txLen) throws Exception {
        long next = sentCount;
        int b = (int) Math.min(Math.min(burst, window - unanswered[p]), limit - next);
        for (int i = 0; i < b; i++) {
            txLen[i] = fill(tx[i], next + i);
        }
        int s = net.transmit(p, tx, txLen, b);
        unanswered[p] += s;
        sentCount = next + s;
        return s;
    }

    private int receive(int p, MemorySegment[] rx, int[] rxLen) throws Exception {
        int r = net.receive(p, rx, rxLen, burst);
        for (int i = 0; i < r; i++) {
            long seq = check(rx[i], rxLen[i]);
            if (seq < 0) {
                corrupted++;
            } else if (seen.get((int) seq)) {
                duplicated++;
            } else {
                seen.set((int) seq);
                receivedCount++;
                if (seq >= givenUpBelow[p] && unanswered[p] > 0) {
                    unanswered[p]--;
                }
            }
        }
        if (r > 0) {
            lastBack[p] = System.nanoTime();
        }
        return r;
    }

    /**
     * After {@link #STALL_MS} ms without a frame back on pair {@code p} while its window is full,
     * not draining, and the device attached: stops counting its unanswered frames against the
     * window (a detached device's frames wait in its rings for the next back-end).
     */
    private void giveUpWhenStalled(int p, boolean draining) {
        long now = System.nanoTime();
        if (draining || unanswered[p] < window || now - lastBack[p] < TimeUnit.MILLISECONDS.toNanos(STALL_MS)) {
            return;
        }
        if (attachment != null && attachment.detached()) {
            lastBack[p] = now; // frames wait in the rings for the next back-end
            return;
        }
        unanswered[p] = 0;
        givenUpBelow[p] = sentCount;
        lastBack[p] = now;
    }
}
