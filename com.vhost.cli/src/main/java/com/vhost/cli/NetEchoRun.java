package com.vhost.cli;

import com.vhost.api.net.NetDevice;
import java.io.PrintWriter;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import picocli.CommandLine.Option;

/**
 * {@code vhost net echo --reconnect}: its options and its run, a {@link NetEcho} (numbered,
 * checksummed frames streamed through an echoing back-end, with a reconnect thread) on a device
 * that detaches when its back-end dies, with a progress line each second on standard error
 * ({@code N s: sent S received R, K reconnects}) and the counts as the last line.
 */
final class NetEchoRun {
    private NetEchoRun() {}

    /**
     * What {@code vhost net echo} prints last and whether that is a success.
     *
     * @param line the last line of standard output
     * @param ok exit code 0 when true, 1 otherwise
     * @param fields the counts as {@code --json} prints them (with {@code ok})
     */
    record Printed(String line, boolean ok, Map<String, Object> fields) {}

    /** The options of {@code vhost net echo} that only {@code --reconnect} uses. */
    static final class Options {
        @Option(names = "--reconnect",
                description = "survive a back-end that is killed and restarted on the same socket (streams numbered, checksummed frames)")
        boolean reconnect;

        /** {@code --reconnect-wait} in milliseconds (an initial value, not a defaultValue, which would override the alias). */
        long waitMs = 30_000;

        @Option(names = "--reconnect-wait", paramLabel = "DURATION", converter = DurationConverter.class,
                description = "with --reconnect: how long the device waits for a new back-end (default 30s)")
        void reconnectWait(Duration d) {
            waitMs = d.toMillis();
        }

        @Option(names = "--reconnect-wait-ms", hidden = true, converter = DurationConverter.Millis.class,
                description = "--reconnect-wait, a number alone being milliseconds (for old scripts)")
        void reconnectWaitMs(Duration d) {
            waitMs = d.toMillis();
        }

        @Option(names = "--seconds", paramLabel = "DURATION", defaultValue = "10", converter = DurationConverter.class,
                description = "with --reconnect: how long to stream unless --count frames were sent first: 30, 2m "
                    + "(a number alone is seconds; default ${DEFAULT-VALUE})")
        Duration time;

        @Option(names = "--max-lost", paramLabel = "N", defaultValue = "-1",
                description = "with --reconnect: most frames that may be lost; default --queue-size x queue pairs x reconnects")
        long maxLost;

        @Option(names = "--window", paramLabel = "W", defaultValue = "128",
                description = "with --reconnect: most frames unanswered per queue pair (default ${DEFAULT-VALUE}, capped at --queue-size)")
        int window;

        /**
         * @param queueSize {@code --queue-size}
         * @param count {@code --count}, -1 when absent
         * @throws IllegalArgumentException naming the option out of range
         */
        void check(int queueSize, long count) {
            if (time.isZero() || window < 1 || maxLost < -1 || count < -1) {
                throw new UsageException("--seconds and --window must be positive, --max-lost and --count non-negative");
            }
            window = Math.min(window, queueSize);
        }
    }

    /**
     * Streams for {@code --seconds} or until {@code count} frames were sent, printing progress
     * each second on standard error, then drains for {@code drainMs}.
     *
     * @param notes where the job line and the reconnects are printed (standard error with {@code --json})
     * @param conn the connection options the device was opened with (to reopen it)
     * @param net the device, opened with {@link NetTools#openReconnectable}
     * @param range {@code {min, max}} frame lengths in bytes
     * @param count frames to send, -1 for no limit
     * @param drainMs how long to wait for the last frames, in milliseconds
     * @return the counts line and whether it is a success
     * @throws IllegalArgumentException when the lengths exceed the device's MTU + 18
     * @throws Exception when the back-end service cannot be found
     */
    static Printed run(CliServices services, PrintWriter notes, NetCommand.Connection conn, NetDevice net, Options o,
            int[] range, int burst, long count, long drainMs) throws Exception {
        PrintWriter out = notes;
        PrintWriter err = services.err();
        NetTools tools = services.netTools();
        NetEcho echo = new NetEcho(net, range[0], range[1], o.window, burst, count < 0 ? Long.MAX_VALUE : count,
                tools.reconnectable(net), conn.opener(services, 500), o.waitMs, net.info().queueSize(), o.maxLost, out);
        out.printf(Locale.ROOT, "echo %s, %d queue pair(s), frames %d-%d bytes, window %d, reconnecting, on %s%n", Durations.human(o.time),
                net.queuePairs(), range[0], range[1], o.window, net.info().backend());
        out.flush();
        echo.start();
        long start = System.nanoTime();
        Progress progress = new Progress(err, services.terminal());
        Progress.seconds(start, start + o.time.toNanos(), () -> !echo.failed() && (count < 0 || echo.sent() < count),
                s -> progress.line(String.format(Locale.ROOT, "%d s: sent %d received %d, %d reconnects", s, echo.sent(),
                        echo.received(), echo.reconnects())));
        progress.done();
        NetEcho.Outcome r = echo.stop(drainMs);
        if (r.firstError() != null) {
            err.println("first error: " + r.firstError());
        }
        if (r.tally().lost() > r.maxLost()) {
            err.printf(Locale.ROOT, "lost %d exceeds the bound %d%n", r.tally().lost(), r.maxLost());
        }
        err.flush();
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("sent", r.tally().sent());
        m.put("received", r.tally().received());
        m.put("lost", r.tally().lost());
        m.put("duplicated", r.tally().duplicated());
        m.put("corrupted", r.tally().corrupted());
        m.put("reconnects", r.reconnects());
        m.put("max_lost", r.maxLost());
        m.put("first_error", r.firstError());
        m.put("ok", r.clean());
        return new Printed(r.counts(), r.clean(), m);
    }
}
