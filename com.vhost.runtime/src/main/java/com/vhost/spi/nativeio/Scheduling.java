package com.vhost.spi.nativeio;

import com.vhost.api.VhostNativeException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Real-time scheduling for the threads of a hot-swap's control path (sched(7)): the thread that
 * swaps a device, a vhost-user back-end's session thread, its state-transfer thread. Their work
 * in a swap's I/O pause is a chain of wake-ups; on a machine whose CPUs the data path keeps busy,
 * each woken thread of the chain otherwise waits its turn behind data-path threads (measured: the
 * swapping and session threads runnable but not running for 1-2 ms of a 3 ms swap on 2 CPUs).
 * Under {@code SCHED_FIFO} a woken control thread runs at once.
 *
 * <p>{@link #boost()} puts the calling thread under {@code SCHED_FIFO} at {@link #priority()}
 * with {@code SCHED_RESET_ON_FORK}, so a thread it starts (a queue worker, a pool thread) runs
 * under the normal policy; {@link Boost#close()} puts it back under {@code SCHED_OTHER}. The data
 * path (queue workers, completion threads, pollers) is never boosted: a spinning poller under
 * {@code SCHED_FIFO} would keep a CPU from everything else.
 *
 * <p>Needs CAP_SYS_NICE or an RLIMIT_RTPRIO of at least the priority: without, {@link #boost()}
 * changes nothing and says why once (INFO). {@value #PRIORITY_PROPERTY} sets the priority,
 * 1..99 (default {@value #DEFAULT_PRIORITY}, low among real-time threads), 0 turns it off.
 */
public final class Scheduling {
    private static final Logger LOG = LoggerFactory.getLogger(Scheduling.class);
    /** System property: the control threads' {@code SCHED_FIFO} priority, 0 for none. */
    public static final String PRIORITY_PROPERTY = "vhost.control.rt.priority";
    /** Default {@value #PRIORITY_PROPERTY}. */
    public static final int DEFAULT_PRIORITY = 10;
    private static final int SCHED_OTHER = 0;
    private static final int SCHED_FIFO = 1;
    private static final int SCHED_RESET_ON_FORK = 0x40000000;
    private static final int CLOCK_THREAD_CPUTIME_ID = 3;
    private static final int PRIORITY = readPriority();
    private static volatile boolean refused;
    private static final Boost NONE = new Boost(false);

    private static final class SetSchedulerHandle {
        static final MethodHandle MH = Linux.errnoHandle("sched_setscheduler",
                FunctionDescriptor.of(Linux.C_INT, Linux.C_INT, Linux.C_INT, Linux.C_PTR));
    }

    private static final class ClockGettimeHandle {
        static final MethodHandle MH = Linux.LINKER.downcallHandle(Linux.LIBC.find("clock_gettime").orElseThrow(),
                FunctionDescriptor.of(Linux.C_INT, Linux.C_INT, Linux.C_PTR));
    }

    private Scheduling() {}

    /** @return the {@code SCHED_FIFO} priority boosted threads get, 0 when boosting is off */
    public static int priority() {
        return PRIORITY;
    }

    private static int readPriority() {
        String v = System.getProperty(PRIORITY_PROPERTY);
        if (v == null || v.isBlank()) {
            return DEFAULT_PRIORITY;
        }
        try {
            int p = Integer.parseInt(v.trim());
            if (p >= 0 && p <= 99) {
                return p;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        LOG.warn("{}={} is not a priority in 0..99; control threads use {}", PRIORITY_PROPERTY, v,
                DEFAULT_PRIORITY);
        return DEFAULT_PRIORITY;
    }

    /**
     * Puts the calling thread under {@code SCHED_FIFO} at {@link #priority()} (with
     * {@code SCHED_RESET_ON_FORK}) until the returned boost is closed. Never throws: when off, or
     * not permitted (EPERM: no CAP_SYS_NICE and RLIMIT_RTPRIO too low), the boost does nothing;
     * the first refusal is logged once.
     *
     * @return the boost, to be closed on the same thread
     */
    public static Boost boost() {
        if (PRIORITY == 0 || refused) {
            return NONE;
        }
        try {
            set(SCHED_FIFO | SCHED_RESET_ON_FORK, PRIORITY);
            return new Boost(true);
        } catch (VhostNativeException | RuntimeException e) {
            refused = true;
            LOG.info("control threads run under the normal policy: {} (SCHED_FIFO needs CAP_SYS_NICE or RLIMIT_RTPRIO >= {};"
                    + " {}=0 stops trying)", e.getMessage(), PRIORITY, PRIORITY_PROPERTY);
            return NONE;
        }
    }

    private static void set(int policy, int priority) throws VhostNativeException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment param = a.allocate(ValueLayout.JAVA_INT);
            param.set(ValueLayout.JAVA_INT, 0, priority);
            int r = (int) SetSchedulerHandle.MH.invokeExact(Linux.captureState(), 0, policy, param);
            if (r < 0) {
                throw Linux.error("sched_setscheduler(" + (policy == SCHED_OTHER ? "SCHED_OTHER" : "SCHED_FIFO " + priority) + ")");
            }
        } catch (VhostNativeException e) {
            throw e;
        } catch (Throwable t) {
            throw Linux.rethrow(t);
        }
    }

    /**
     * @return CPU time the calling thread used, nanoseconds ({@code CLOCK_THREAD_CPUTIME_ID}), or
     *     -1 when the clock cannot be read
     */
    public static long threadCpuNanos() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment ts = a.allocate(16, 8);
            int r = (int) ClockGettimeHandle.MH.invokeExact(CLOCK_THREAD_CPUTIME_ID, ts);
            return r < 0 ? -1 : ts.get(ValueLayout.JAVA_LONG, 0) * 1_000_000_000L + ts.get(ValueLayout.JAVA_LONG, 8);
        } catch (Throwable t) {
            return -1;
        }
    }

    /** A boost of the thread that took it; {@link #close()} ends it (idempotent). */
    public static final class Boost implements AutoCloseable {
        private boolean active;

        private Boost(boolean active) {
            this.active = active;
        }

        /** @return whether the thread runs under {@code SCHED_FIFO} through this boost */
        public boolean active() {
            return active;
        }

        /** Puts the thread back under {@code SCHED_OTHER}; a failure is logged, never thrown. */
        @Override
        public void close() {
            if (!active) {
                return;
            }
            active = false;
            try {
                set(SCHED_OTHER, 0);
            } catch (VhostNativeException | RuntimeException e) {
                LOG.warn("ending a control thread's SCHED_FIFO boost: {}", e.getMessage());
            }
        }
    }

    /**
     * Bounds what a boosted thread that serves a peer (a vhost-user session thread) may take: a
     * peer that floods it with requests must not hold a CPU under {@code SCHED_FIFO}. Once the
     * thread used more than {@code budgetNanos} of CPU within one window of {@code windowNanos},
     * its boost ends (logged) until a window passes with less.
     */
    public static final class Budget {
        private final long windowNanos;
        private final long budgetNanos;
        private final String what;
        private Boost boost = NONE;
        private long windowStart;
        private long cpuAtStart;
        private boolean demoted;

        /**
         * @param what the thread, for the log ("vhost-user server /run/x.sock")
         * @param window length of a window
         * @param budget CPU time a window may use under the boost
         */
        public Budget(String what, long window, long budget, TimeUnit unit) {
            this.what = what;
            this.windowNanos = unit.toNanos(window);
            this.budgetNanos = unit.toNanos(budget);
        }

        /** Boosts the calling thread (see {@link Scheduling#boost()}) and starts the first window. */
        public void start() {
            boost = boost();
            windowStart = System.nanoTime();
            cpuAtStart = threadCpuNanos();
        }

        /** Before each request: ends the boost when this window's CPU exceeds the budget, renews it after a quiet one. */
        public void check() {
            if (!boost.active() && !demoted) {
                return;
            }
            long now = System.nanoTime();
            long cpu = threadCpuNanos();
            if (cpu < 0) {
                return;
            }
            if (now - windowStart >= windowNanos) { // a new window: a demoted thread that kept within the budget is boosted again
                if (demoted && cpu - cpuAtStart <= budgetNanos) {
                    demoted = false;
                    boost = boost();
                }
                windowStart = now;
                cpuAtStart = cpu;
            }
            if (!demoted && cpu - cpuAtStart > budgetNanos) {
                boost.close();
                demoted = true;
                LOG.warn("{}: used {} ms of CPU within {} ms; it runs under the normal policy until a quieter window",
                        what, TimeUnit.NANOSECONDS.toMillis(cpu - cpuAtStart), TimeUnit.NANOSECONDS.toMillis(now - windowStart));
            }
        }

        /** Ends the boost (the session ended). */
        public void stop() {
            boost.close();
            demoted = false;
        }
    }
}
