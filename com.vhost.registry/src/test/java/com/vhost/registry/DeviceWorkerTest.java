package com.vhost.registry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.vhost.api.VhostBackend;
import com.vhost.api.VhostBackendType;
import com.vhost.api.VhostException;
import com.vhost.api.VhostOps;
import com.vhost.api.VhostTarget;
import com.vhost.api.registry.DeviceInfo;
import com.vhost.api.registry.VirtioDriver;
import com.vhost.api.registry.VirtioDriverFactory;
import com.vhost.registry.DeviceComponentTest.Driver;
import com.vhost.registry.DeviceComponentTest.Factory;
import com.vhost.registry.DeviceComponentTest.Ops;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Predicate;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The worker's ordering guarantees with a real thread, held at the interesting moment by latches:
 * a DS unbind or deactivation that arrives while the worker is opening or moving waits for it and
 * then acts on its result.
 */
class DeviceWorkerTest {
    private final DeviceComponent c = new DeviceComponent();
    private final CountDownLatch entered = new CountDownLatch(1);
    private final CountDownLatch release = new CountDownLatch(1);

    @AfterEach
    void stop() {
        release.countDown();
        c.deactivate();
    }

    /** A driver whose moves wait for {@link #release}. */
    final class SlowMovingDriver extends Driver {
        final List<String> moves = new CopyOnWriteArrayList<>();

        SlowMovingDriver(VhostBackend backend) {
            super(backend);
        }

        @Override
        public void rebind(VhostBackend newBackend) {
            entered.countDown();
            try {
                release.await(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            moves.add("rebind");
        }

        @Override
        public void detach() {
            moves.add("detach");
        }
    }

    private static Map<String, Object> config() {
        Map<String, Object> m = new HashMap<>();
        m.put("service.pid", "com.vhost.device~d0");
        m.put("target", "/tmp/t.sock");
        return m;
    }

    private static Map<String, Object> props(String name, long id) {
        Map<String, Object> p = new HashMap<>();
        p.put(VhostOps.BACKEND_TYPE, "user");
        p.put(VhostOps.BACKEND_NAME, name);
        p.put("service.id", id);
        return p;
    }

    private DeviceInfo await(Predicate<DeviceInfo> p) throws InterruptedException {
        long deadline = System.nanoTime() + 5_000_000_000L;
        DeviceInfo i = c.info();
        while (!p.test(i) && System.nanoTime() < deadline) {
            Thread.sleep(5);
            i = c.info();
        }
        assertThat(p.test(i)).as("state reached; last %s", i).isTrue();
        return i;
    }

    @Test
    void anUnbindDuringAMoveAwayFromThatBackendWaitsAndThenHasNothingToDetach() throws Exception {
        Ops a = new Ops();
        Ops b = new Ops();
        List<SlowMovingDriver> made = new CopyOnWriteArrayList<>();
        c.activate(config());
        c.bindFactory(new VirtioDriverFactory() {
            @Override
            public String deviceType() {
                return "blk";
            }

            @Override
            public VirtioDriver create(VhostBackend backend, Map<String, Object> config) {
                SlowMovingDriver d = new SlowMovingDriver(backend);
                made.add(d);
                return d;
            }
        });
        c.bindBackend(a, props("a", 1));
        await(i -> i.status() == DeviceInfo.Status.BOUND);

        c.bindBackend(b, props("b", 2)); // greedy: the better service first, then the old one's unbind
        assertThat(entered.await(5, TimeUnit.SECONDS)).as("the move started").isTrue();
        CompletableFuture<Void> unbind = CompletableFuture.runAsync(() -> c.unbindBackend(a, props("a", 1)));
        assertThatThrownBy(() -> unbind.get(200, TimeUnit.MILLISECONDS)).isInstanceOf(TimeoutException.class);

        release.countDown();
        unbind.get(5, TimeUnit.SECONDS);
        assertThat(made.get(0).moves).as("moved, then nothing left on a").containsExactly("rebind");
        assertThat(c.info().backendName()).isEqualTo("b");
        assertThat(c.info().status()).isEqualTo(DeviceInfo.Status.BOUND);
    }

    @Test
    void aDeactivationDuringAnOpenWaitsForItAndClosesTheDriverItMade() throws Exception {
        Factory f = new Factory();
        Ops fast = new Ops();
        VhostOps slow = new VhostOps() {
            @Override
            public VhostBackendType type() {
                return VhostBackendType.USER;
            }

            @Override
            public String name() {
                return "slow";
            }

            @Override
            public VhostBackend open(VhostTarget target) throws VhostException {
                entered.countDown();
                try {
                    release.await(10, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                return fast.open(target);
            }

            @Override
            public Optional<String> unusableReason(VhostTarget target) {
                return Optional.empty();
            }
        };
        c.activate(config());
        c.bindFactory(f);
        c.bindBackend(slow, props("slow", 1));
        assertThat(entered.await(5, TimeUnit.SECONDS)).as("the open started").isTrue();
        CompletableFuture<Void> deactivate = CompletableFuture.runAsync(c::deactivate);
        assertThatThrownBy(() -> deactivate.get(200, TimeUnit.MILLISECONDS)).isInstanceOf(TimeoutException.class);

        release.countDown();
        deactivate.get(5, TimeUnit.SECONDS);
        assertThat(f.made).hasSize(1);
        assertThat(f.made.get(0).closed).as("the late driver is closed, not installed").isTrue();
        assertThat(fast.opened.get(0).closed).isTrue();
        assertThat(c.api(String.class)).isNull();
    }

    @Test
    void aSwapAfterDeactivationIsRefused() {
        c.activate(config());
        c.deactivate();
        assertThatThrownBy(() -> c.swap(null, null, "/tmp/x.sock"))
                .isInstanceOf(VhostException.class)
                .hasMessage("swap: device d0 is being removed");
    }
}
