package com.vhost.registry;

import static org.assertj.core.api.Assertions.assertThat;

import com.vhost.api.VhostBackend;
import com.vhost.api.VhostBackendType;
import com.vhost.api.VhostException;
import com.vhost.api.VhostNativeException;
import com.vhost.api.VhostOps;
import com.vhost.api.VhostTarget;
import com.vhost.api.VirtioDeviceException;
import com.vhost.api.registry.DeviceInfo;
import com.vhost.api.registry.VirtioDriver;
import com.vhost.api.registry.VirtioDriverFactory;
import com.vhost.api.virtio.VirtioDevice;
import java.lang.reflect.Proxy;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Predicate;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The device component's binding life cycle, driven directly (as SCR would) with test doubles. */
class DeviceComponentTest {
    private final DeviceComponent c = new DeviceComponent();

    @AfterEach
    void stop() {
        c.deactivate();
    }

    static final class Conn {
        final AtomicBoolean closed = new AtomicBoolean();
        /** Set to simulate the peer going away. */
        final AtomicBoolean dropped = new AtomicBoolean();
        final VhostBackend proxy = (VhostBackend) Proxy.newProxyInstance(VhostBackend.class.getClassLoader(),
                new Class<?>[] {VhostBackend.class}, (p, m, a) -> switch (m.getName()) {
                    case "close" -> {
                        closed.set(true);
                        yield null;
                    }
                    case "isConnected" -> !closed.get() && !dropped.get();
                    case "describe" -> "fake";
                    default -> throw new UnsupportedOperationException(m.getName());
                });
    }

    static final class Ops implements VhostOps {
        final List<Conn> opened = new CopyOnWriteArrayList<>();
        final List<String> targets = new CopyOnWriteArrayList<>();
        volatile String refuse;

        @Override
        public VhostBackendType type() {
            return VhostBackendType.USER;
        }

        @Override
        public String name() {
            return "ops";
        }

        @Override
        public VhostBackend open(VhostTarget target) throws VhostNativeException {
            if (refuse != null) {
                throw new VhostNativeException("connect(" + target.path() + ")", 111, refuse);
            }
            Conn conn = new Conn();
            opened.add(conn);
            targets.add(target.path());
            return conn.proxy;
        }

        @Override
        public Optional<String> unusableReason(VhostTarget target) {
            return Optional.empty();
        }
    }

    static class Driver implements VirtioDriver {
        final VhostBackend backend;
        final AtomicBoolean closed = new AtomicBoolean();

        Driver(VhostBackend backend) {
            this.backend = backend;
        }

        @Override
        public VirtioDevice device() {
            throw new UnsupportedOperationException("device");
        }

        @Override
        public <T> T api(Class<T> type) {
            return type == String.class ? type.cast("api") : null;
        }

        @Override
        public String summary() {
            return "blk test";
        }

        @Override
        public void close() {
            closed.set(true);
            backend.close();
        }
    }

    /** A driver that can move between backends, as the blk driver does. */
    static final class SwappableDriver extends Driver {
        volatile VhostBackend current;
        final List<String> moves = new CopyOnWriteArrayList<>();

        SwappableDriver(VhostBackend backend) {
            super(backend);
            current = backend;
        }

        @Override
        public void rebind(VhostBackend newBackend) {
            if (current != null) {
                current.close();
            }
            moves.add("rebind");
            current = newBackend;
        }

        @Override
        public void detach() {
            current.close();
            current = null;
            moves.add("detach");
        }

        @Override
        public Map<String, Long> counters() {
            return Map.of("swaps", (long) moves.stream().filter("rebind"::equals).count(), "last.switch.us", 1500L);
        }

        @Override
        public void close() {
            closed.set(true);
            if (current != null) {
                current.close();
            }
        }
    }

    static final class Factory implements VirtioDriverFactory {
        final List<Driver> made = new CopyOnWriteArrayList<>();
        volatile boolean swappable;

        @Override
        public String deviceType() {
            return "blk";
        }

        @Override
        public VirtioDriver create(VhostBackend backend, Map<String, Object> config) {
            Driver d = swappable ? new SwappableDriver(backend) : new Driver(backend);
            made.add(d);
            return d;
        }
    }

    private static Map<String, Object> props(String type) {
        Map<String, Object> p = new HashMap<>();
        p.put(VhostOps.BACKEND_TYPE, type);
        p.put(VhostOps.BACKEND_NAME, type + "-test");
        p.put("service.id", 1L);
        return p;
    }

    private static Map<String, Object> config(Object... kv) {
        Map<String, Object> m = new HashMap<>();
        m.put("service.pid", "com.vhost.device~d0");
        m.put("target", "/tmp/t.sock");
        for (int i = 0; i < kv.length; i += 2) {
            m.put((String) kv[i], kv[i + 1]);
        }
        return m;
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
    void bindsWhenBothProvidersArePresentAndClosesOnUnbind() throws Exception {
        Ops ops = new Ops();
        Factory f = new Factory();
        c.activate(config("queues", 2));
        assertThat(await(i -> i.detail().startsWith("no user backend")).status()).isEqualTo(DeviceInfo.Status.WAITING);
        c.bindBackend(ops, props("user"));
        assertThat(await(i -> i.detail().startsWith("no driver factory for device type blk")).status())
                .isEqualTo(DeviceInfo.Status.WAITING);
        c.bindFactory(f);
        DeviceInfo bound = await(i -> i.status() == DeviceInfo.Status.BOUND);
        assertThat(bound.backendName()).isEqualTo("user-test");
        assertThat(bound.detail()).isEqualTo("blk test");
        assertThat(c.api(String.class)).isEqualTo("api");
        assertThat(c.api(Integer.class)).isNull();

        c.unbindBackend(ops, props("user"));
        // Closed before unbind returned.
        assertThat(f.made.get(0).closed).isTrue();
        assertThat(ops.opened.get(0).closed).isTrue();
        assertThat(await(i -> i.status() == DeviceInfo.Status.WAITING).backendName()).isNull();
        assertThat(c.api(String.class)).isNull();
    }

    @Test
    void aRefusedConnectionIsFailedAndRetriedUntilTheBackEndAnswers() throws Exception {
        Ops ops = new Ops();
        ops.refuse = "Connection refused";
        Factory f = new Factory();
        c.activate(config());
        c.bindFactory(f);
        c.bindBackend(ops, props("user"));
        DeviceInfo failed = await(i -> i.status() == DeviceInfo.Status.FAILED && i.detail().contains("retry 2/"));
        assertThat(failed.detail()).startsWith("user-test: connect(/tmp/t.sock) failed: Connection refused (errno 111) (retry 2/6 in");
        ops.refuse = null; // the back-end comes up
        await(i -> i.status() == DeviceInfo.Status.BOUND);
        assertThat(ops.opened).hasSize(1);
    }

    @Test
    void aFailureThatCannotCureItselfIsNotRetried() throws Exception {
        Ops ops = new Ops();
        c.activate(config());
        c.bindBackend(ops, props("user"));
        c.bindFactory(new VirtioDriverFactory() {
            @Override
            public String deviceType() {
                return "blk";
            }

            @Override
            public VirtioDriver create(VhostBackend backend, Map<String, Object> config) throws VhostException {
                throw new VirtioDeviceException("blk device configuration: 'poll' = 'maybe' is not true or false");
            }
        });
        DeviceInfo failed = await(i -> i.status() == DeviceInfo.Status.FAILED);
        Thread.sleep(400);
        assertThat(c.info().detail()).isEqualTo(failed.detail()).doesNotContain("retry");
        assertThat(ops.opened).hasSize(1);
        assertThat(ops.opened.get(0).closed).as("backend closed after create failed").isTrue();
    }

    @Test
    void aBackendThatDisconnectsIsClosedAndReconnected() throws Exception {
        Ops ops = new Ops();
        Factory f = new Factory();
        c.activate(config());
        c.bindFactory(f);
        c.bindBackend(ops, props("user"));
        await(i -> i.status() == DeviceInfo.Status.BOUND);
        ops.opened.get(0).dropped.set(true);
        await(i -> i.status() == DeviceInfo.Status.BOUND && ops.opened.size() == 2);
        assertThat(f.made.get(0).closed).isTrue();
        assertThat(f.made).hasSize(2);
        assertThat(c.api(String.class)).isEqualTo("api");
    }

    @Test
    void aBackendOfAnotherTypeIsNotUsed() throws Exception {
        Ops ops = new Ops();
        c.activate(config("backend.type", "user"));
        c.bindFactory(new Factory());
        c.bindBackend(ops, props("kernel"));
        DeviceInfo i = await(d -> d.detail().contains("is of type kernel"));
        assertThat(i.status()).isEqualTo(DeviceInfo.Status.WAITING);
        assertThat(ops.opened).isEmpty();
    }

    @Test
    void invalidConfigurationIsFailedWithoutTouchingProviders() throws Exception {
        Ops ops = new Ops();
        c.bindBackend(ops, props("user"));
        c.bindFactory(new Factory());
        c.activate(config("queue.size", "3"));
        DeviceInfo i = await(d -> d.status() == DeviceInfo.Status.FAILED);
        assertThat(i.detail()).isEqualTo("invalid configuration: queue.size: 3 is not a power of two");
        assertThat(i.id()).isEqualTo("d0");
        assertThat(ops.opened).isEmpty();
    }

    @Test
    void deactivateClosesTheDriver() throws Exception {
        Factory f = new Factory();
        c.bindBackend(new Ops(), props("user"));
        c.bindFactory(f);
        c.activate(config());
        await(i -> i.status() == DeviceInfo.Status.BOUND);
        c.deactivate();
        assertThat(f.made.get(0).closed).isTrue();
    }

    private static Map<String, Object> props(String type, String name, long id) {
        Map<String, Object> p = props(type);
        p.put(VhostOps.BACKEND_NAME, name);
        p.put("service.id", id);
        return p;
    }

    @Test
    void aBackendThatGoesAwayDetachesTheDriverAndTheNextOneRebindsItKeepingTheHandle() throws Exception {
        Ops a = new Ops();
        Ops b = new Ops();
        Factory f = new Factory();
        f.swappable = true;
        c.activate(config());
        c.bindFactory(f);
        c.bindBackend(a, props("user", "a", 1));
        await(i -> i.status() == DeviceInfo.Status.BOUND);
        SwappableDriver d = (SwappableDriver) f.made.get(0);

        c.unbindBackend(a, props("user", "a", 1));
        // Detached before unbind returned: the old back-end's connection is released, the driver kept.
        assertThat(d.moves).containsExactly("detach");
        assertThat(a.opened.get(0).closed).isTrue();
        assertThat(d.closed).isFalse();
        DeviceInfo waiting = await(i -> i.status() == DeviceInfo.Status.WAITING);
        assertThat(waiting.detail()).startsWith("detached from a");
        assertThat(c.api(String.class)).isEqualTo("api");

        c.bindBackend(b, props("user", "b", 2));
        DeviceInfo bound = await(i -> i.status() == DeviceInfo.Status.BOUND);
        assertThat(bound.backendName()).isEqualTo("b");
        assertThat(d.moves).containsExactly("detach", "rebind");
        assertThat(f.made).hasSize(1);
        assertThat(d.current).isSameAs(b.opened.get(0).proxy);
        assertThat(c.counters()).containsEntry("registry.swaps", 1L).containsEntry("swaps", 1L);

        // The same counters through JMX.
        javax.management.MBeanServer jmx = java.lang.management.ManagementFactory.getPlatformMBeanServer();
        javax.management.ObjectName name = new javax.management.ObjectName("com.vhost:type=Device,name=\"d0\"");
        assertThat(jmx.getAttribute(name, "Swaps")).isEqualTo(1L);
        assertThat(jmx.getAttribute(name, "Status")).isEqualTo("BOUND");
        assertThat(jmx.getAttribute(name, "Backend")).isEqualTo("b");
    }

    @Test
    void aBetterRankedBackendAnOperatorSwapAndATargetChangeMoveTheRunningDriver() throws Exception {
        Ops a = new Ops();
        Ops b = new Ops();
        Factory f = new Factory();
        f.swappable = true;
        c.activate(config());
        c.bindFactory(f);
        c.bindBackend(a, props("user", "a", 1));
        await(i -> i.status() == DeviceInfo.Status.BOUND);
        SwappableDriver d = (SwappableDriver) f.made.get(0);

        // Greedy reference: DS binds the better-ranked service first, then unbinds the old one.
        c.bindBackend(b, props("user", "b", 2));
        await(i -> "b".equals(i.backendName()) && i.status() == DeviceInfo.Status.BOUND);
        c.unbindBackend(a, props("user", "a", 1));
        assertThat(d.moves).containsExactly("rebind");
        assertThat(a.opened.get(0).closed).isTrue();

        String result = c.swap(null, null, "/tmp/other.sock");
        assertThat(result).startsWith("d0 now on b (/tmp/other.sock)");
        assertThat(b.targets).containsExactly("/tmp/t.sock", "/tmp/other.sock");
        assertThat(c.info().target()).isEqualTo("/tmp/other.sock");

        c.swap(a, "a", null);
        assertThat(await(i -> "a".equals(i.backendName())).target()).isEqualTo("/tmp/t.sock");

        c.modified(config("target", "/tmp/new.sock"));
        await(i -> "/tmp/new.sock".equals(i.target()) && i.status() == DeviceInfo.Status.BOUND);
        assertThat(d.moves).containsExactly("rebind", "rebind", "rebind", "rebind");
        assertThat(f.made).hasSize(1);

        c.modified(config("target", "/tmp/new.sock", "queues", 2));
        await(i -> f.made.size() == 2 && i.status() == DeviceInfo.Status.BOUND);
        assertThat(d.closed).as("a device change re-creates the driver").isTrue();
    }

    @Test
    void aSwapToABackendThatRefusesKeepsTheDeviceOnItsOldOne() throws Exception {
        Ops a = new Ops();
        Ops bad = new Ops();
        bad.refuse = "Connection refused";
        Factory f = new Factory();
        f.swappable = true;
        c.activate(config());
        c.bindFactory(f);
        c.bindBackend(a, props("user", "a", 1));
        await(i -> i.status() == DeviceInfo.Status.BOUND);
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> c.swap(bad, "bad", null))
                .isInstanceOf(VirtioDeviceException.class)
                .hasMessageContaining("swap to bad (/tmp/t.sock) failed")
                .hasMessageContaining("still on a");
        assertThat(c.info().status()).isEqualTo(DeviceInfo.Status.BOUND);
        assertThat(a.opened.get(0).closed).isFalse();
    }
}
