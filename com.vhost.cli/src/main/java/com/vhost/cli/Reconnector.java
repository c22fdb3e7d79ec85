package com.vhost.cli;

import com.vhost.api.VhostBackend;
import java.io.PrintWriter;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The reconnect thread of {@code vhost blk verify --reconnect} and {@code vhost net echo
 * --reconnect}: while the device is detached from a dead back-end ({@link ReconnectView#detached}),
 * it opens a new back-end on the same target every {@link #RETRY_MS} ms and rebinds the device to
 * it, for at most {@code waitMs} per loss, and prints {@code reconnected after N ms} for each
 * rebind. Looks at the device every {@link #WATCH_MS} ms.
 */
final class Reconnector {
    /** Pause between reconnect attempts, in milliseconds. */
    static final long RETRY_MS = 50;
    /** Pause between looks at the device's {@code detached} counter, in milliseconds. */
    static final long WATCH_MS = 10;
    /** Extra time {@link #stop} gives the thread beyond {@code waitMs}, in milliseconds. */
    private static final long STOP_GRACE_MS = 5_000;

    /** Opens a new back-end on the same target; throws while none listens there. */
    @FunctionalInterface
    interface Reopen {
        /**
         * @return an open backend, owned by the caller
         * @throws Exception when no back-end answers (yet)
         */
        VhostBackend open() throws Exception;
    }

    private final String name;
    private final ReconnectView device;
    private final Reopen reopen;
    private final long waitMs;
    private final PrintWriter log;
    private final AtomicLong reconnects = new AtomicLong();
    private final AtomicReference<String> error = new AtomicReference<>();
    private volatile boolean running;
    private Thread thread;

    /**
     * @param name the thread's name
     * @param device the device's reconnect view
     * @param reopen opens a new back-end on the device's target
     * @param waitMs how long to keep trying after one loss, in milliseconds (then {@link #error()}
     *     says so and the thread waits for the next loss)
     * @param log receives {@code reconnected after N ms} lines (synchronized on it)
     */
    Reconnector(String name, ReconnectView device, Reopen reopen, long waitMs, PrintWriter log) {
        this.name = name;
        this.device = device;
        this.reopen = reopen;
        this.waitMs = waitMs;
        this.log = log;
    }

    /** Starts the thread (a daemon). */
    void start() {
        running = true;
        thread = Thread.ofPlatform().daemon().name(name).start(this::watch);
    }

    /** @return rebinds after a lost back-end so far */
    long reconnects() {
        return reconnects.get();
    }

    /** @return the first reconnect that gave up ("no back-end to reconnect to within N ms: why"), or null */
    String error() {
        return error.get();
    }

    /** Stops the thread: waits at most {@code waitMs} + 5 s for a reconnect in progress. */
    void stop() throws InterruptedException {
        running = false;
        Thread t = thread;
        if (t != null) {
            t.join(waitMs + STOP_GRACE_MS);
        }
    }

    private void watch() {
        while (running && !Thread.currentThread().isInterrupted()) {
            if (device.detached()) {
                reconnect();
            }
            sleep(WATCH_MS);
        }
    }

    /** Tries to rebind the detached device for at most {@link #waitMs}. */
    private void reconnect() {
        long t0 = System.nanoTime();
        long until = t0 + TimeUnit.MILLISECONDS.toNanos(waitMs);
        Exception last = null;
        while (running && device.detached() && !Thread.currentThread().isInterrupted()) {
            if (System.nanoTime() > until) {
                error.compareAndSet(null, "no back-end to reconnect to within " + waitMs + " ms"
                        + (last == null ? "" : ": " + VhostCli.message(last)));
                return;
            }
            try {
                device.rebind(reopen.open());
                long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
                reconnects.incrementAndGet();
                synchronized (log) {
                    log.printf(Locale.ROOT, "reconnected after %d ms%n", ms);
                    log.flush();
                }
                return;
            } catch (Exception e) {
                last = e;
                sleep(RETRY_MS);
            }
        }
    }

    /** Sleeps; an interrupt is kept in the thread's flag, which ends the thread. */
    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
