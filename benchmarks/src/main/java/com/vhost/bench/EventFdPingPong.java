package com.vhost.bench;

import com.vhost.api.VhostException;
import com.vhost.spi.nativeio.EventFd;
import com.vhost.spi.nativeio.OwnedFd;
import com.vhost.spi.nativeio.UnixServer;
import com.vhost.spi.nativeio.UnixSocket;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.HdrHistogram.Histogram;

/**
 * The notification floor: two processes bounce a notification through a pair of eventfds (as a
 * driver's kick and a device's call would), blocking in poll() each time, and the round-trip
 * latency is measured. A vhost request at queue depth 1 cannot complete faster than this.
 *
 * <p>Usage: {@code java -cp <runtime+api jars> com.vhost.bench.EventFdPingPong [seconds]}.
 * The parent starts a child JVM with the same class path, passes it the two eventfds over an
 * AF_UNIX socket (SCM_RIGHTS) and prints {@code eventfd ping-pong: N round trips, p50 X us,
 * p99 Y us, mean Z us}.
 */
public final class EventFdPingPong {
    /** Largest round trip told apart in the histogram, in nanoseconds. */
    static final long MAX_ROUND_TRIP_NANOS = TimeUnit.SECONDS.toNanos(10);

    private EventFdPingPong() {}

    public static void main(String[] args) throws Exception {
        if (args.length >= 2 && args[0].equals("--child")) {
            child(Path.of(args[1]));
            return;
        }
        double seconds = args.length > 0 ? Double.parseDouble(args[0]) : 3;
        Result r = run(seconds);
        System.out.println(r);
    }

    /** Round-trip statistics in microseconds. */
    public record Result(long roundTrips, double p50Us, double p99Us, double meanUs) {
        @Override
        public String toString() {
            return String.format("eventfd ping-pong: %d round trips, p50 %.1f us, p99 %.1f us, mean %.1f us",
                    roundTrips, p50Us, p99Us, meanUs);
        }
    }

    /** Runs the parent side for {@code seconds} (after a 0.5 s warm-up) and returns the statistics. */
    public static Result run(double seconds) throws Exception {
        Path dir = Files.createTempDirectory("pingpong");
        Path sock = dir.resolve("pp.sock");
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process child = null;
        try (UnixServer server = UnixServer.listen(sock); EventFd ping = EventFd.create(); EventFd pong = EventFd.create()) {
            child = new ProcessBuilder(java, "--enable-native-access=ALL-UNNAMED", "-cp",
                    System.getProperty("java.class.path"), EventFdPingPong.class.getName(), "--child", sock.toString())
                    .inheritIO().start();
            try (UnixSocket s = server.accept(30_000); Arena a = Arena.ofConfined()) {
                if (s == null) {
                    throw new IllegalStateException("child did not connect within 30 s");
                }
                s.sendMsg(a.allocate(8), 0, 8, new int[] {ping.fd(), pong.fd()});
                long warmEnd = System.nanoTime() + 500_000_000L;
                while (System.nanoTime() < warmEnd) {
                    bounce(ping, pong);
                }
                // nanoseconds, 3 significant digits, up to 10 s (a longer round trip counts as 10 s)
                Histogram h = new Histogram(MAX_ROUND_TRIP_NANOS, 3);
                long end = System.nanoTime() + (long) (seconds * 1e9);
                while (true) {
                    long t0 = System.nanoTime();
                    if (t0 > end) {
                        break;
                    }
                    bounce(ping, pong);
                    h.recordValue(Math.min(MAX_ROUND_TRIP_NANOS, System.nanoTime() - t0));
                }
                ping.signal(); // a final ping with value 1 then close tells the child to stop
                return new Result(h.getTotalCount(), h.getValueAtPercentile(50) / 1e3, h.getValueAtPercentile(99) / 1e3,
                        h.getMean() / 1e3);
            }
        } finally {
            if (child != null) {
                child.destroy();
                if (!child.waitFor(5, TimeUnit.SECONDS)) {
                    child.destroyForcibly();
                }
            }
            Files.deleteIfExists(sock);
            Files.deleteIfExists(dir);
        }
    }

    private static void bounce(EventFd ping, EventFd pong) throws VhostException {
        ping.signal();
        while (!pong.await(1000)) {
            // the child is slow (a GC, a descheduled core): keep waiting; destroy() ends a dead run
        }
    }

    private static void child(Path sock) throws Exception {
        try (UnixSocket s = UnixSocket.connect(sock, 10_000); Arena a = Arena.ofConfined()) {
            List<OwnedFd> fds = new ArrayList<>();
            s.recvFully(a.allocate(8), 0, 8, fds);
            try (EventFd ping = EventFd.wrap(fds.get(0).release()); EventFd pong = EventFd.wrap(fds.get(1).release())) {
                while (true) {
                    if (ping.await(1000)) {
                        pong.signal();
                    }
                }
            }
        }
    }
}
