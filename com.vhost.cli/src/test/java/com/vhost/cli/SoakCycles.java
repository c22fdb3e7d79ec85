package com.vhost.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;
import java.util.function.Supplier;

/**
 * The kill -9 loop the soaks share ({@link ReconnectSoakTest} for blk, {@link NetReconnectSoakTest}
 * for net): a back-end process started, and per cycle, at a random moment once the workload made
 * progress on it, SIGKILLed by PID and restarted on the same socket, then waited for until the
 * workload's driver reconnected. {@link #close} kills the last back-end.
 */
final class SoakCycles implements AutoCloseable {
    /** Bound on waiting for progress on a back-end, s. */
    static final long PROGRESS_SECONDS = 10;
    /** Bound on waiting for a reconnect after a restart, s. */
    static final long RECONNECT_SECONDS = 20;

    /** Starts one back-end process on the socket, serving when this returns. */
    interface Backend {
        Running start() throws Exception;
    }

    /** A back-end process: {@link #kill} is SIGKILL by PID and waits (bounded) until it is gone. */
    interface Running {
        void kill() throws InterruptedException;
    }

    private final Backend backend;
    private final Random random = new Random();
    private Running server;

    /** Starts the first back-end. */
    SoakCycles(Backend backend) throws Exception {
        this.backend = backend;
        this.server = backend.start();
    }

    /**
     * One cycle: waits 100-600 ms (a random moment, with work in flight), then until
     * {@code progress} moved past its value at the start of the cycle (bounded, so a slow machine
     * kills only once the workload ran on this back-end), kills the back-end, starts a new one
     * and waits until {@code reconnects} reaches {@code cycle}.
     *
     * @param cycle the cycle's number, from 1
     * @param progress the workload's count of completed work (writes, frames received)
     * @param reconnects the workload's reconnects
     * @param log what the workload printed, for failure messages
     * @throws AssertionError when the workload made no progress or did not reconnect in time
     */
    void cycle(int cycle, LongSupplier progress, LongSupplier reconnects, Supplier<String> log) throws Exception {
        long before = progress.getAsLong();
        Thread.sleep(100 + random.nextInt(500));
        awaitProgress(progress, before, "before kill " + cycle);
        server.kill();
        server = backend.start();
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(RECONNECT_SECONDS);
        while (reconnects.getAsLong() < cycle && System.nanoTime() < until) {
            Thread.sleep(10);
        }
        assertThat(reconnects.getAsLong()).as("reconnects after kill %d; log: %s", cycle, log.get()).isEqualTo(cycle);
    }

    /**
     * Waits (bounded by {@link #PROGRESS_SECONDS}) until {@code progress} exceeds {@code from}.
     *
     * @throws AssertionError naming {@code when} when it did not
     */
    static void awaitProgress(LongSupplier progress, long from, String when) throws InterruptedException {
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(PROGRESS_SECONDS);
        while (progress.getAsLong() == from && System.nanoTime() < until) {
            Thread.sleep(10);
        }
        assertThat(progress.getAsLong()).as("the workload goes on %s", when).isGreaterThan(from);
    }

    /** Kills the back-end running now. */
    @Override
    public void close() throws InterruptedException {
        server.kill();
    }
}
