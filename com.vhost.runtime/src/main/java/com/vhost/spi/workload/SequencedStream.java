package com.vhost.spi.workload;

import com.vhost.api.net.NetDevice;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.BitSet;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * A sequence-numbered frame stream through an echoing peer (the loopback back-end, a vDPA
 * simulator), for hot-swap checks and the swap bench: one thread transmits frames on one queue
 * pair and receives them back, keeping at most {@code window} frames unanswered, and tallies what
 * came back.
 *
 * <p><b>Frames.</b> Frame {@code seq} is {@link #sizeOf(int) 60..1514} bytes: broadcast
 * destination, source 02:07:08:09:0a:0b, ethertype 0x88b5 (local experimental), {@code seq}
 * big-endian, then a pattern derived from {@code seq}.
 *
 * <p><b>Tally</b> ({@link Result}): a frame whose length or bytes differ from what its sequence
 * number says is <em>corrupted</em>; a sequence number seen before is <em>duplicated</em>; one
 * lower than the highest seen so far (and not seen) is <em>reordered</em>; sequence numbers sent
 * and never received intact are <em>lost</em>. When nothing comes back for
 * {@value #STALL_MS} ms with the window full, the unanswered frames are given up on (counted lost
 * unless they arrive later) so the stream goes on.
 *
 * <p>Not thread-safe except {@link #received()}, {@link #sent()}, {@link #stop} and
 * {@link #firstError()}, which may be called from any thread.
 */
public final class SequencedStream implements AutoCloseable {
    private static final ValueLayout.OfInt BE32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final byte[] SRC_MAC = {0x02, 0x07, 0x08, 0x09, 0x0a, 0x0b};
    /** Time without any frame back, with the window full, after which unanswered frames are given up on, ms. */
    public static final long STALL_MS = 200;

    /**
     * What came back.
     *
     * @param sent frames the device took for transmit
     * @param received intact frames received (each sequence number once)
     * @param lost sent and never received intact
     * @param duplicated received again after an intact copy
     * @param reordered received after a higher sequence number
     * @param corrupted received with a length or content that does not match its sequence number
     */
    public record Result(long sent, long received, long lost, long duplicated, long reordered, long corrupted) {
        /** @return "sent S received R lost L duplicated D reordered O corrupted C" */
        @Override
        public String toString() {
            return "sent " + sent + " received " + received + " lost " + lost + " duplicated " + duplicated + " reordered "
                    + reordered + " corrupted " + corrupted;
        }
    }

    private final NetDevice net;
    private final int pair;
    private final int window;
    private final int burst;
    private final BitSet seen = new BitSet();
    private volatile boolean stopping;
    private volatile long sentCount;
    private volatile long receivedCount;
    private volatile Throwable firstError;
    private long duplicated;
    private long reordered;
    private long corrupted;
    private int highest = -1;
    private int floor;
    private Thread thread;

    /**
     * @param net the device (its peer must send every frame back)
     * @param pair the queue pair to use, in {@code 0 .. net.queuePairs() - 1}
     * @param window most frames sent and not yet answered, 1..4096 (keep it below the queue size so
     *     receive buffers never run out)
     * @param burst frames per transmit/receive call, 1..256
     * @throws IllegalArgumentException for values outside those ranges
     */
    public SequencedStream(NetDevice net, int pair, int window, int burst) {
        if (window < 1 || window > 4096) {
            throw new IllegalArgumentException("window " + window + " outside 1..4096");
        }
        if (burst < 1 || burst > 256) {
            throw new IllegalArgumentException("burst " + burst + " outside 1..256");
        }
        this.net = net;
        this.pair = pair;
        this.window = window;
        this.burst = burst;
    }

    /** @return the length of frame {@code seq}, 60..1514 bytes */
    public static int sizeOf(int seq) {
        return 60 + (int) (Integer.toUnsignedLong(seq * 97) % (1514 - 60 + 1));
    }

    /** Writes frame {@code seq} of {@link #sizeOf} bytes into {@code f}. @return its length */
    public static int fill(MemorySegment f, int seq) {
        int len = sizeOf(seq);
        for (int i = 0; i < 6; i++) {
            f.set(ValueLayout.JAVA_BYTE, i, (byte) 0xFF);
            f.set(ValueLayout.JAVA_BYTE, 6 + i, SRC_MAC[i]);
        }
        f.set(ValueLayout.JAVA_BYTE, 12, (byte) 0x88);
        f.set(ValueLayout.JAVA_BYTE, 13, (byte) 0xB5);
        f.set(BE32, 14, seq);
        for (int i = 18; i < len; i++) {
            f.set(ValueLayout.JAVA_BYTE, i, (byte) (seq * 31 + i));
        }
        return len;
    }

    /** @return the frame's sequence number when it is an intact frame of this stream, else -1 */
    public static int check(MemorySegment f, int len) {
        if (len < 18 || f.get(ValueLayout.JAVA_BYTE, 12) != (byte) 0x88 || f.get(ValueLayout.JAVA_BYTE, 13) != (byte) 0xB5) {
            return -1;
        }
        int seq = f.get(BE32, 14);
        if (seq < 0 || len != sizeOf(seq)) {
            return -1;
        }
        for (int i = 18; i < len; i++) {
            if (f.get(ValueLayout.JAVA_BYTE, i) != (byte) (seq * 31 + i)) {
                return -1;
            }
        }
        return seq;
    }

    /** Starts the stream on a thread of its own. */
    public synchronized void start() {
        if (thread != null) {
            throw new IllegalStateException("stream already started");
        }
        thread = Thread.ofPlatform().daemon().name("net-stream-p" + pair).start(this::run);
    }

    /** @return frames the device took so far */
    public long sent() {
        return sentCount;
    }

    /** @return intact frames received so far */
    public long received() {
        return receivedCount;
    }

    /** @return the first exception the stream's data-path calls threw (it then stopped), or null */
    public Throwable firstError() {
        return firstError;
    }

    /**
     * Stops transmitting, receives what is still coming back for at most {@code drainMillis}
     * (ends early once every frame is answered), and returns the tally.
     */
    public Result stop(long drainMillis) throws InterruptedException {
        Thread t;
        synchronized (this) {
            t = thread;
        }
        drainNanos = TimeUnit.MILLISECONDS.toNanos(drainMillis);
        stopping = true;
        if (t != null) {
            t.join(drainMillis + 10_000);
            if (t.isAlive()) {
                t.interrupt();
                t.join(5_000);
            }
        }
        long s = sentCount;
        long r = receivedCount;
        return new Result(s, r, s - r, duplicated, reordered, corrupted);
    }

    private volatile long drainNanos;

    private void run() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment[] tx = new MemorySegment[burst];
            MemorySegment[] rx = new MemorySegment[burst];
            int[] txLen = new int[burst];
            int[] rxLen = new int[burst];
            for (int i = 0; i < burst; i++) {
                tx[i] = a.allocate(2048);
                rx[i] = a.allocate(16384);
            }
            int next = 0;
            long lastBack = System.nanoTime();
            long drainUntil = 0;
            while (true) {
                if (stopping && drainUntil == 0) {
                    drainUntil = System.nanoTime() + drainNanos;
                }
                int unanswered = next - Math.max(floor, highest + 1);
                if (drainUntil != 0 && (unanswered <= 0 || System.nanoTime() - drainUntil > 0)) {
                    return;
                }
                if (drainUntil == 0 && unanswered < window) {
                    int b = Math.min(burst, window - unanswered);
                    for (int i = 0; i < b; i++) {
                        txLen[i] = fill(tx[i], next + i);
                    }
                    int s = net.transmit(pair, tx, txLen, b);
                    next += s;
                    sentCount = next;
                }
                int r = net.receive(pair, rx, rxLen, burst);
                for (int i = 0; i < r; i++) {
                    tally(check(rx[i], rxLen[i]));
                }
                long now = System.nanoTime();
                if (r > 0) {
                    lastBack = now;
                    receivedCount = seen.cardinality();
                } else if (next - Math.max(floor, highest + 1) >= window || drainUntil != 0) {
                    if (now - lastBack > TimeUnit.MILLISECONDS.toNanos(STALL_MS) && drainUntil == 0) {
                        floor = next; // give up on the unanswered ones (lost unless they come later)
                        lastBack = now;
                    } else {
                        net.awaitReceive(pair, 1_000_000L);
                    }
                } else if (r == 0) {
                    LockSupport.parkNanos(1_000);
                }
            }
        } catch (Throwable e) {
            firstError = e;
        }
    }

    private void tally(int seq) {
        if (seq < 0) {
            corrupted++;
            return;
        }
        if (seen.get(seq)) {
            duplicated++;
            return;
        }
        seen.set(seq);
        if (seq < highest) {
            reordered++;
        } else {
            highest = seq;
        }
    }

    /** Stops the stream without draining. */
    @Override
    public void close() throws InterruptedException {
        stop(0);
    }
}
