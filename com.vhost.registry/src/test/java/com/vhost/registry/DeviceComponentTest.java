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
            return conn.proxy;
        }

        @Override
        public Optional<String> unusableReason(VhostTarget target) {
            return Optional.empty();
        }
    }

    static final class Driver implements VirtioDriver {
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

    static final class Factory implements VirtioDriverFactory {
        final List<Driver> made = new CopyOnWriteArrayList<>();

        @Override
        public String deviceType() {
            return "blk";
        }

        @Override
        public VirtioDriver create(VhostBackend backend, Map<String, Object> config) {
            Driver d = new Driver(backend);
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
}
