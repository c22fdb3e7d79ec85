package com.vhost.integration;

import com.vhost.api.VhostBackend;
import com.vhost.api.VhostBackendType;
import com.vhost.api.VhostOps;
import com.vhost.api.VhostTarget;
import com.vhost.api.registry.VirtioDriver;
import com.vhost.api.registry.VirtioDriverFactory;
import com.vhost.api.virtio.VirtioDevice;
import java.lang.reflect.Proxy;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Test doubles the probe registers as services, so the registry's binding logic is exercised
 * inside the framework without a real back-end: a VhostOps that records what it opened, and a
 * driver factory whose drivers record being closed.
 */
final class Doubles {
    private Doubles() {}

    /** A backend connection that only knows whether it was closed. */
    static final class Connection {
        final String path;
        final AtomicBoolean closed = new AtomicBoolean();
        final VhostBackend proxy;

        Connection(String path) {
            this.path = path;
            this.proxy = (VhostBackend) Proxy.newProxyInstance(VhostBackend.class.getClassLoader(),
                    new Class<?>[] {VhostBackend.class}, (p, m, args) -> switch (m.getName()) {
                        case "close" -> {
                            closed.set(true);
                            yield null;
                        }
                        case "isConnected" -> !closed.get();
                        case "describe" -> "fake:" + path;
                        case "toString" -> "fake:" + path;
                        case "hashCode" -> System.identityHashCode(p);
                        case "equals" -> p == args[0];
                        default -> throw new UnsupportedOperationException(m.getName() + " is not used by the registry");
                    });
        }
    }

    /** VhostOps of type user; paths not starting with {@code usablePrefix} are reported unusable. */
    static final class FakeOps implements VhostOps {
        final String name;
        final String usablePrefix;
        final List<Connection> opened = new CopyOnWriteArrayList<>();

        FakeOps(String name, String usablePrefix) {
            this.name = name;
            this.usablePrefix = usablePrefix;
        }

        @Override
        public VhostBackendType type() {
            return VhostBackendType.USER;
        }

        @Override
        public String name() {
            return name;
        }

        @Override
        public VhostBackend open(VhostTarget target) {
            Connection c = new Connection(target.path());
            opened.add(c);
            return c.proxy;
        }

        @Override
        public Optional<String> unusableReason(VhostTarget target) {
            return target.path().startsWith(usablePrefix)
                    ? Optional.empty()
                    : Optional.of("connect(" + target.path() + ") failed: No such file or directory (errno 2)");
        }
    }

    /** A driver that owns its backend and closes it. */
    static final class FakeDriver implements VirtioDriver {
        final VhostBackend backend;
        final Map<String, Object> config;
        final AtomicBoolean closed = new AtomicBoolean();

        FakeDriver(VhostBackend backend, Map<String, Object> config) {
            this.backend = backend;
            this.config = config;
        }

        @Override
        public VirtioDevice device() {
            throw new UnsupportedOperationException("the registry does not ask for the device");
        }

        @Override
        public <T> T api(Class<T> type) {
            return type == CharSequence.class ? type.cast("handle:" + backend.describe()) : null;
        }

        @Override
        public String summary() {
            return "fake blk, " + config.get("queues") + " queue(s) on " + backend.describe();
        }

        @Override
        public void close() {
            closed.set(true);
            backend.close();
        }
    }

    /** Makes {@link FakeDriver}s for device type blk. */
    static final class FakeFactory implements VirtioDriverFactory {
        final List<FakeDriver> created = new CopyOnWriteArrayList<>();

        @Override
        public String deviceType() {
            return "blk";
        }

        @Override
        public VirtioDriver create(VhostBackend backend, Map<String, Object> config) {
            FakeDriver d = new FakeDriver(backend, config);
            created.add(d);
            return d;
        }
    }
}
