package com.vhost.spi.driver;

import com.vhost.api.VhostBackend;
import com.vhost.api.VhostException;
import com.vhost.api.registry.VirtioDriver;
import com.vhost.api.virtio.VirtioDevice;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.function.Supplier;

/**
 * A running hot-swappable driver as the registry sees it: every {@link VirtioDriver} call goes to
 * the driver's own method of the same name (given as {@link Ops}), and {@link #api} hands out the
 * driver itself for the types it was made with. Used by the device bundles' driver factories,
 * whose drivers share the shape but no type.
 */
public final class DelegatingVirtioDriver implements VirtioDriver {
    /** A driver call without arguments that can fail with a {@link VhostException}. */
    @FunctionalInterface
    public interface Call<T> {
        T call() throws VhostException;
    }

    /** A driver call with one argument that can fail with a {@link VhostException}. */
    @FunctionalInterface
    public interface Call1<A, T> {
        T call(A argument) throws VhostException;
    }

    /** A driver call without arguments or result that can fail with a {@link VhostException}. */
    @FunctionalInterface
    public interface Action {
        void run() throws VhostException;
    }

    /** A driver call with one argument and no result that can fail with a {@link VhostException}. */
    @FunctionalInterface
    public interface Action1<A> {
        void run(A argument) throws VhostException;
    }

    /**
     * The driver's methods for each {@link VirtioDriver} call (see there for what each does and
     * throws).
     *
     * @param device the {@link VirtioDevice} the driver runs
     * @param summary a one-line description
     * @param rebind moves the driver to a new backend (hot-swap)
     * @param detach releases the backend, the device waiting for a new one
     * @param snapshot the running device's snapshot
     * @param restore restores a snapshot, returning what it restored
     * @param counters the driver's counters
     * @param close stops the driver and releases what it holds
     */
    public record Ops(Supplier<? extends VirtioDevice> device, Supplier<String> summary, Action1<VhostBackend> rebind,
            Action detach, Call<byte[]> snapshot, Call1<byte[], String> restore, Supplier<Map<String, Long>> counters,
            Runnable close) {
        public Ops {
            Objects.requireNonNull(device, "device");
            Objects.requireNonNull(summary, "summary");
            Objects.requireNonNull(rebind, "rebind");
            Objects.requireNonNull(detach, "detach");
            Objects.requireNonNull(snapshot, "snapshot");
            Objects.requireNonNull(restore, "restore");
            Objects.requireNonNull(counters, "counters");
            Objects.requireNonNull(close, "close");
        }
    }

    private final Object driver;
    private final Set<Class<?>> apis;
    private final Ops ops;

    /**
     * @param driver the driver, which {@link #api} returns for the types in {@code apis}
     * @param apis the types {@link #api} answers
     * @param ops the driver's methods
     */
    public DelegatingVirtioDriver(Object driver, Set<Class<?>> apis, Ops ops) {
        this.driver = Objects.requireNonNull(driver, "driver");
        this.apis = Set.copyOf(apis);
        this.ops = Objects.requireNonNull(ops, "ops");
    }

    @Override
    public VirtioDevice device() {
        return ops.device().get();
    }

    /** @return the driver when {@code type} is one of the types given, else null */
    @Override
    public <T> T api(Class<T> type) {
        return type != null && apis.contains(type) ? type.cast(driver) : null;
    }

    @Override
    public String summary() {
        return ops.summary().get();
    }

    @Override
    public void rebind(VhostBackend newBackend) throws VhostException {
        ops.rebind().run(newBackend);
    }

    @Override
    public void detach() throws VhostException {
        ops.detach().run();
    }

    @Override
    public byte[] snapshot() throws VhostException {
        return ops.snapshot().call();
    }

    @Override
    public String restore(byte[] snapshot) throws VhostException {
        return ops.restore().call(snapshot);
    }

    @Override
    public Map<String, Long> counters() {
        return ops.counters().get();
    }

    @Override
    public void close() {
        ops.close().run();
    }
}
