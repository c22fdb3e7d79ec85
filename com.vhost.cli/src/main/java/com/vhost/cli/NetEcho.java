package com.vhost.cli;

import com.vhost.api.net.NetDevice;
import java.io.PrintWriter;

/**
 * What {@code vhost net echo --reconnect} runs, shared with its soak test: a {@link NetEchoStream}
 * (numbered, checksummed frames through an echoing back-end) on a device, and with a reconnect
 * view a {@link Reconnector} that rebinds the device, detached from its dead back-end, to a new
 * one on the same socket. {@link #start} starts both; {@link #stop} stops sending, drains what
 * still comes back, then stops the reconnect thread.
 *
 * <p><b>Lost frames</b> are allowed up to a bound: net has no exactly-once guarantee, a frame in
 * flight when the back-end dies may be lost (the driver's rings hold at most {@code queueSize}
 * frames per pair). The default bound, {@link #defaultMaxLost}, is {@code queueSize × pairs ×
 * reconnects}: everything the rings can hold at each reconnect; with no reconnect, none.
 */
final class NetEcho {
    /**
     * @param tally what the stream counted
     * @param reconnects rebinds after a lost back-end
     * @param maxLost the bound on lost frames that was applied
     * @param firstError the first problem (data path or reconnect), or null
     */
    record Outcome(NetEchoStream.Tally tally, long reconnects, long maxLost, String firstError) {
        /** @return whether nothing was duplicated or corrupted, lost is within the bound and no error was seen */
        boolean clean() {
            return tally.duplicated() == 0 && tally.corrupted() == 0 && tally.lost() <= maxLost && firstError == null;
        }

        /** @return the last line of the command: {@code sent S received R lost L duplicated D corrupted C reconnects K} */
        String counts() {
            return "sent " + tally.sent() + " received " + tally.received() + " lost " + tally.lost() + " duplicated "
                    + tally.duplicated() + " corrupted " + tally.corrupted() + " reconnects " + reconnects;
        }
    }

    private final NetEchoStream stream;
    private final Reconnector reconnector;
    private final int queueSize;
    private final int pairs;
    private final long maxLost;

    /**
     * @param net an open device whose peer returns every frame on the same pair
     * @param minLen shortest frame in bytes (at least {@value NetEchoStream#MIN_FRAME})
     * @param maxLen longest frame in bytes (at most MTU + 18)
     * @param window most frames unanswered per pair, at most {@code queueSize}
     * @param burst frames per call, 1..256
     * @param limit frames to send in all, or {@link Long#MAX_VALUE}
     * @param reconnectable the device's reconnect view, or null for no reconnects
     * @param reopen opens a new back-end on the same target (used with {@code reconnectable})
     * @param waitMs how long to keep trying to reconnect after one loss, in milliseconds
     * @param queueSize the device's descriptors per queue (for the default bound)
     * @param maxLost the bound on lost frames, or -1 for {@link #defaultMaxLost}
     * @param log receives {@code reconnected after N ms} lines
     * @throws IllegalArgumentException for a bad length range, window or burst
     */
    NetEcho(NetDevice net, int minLen, int maxLen, int window, int burst, long limit, ReconnectView reconnectable,
            Reconnector.Reopen reopen, long waitMs, int queueSize, long maxLost, PrintWriter log) {
        if (window > queueSize) {
            throw new UsageException("window " + window + " exceeds the queue size " + queueSize
                    + " (the receive buffers would run out)");
        }
        this.stream = new NetEchoStream(net, minLen, maxLen, window, burst, limit, reconnectable);
        this.reconnector = reconnectable == null ? null
                : new Reconnector("net-echo-reconnect", reconnectable, reopen, waitMs, log);
        this.queueSize = queueSize;
        this.pairs = net.queuePairs();
        this.maxLost = maxLost;
    }

    /**
     * @return the bound on lost frames after {@code reconnects} reconnects: {@code queueSize ×
     *     pairs × reconnects} (every frame the rings hold at each reconnect)
     */
    static long defaultMaxLost(int queueSize, int pairs, long reconnects) {
        return (long) queueSize * pairs * reconnects;
    }

    /** Starts the reconnect thread (with a reconnect view) and the stream. */
    void start() {
        if (reconnector != null) {
            reconnector.start();
        }
        stream.start();
    }

    /** @return frames sent so far */
    long sent() {
        return stream.sent();
    }

    /** @return distinct intact frames received so far */
    long received() {
        return stream.received();
    }

    /** @return reconnects so far */
    long reconnects() {
        return reconnector == null ? 0 : reconnector.reconnects();
    }

    /** @return whether the stream ended on a data-path error */
    boolean failed() {
        return stream.firstError() != null;
    }

    /**
     * Stops sending, receives what still comes back for at most {@code drainMs} (the reconnect
     * thread still runs meanwhile), then stops the reconnect thread.
     *
     * @return the counts and the bound applied
     */
    Outcome stop(long drainMs) throws InterruptedException {
        NetEchoStream.Tally t;
        try {
            t = stream.stop(drainMs);
        } finally {
            if (reconnector != null) {
                reconnector.stop();
            }
        }
        long k = reconnects();
        String error = t.firstError() != null ? t.firstError() : reconnector == null ? null : reconnector.error();
        return new Outcome(t, k, maxLost >= 0 ? maxLost : defaultMaxLost(queueSize, pairs, k), error);
    }
}
