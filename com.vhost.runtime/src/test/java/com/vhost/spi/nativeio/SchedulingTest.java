package com.vhost.spi.nativeio;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@link Scheduling}: the boost of a control thread, what threads it starts get, and the CPU
 * budget of a boosted thread that serves a peer. The policy is read back from
 * {@code /proc/thread-self/stat} (proc(5): field 41, 1 = SCHED_FIFO, 0 = SCHED_OTHER).
 */
@Timeout(30)
class SchedulingTest {
    /** @return the calling thread's scheduling policy (proc(5) stat field 41) */
    private static int policy() throws Exception {
        String stat = Files.readString(Path.of("/proc/thread-self/stat"));
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        return Integer.parseInt(f[41 - 3]); // fields after ")" start at field 3
    }

    /** Skips, saying why, where SCHED_FIFO is not permitted; with CI=true (root) that is a failure. */
    private static void assumeBoostable() {
        boolean active;
        try (Scheduling.Boost b = Scheduling.boost()) {
            active = b.active();
        }
        String why = "SCHED_FIFO is not permitted here (needs CAP_SYS_NICE or RLIMIT_RTPRIO >= " + Scheduling.priority() + ")";
        if (!active && "true".equals(System.getenv("CI"))) {
            fail(why);
        }
        assumeTrue(active, why);
    }

    @Test
    void aBoostPutsTheThreadUnderFifoAndItsCloseBackUnderTheNormalPolicy() throws Exception {
        assumeBoostable();
        assertThat(policy()).isZero();
        Scheduling.Boost b = Scheduling.boost();
        assertThat(b.active()).isTrue();
        assertThat(policy()).isEqualTo(1);
        b.close();
        b.close(); // idempotent
        assertThat(b.active()).isFalse();
        assertThat(policy()).isZero();
    }

    @Test
    void aThreadStartedByABoostedThreadRunsUnderTheNormalPolicy() throws Exception {
        assumeBoostable();
        AtomicInteger child = new AtomicInteger(-1);
        try (Scheduling.Boost b = Scheduling.boost()) {
            assertThat(policy()).isEqualTo(1);
            Thread t = Thread.ofPlatform().start(() -> {
                try {
                    child.set(policy());
                } catch (Exception e) {
                    child.set(-2);
                }
            });
            t.join();
        }
        assertThat(child.get()).as("SCHED_RESET_ON_FORK: a queue worker started in a swap is not real-time").isZero();
    }

    @Test
    void aBusyServingThreadLosesItsBoostAndGetsItBackAfterAQuietWindow() throws Exception {
        assumeBoostable();
        Scheduling.Budget budget = new Scheduling.Budget("test", 50, 10, TimeUnit.MILLISECONDS);
        budget.start();
        try {
            assertThat(policy()).isEqualTo(1);
            long end = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(30);
            long x = 0;
            while (System.nanoTime() < end) { // 30 ms of CPU within one 50 ms window: beyond the 10 ms budget
                x += System.nanoTime() & 1;
            }
            budget.check();
            assertThat(policy()).as("demoted after %d", x).isZero();
            Thread.sleep(120); // a quiet window
            budget.check(); // ends the window of the busy loop (over budget): still demoted
            assertThat(policy()).isZero();
            Thread.sleep(60);
            budget.check();
            assertThat(policy()).as("boosted again after a quiet window").isEqualTo(1);
        } finally {
            budget.stop();
        }
        assertThat(policy()).isZero();
    }

    @Test
    void threadCpuTimeGrowsWithWork() {
        long a = Scheduling.threadCpuNanos();
        long x = 0;
        for (int i = 0; i < 5_000_000; i++) {
            x += i ^ (x >>> 3);
        }
        long b = Scheduling.threadCpuNanos();
        assertThat(a).isPositive();
        assertThat(b).as("after %d", x).isGreaterThan(a);
    }
}
