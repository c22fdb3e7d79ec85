package com.vhost.spi.driver;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.vhost.api.VhostBackendType;
import com.vhost.api.VhostDisconnectedException;
import com.vhost.api.VhostTimeoutException;
import com.vhost.api.VirtioDeviceException;
import com.vhost.spi.testing.RecordingBackend;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/** The shared hot-swap bookkeeping of the blk and net drivers, on its own. */
class HotSwapStateTest {
    private static HotSwapState state(long swapWaitNanos) {
        return new HotSwapState("virtio-test", "rebind/detach/close", LoggerFactory.getLogger(HotSwapStateTest.class),
                () -> "backend-a", swapWaitNanos);
    }

    @Test
    void detachedStateNamesTheBackendThatWentAwayAndExpiresAfterTheSwapWait() throws Exception {
        HotSwapState s = state(TimeUnit.SECONDS.toNanos(10));
        assertThat(s.isDetached()).isFalse();
        assertThat(s.backendName()).isEqualTo("backend-a");
        assertThat(s.expired()).isNull();
        s.requireAttached("snapshot");

        long deadline = s.markDetached("backend-a");
        assertThat(deadline).isNotZero().isEqualTo(s.detachedDeadline());
        assertThat(s.isDetached()).isTrue();
        assertThat(s.backendName()).isEqualTo("(no backend; was backend-a)");
        assertThat(s.expired()).isNull(); // 10 s to go
        assertThatThrownBy(() -> s.requireAttached("snapshot")).isInstanceOf(VirtioDeviceException.class)
                .hasMessage("snapshot: virtio-test has no backend since backend-a went away; bind it first (vhost:swap)");

        s.setSwapWaitNanos(0);
        s.markDetached("backend-b");
        Thread.sleep(1);
        VhostDisconnectedException e = s.expired();
        assertThat(e).isNotNull();
        assertThat(e.getMessage()).isEqualTo("virtio-test: no backend since backend-b went away; waited 0 ms (swap.wait.ms)"
                + " for a new one");

        s.attached(System.nanoTime());
        assertThat(s.isDetached()).isFalse();
        assertThat(s.detachedFrom()).isNull();
        assertThat(s.expired()).isNull();
    }

    @Test
    void negativeSwapWaitIsRefused() {
        HotSwapState s = state(5);
        assertThatThrownBy(() -> s.setSwapWaitNanos(-1)).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("swap wait -1 ns is negative");
        assertThat(s.swapWaitNanos()).isEqualTo(5);
        assertThatThrownBy(() -> state(-2)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void pauseIsMeasuredOnceAfterASwapAndCountersKeepTheirKeys() {
        HotSwapState s = state(0);
        Map<String, Long> before = new LinkedHashMap<>();
        s.putSwapCounters(before);
        assertThat(before).containsExactly(Map.entry("states.carried", 0L), Map.entry("pauses.measured", 0L),
                Map.entry("last.pause.us", -1L), Map.entry("last.pause.ns", -1L), Map.entry("last.switch.us", -1L));
        assertThat(s.firstCompletion(System.nanoTime())).isEqualTo(-1); // no swap yet

        long t0 = System.nanoTime();
        s.attached(t0);
        s.swapped(t0);
        assertThat(s.swaps()).isEqualTo(1);
        assertThat(s.lastSwitchNanos()).isNotNegative();
        assertThat(s.firstCompletion(t0 + 3_000)).isEqualTo(3_000);
        assertThat(s.firstCompletion(t0 + 9_000)).isEqualTo(-1); // only the first completion counts
        assertThat(s.pausesMeasured()).isEqualTo(1);
        assertThat(s.lastPauseNanos()).isEqualTo(3_000);
        Map<String, Long> after = new LinkedHashMap<>();
        s.putSwapCounters(after);
        assertThat(after.get("last.pause.us")).isEqualTo(3L);
        assertThat(after.get("last.pause.ns")).isEqualTo(3_000L);
        assertThat(after.get("pauses.measured")).isEqualTo(1L);
        assertThat(after.get("last.switch.us")).isNotNegative();
    }

    @Test
    void refusedLockClosesTheBackendHandedOverAndNamesTheHolders() {
        HotSwapState s = state(0);
        RecordingBackend handed = RecordingBackend.of(VhostBackendType.USER, 0, 0);
        Thread.currentThread().interrupt(); // the bounded wait ends at once
        assertThatThrownBy(() -> s.lock("rebind", handed)).isInstanceOf(VhostTimeoutException.class)
                .hasMessage("rebind: another rebind/detach/close of virtio-test on backend-a did not finish within 30 s");
        assertThat(Thread.interrupted()).isTrue();
        assertThat(handed.isConnected()).isFalse();

        assertThat(s.tryLock()).isTrue();
        s.unlock();
        assertThat(s.refusal("detach", true, null)).hasMessage("detach: virtio-test on backend-a is closed");
        assertThat(s.refusal("detach", false, new VhostDisconnectedException("gone")))
                .hasMessage("detach: virtio-test on backend-a is failed: gone");
    }
}
