package com.vhost.registry;

import com.vhost.api.VhostBackend;
import com.vhost.api.VhostException;
import com.vhost.api.VhostOps;
import com.vhost.api.VhostTarget;
import com.vhost.api.registry.DeviceConfigKeys;
import com.vhost.api.registry.DeviceInfo;
import com.vhost.api.registry.DeviceRegistry;
import com.vhost.api.registry.VirtioDriver;
import com.vhost.api.registry.VirtioDriverFactory;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Future;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.ReentrantLock;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.ConfigurationPolicy;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Modified;
import org.osgi.service.component.annotations.Reference;
import org.osgi.service.component.annotations.ReferenceCardinality;
import org.osgi.service.component.annotations.ReferencePolicy;
import org.osgi.service.component.annotations.ReferencePolicyOption;
import org.osgi.service.metatype.annotations.Designate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One configured device: a component instance per factory configuration of PID
 * {@value DeviceRegistry#DEVICE_FACTORY_PID}.
 *
 * <p>Two references, both optional, dynamic and greedy, so the component is active (and can
 * report WAITING or FAILED) whether or not its providers exist, and rebinds at once to a
 * better-ranked provider:
 * <ul>
 *   <li>{@code backend}: a {@link VhostOps} whose target filter {@code backend.target} comes from
 *       the configuration ({@link TargetFilterPlugin} derives it from {@code backend.type});
 *   <li>{@code factory}: the {@link VirtioDriverFactory} of the configured {@code device.type}
 *       (target {@code factory.target}).
 * </ul>
 * When both are bound, a worker thread opens the backend ({@link VhostOps#open}) and creates the
 * driver ({@link VirtioDriverFactory#create}); when either goes away the driver is closed before
 * the unbind returns. Connecting happens off the DS thread; results that raced with a newer
 * binding are discarded by a generation count.
 *
 * <p><b>Hot-swap.</b> A running driver that supports {@link VirtioDriver#rebind} is never closed
 * for a backend change, so the application's handle stays valid: when its backend service goes
 * away (bundle stopped, updated, uninstalled) the driver is {@link VirtioDriver#detach() detached}
 * before the unbind returns (requests wait, bounded by {@code swap.wait.ms}), and rebound as soon
 * as a backend is there; a better-ranked backend, a changed {@code target}/{@code backend.target}
 * ({@link #modified}), or an operator's {@link #swap} rebinds it directly. One log line per
 * bind, unbind and swap (device, from, to, pause). Drivers without rebind are closed and
 * re-created as before.
 *
 * <p>Reconnect: a failure that may cure itself (target missing, connection refused, a backend
 * that reports itself disconnected while bound) is retried after {@link #RETRY_DELAYS_MS}; any
 * binding or configuration change starts the count again.
 */
@Designate(ocd = DeviceConfig.class, factory = true)
@Component(
        name = "com.vhost.registry.device",
        configurationPid = DeviceRegistry.DEVICE_FACTORY_PID,
        configurationPolicy = ConfigurationPolicy.REQUIRE,
        service = ManagedDevice.class,
        immediate = true)
public final class DeviceComponent implements ManagedDevice {
    private static final Logger LOG = LoggerFactory.getLogger(DeviceComponent.class);
    /** Bound on waiting for an in-progress connect when the device is deactivated. */
    static final long WORKER_STOP_SECONDS = 10;
    /** How often a bound device asks its backend whether it is still connected. */
    static final long HEALTH_PERIOD_MS = 1000;
    /**
     * Delays before the reconnect attempts after a failure that may cure itself (socket not there
     * yet, connection refused, back-end gone): about 16 s in all, then the device stays FAILED
     * until its bindings or configuration change.
     */
    static final long[] RETRY_DELAYS_MS = {250, 500, 1000, 2000, 4000, 8000};

    private final ScheduledExecutorService worker = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "vhost-device");
        t.setDaemon(true);
        return t;
    });
    private final Object lock = new Object();

    // Guarded by lock.
    private String id = "(activating)";
    private String deviceType = "?";
    private String target;
    private DeviceSettings settings;
    private String configError;
    private VhostOps ops;
    private Map<String, Object> opsProps;
    private VirtioDriverFactory factory;
    private long generation;
    /** {@link #generation} of the last attempt that failed without hope of curing itself; -1: none. */
    private long failedGeneration = -1;
    private VirtioDriver driver;
    private VhostOps driverOps;
    private VirtioDriverFactory driverFactory;
    private DeviceInfo.Status status = DeviceInfo.Status.WAITING;
    private String backendName;
    private String detail = "not yet activated";
    private boolean active;
    private boolean closed;
    /** Drivers taken out but not yet closed; a new connection waits for them (one client per back-end). */
    private int closing;
    /** The backend the bound driver owns; only asked {@link VhostBackend#isConnected()}. */
    private VhostBackend driverBackend;
    /** Reconnect attempts made since the last success or binding change. */
    private int attempt;
    private ScheduledFuture<?> retry;
    private boolean reconcileQueued;
    private ScheduledFuture<?> healthCheck;
    /** Serialises driver moves (rebind, detach) between the worker and the DS threads. */
    private final ReentrantLock swapMutex = new ReentrantLock();
    /** Operator's choice ({@link #swap}): a backend service and/or target that overrides the bound one. */
    private VhostOps overrideOps;
    private String overrideOpsName;
    private String overrideTarget;
    /** The target the driver's backend was opened with. */
    private String driverTarget;
    /** System.nanoTime() of the last detach (pause of a detached device's next swap). */
    private long detachedSince;
    /** The failure of the last move, null after a success. */
    private String lastMoveError;
    /** Set by {@link #modified} when the target changed: the driver moves even if the backend service is the same. */
    private boolean retarget;
    private long swapCount;
    private long lastSwapMillis = -1;
    private final java.util.concurrent.atomic.AtomicLong snapshots = new java.util.concurrent.atomic.AtomicLong();
    private final java.util.concurrent.atomic.AtomicLong restores = new java.util.concurrent.atomic.AtomicLong();
    private DeviceMBeanRegistration mbean;

    @Activate
    void activate(Map<String, Object> props) {
        synchronized (lock) {
            id = DeviceSettings.idOf(props);
            Object dt = props.get(DeviceConfigKeys.DEVICE_TYPE);
            deviceType = dt == null ? "blk" : dt.toString();
            Object t = props.get(DeviceConfigKeys.TARGET);
            target = t == null ? null : t.toString();
            try {
                settings = DeviceSettings.parse(props);
                configError = null;
            } catch (IllegalArgumentException e) {
                settings = null;
                configError = "invalid configuration: " + e.getMessage();
            }
            active = true;
            bindingChangedLocked();
        }
        mbean = DeviceMBeanRegistration.register(this);
        if (configError != null) {
            LOG.error("device {}: {}", id, configError);
        } else {
            LOG.info("device {}: configured {} on a {} backend at {} ({} queue(s) of {})", id,
                    settings.deviceType().shortName(), settings.backendType().id(), settings.target(),
                    settings.queues(), settings.queueSize());
        }
        schedule();
    }

    @Deactivate
    void deactivate() {
        VirtioDriver d;
        synchronized (lock) {
            closed = true;
            active = false;
            bindingChangedLocked(); // also cancels a pending reconnect
            if (healthCheck != null) {
                healthCheck.cancel(false);
                healthCheck = null;
            }
            d = takeDriverLocked();
        }
        closeDriver(d, "device deactivated");
        if (mbean != null) {
            mbean.unregister();
            mbean = null;
        }
        worker.shutdown();
        try {
            if (!worker.awaitTermination(WORKER_STOP_SECONDS, TimeUnit.SECONDS)) {
                LOG.warn("device {}: connect still running after {} s; interrupting it", id, WORKER_STOP_SECONDS);
                worker.shutdownNow();
            }
        } catch (InterruptedException e) {
            worker.shutdownNow();
            Thread.currentThread().interrupt();
        }
        LOG.info("device {}: removed", id);
    }

    /**
     * A changed configuration. When only the backend selection changed ({@code target},
     * {@code backend.target}, {@code option.*}) a running driver is moved to it (hot-swap);
     * any other change re-creates the driver.
     */
    @Modified
    void modified(Map<String, Object> props) {
        VirtioDriver d = null;
        String why = null;
        synchronized (lock) {
            DeviceSettings old = settings;
            Object t = props.get(DeviceConfigKeys.TARGET);
            target = t == null ? null : t.toString();
            try {
                settings = DeviceSettings.parse(props);
                configError = null;
            } catch (IllegalArgumentException e) {
                configError = "invalid configuration: " + e.getMessage();
            }
            overrideOps = null;
            overrideOpsName = null;
            overrideTarget = null;
            if (configError == null && old != null && driver != null) {
                if (sameDevice(old, settings)) {
                    retarget = !old.target().equals(settings.target()) || !old.options().equals(settings.options());
                } else {
                    d = takeDriverLocked();
                    why = "configuration changed";
                }
            }
            bindingChangedLocked();
        }
        if (configError != null) {
            LOG.error("device {}: {} (the running driver, if any, is kept)", idForLog(), configError);
        } else {
            LOG.info("device {}: configuration updated", idForLog());
        }
        closeDriver(d, why);
        schedule();
    }

    /** @return whether only the backend selection differs (the driver can be moved rather than re-created) */
    static boolean sameDevice(DeviceSettings a, DeviceSettings b) {
        Map<String, Object> ca = new LinkedHashMap<>(a.driverConfig());
        Map<String, Object> cb = new LinkedHashMap<>(b.driverConfig());
        for (Map<String, Object> m : java.util.List.of(ca, cb)) {
            m.remove(DeviceConfigKeys.TARGET);
            m.remove(DeviceConfigKeys.BACKEND_TARGET);
            m.remove("service.pid");
            m.remove("service.factoryPid");
            m.remove("service.bundleLocation");
            m.keySet().removeIf(k -> k.startsWith(DeviceConfigKeys.OPTION_PREFIX) || k.startsWith("felix.") || k.startsWith("component."));
        }
        return a.deviceType() == b.deviceType() && a.backendType() == b.backendType() && ca.equals(cb);
    }

    @Reference(
            name = "backend",
            service = VhostOps.class,
            cardinality = ReferenceCardinality.OPTIONAL,
            policy = ReferencePolicy.DYNAMIC,
            policyOption = ReferencePolicyOption.GREEDY,
            unbind = "unbindBackend")
    void bindBackend(VhostOps o, Map<String, Object> props) {
        synchronized (lock) {
            ops = o;
            opsProps = props;
            bindingChangedLocked();
        }
        LOG.info("device {}: bind backend {} (service {})", idForLog(), backendNameOf(o, props), props.get("service.id"));
        schedule();
    }

    void unbindBackend(VhostOps o, Map<String, Object> props) {
        String name = backendNameOf(o, props);
        boolean locked = lockSwap();
        try {
            VirtioDriver d = null;
            synchronized (lock) {
                if (ops == o) {
                    ops = null;
                    opsProps = null;
                }
                if (overrideOps == o) {
                    overrideOps = null;
                    overrideOpsName = null;
                }
                if (driverOps == o) {
                    d = driver;
                }
                bindingChangedLocked();
            }
            LOG.info("device {}: unbind backend {} (service {})", idForLog(), name, props.get("service.id"));
            if (d != null) {
                // The service is leaving but its back-end still answers: stop the rings now.
                detachOrClose(d, "backend " + name + " went away");
            }
        } finally {
            if (locked) {
                swapMutex.unlock();
            }
        }
        schedule();
    }

    /**
     * Waits (bounded, {@code 2 × WORKER_STOP_SECONDS}) for {@link #swapMutex}.
     *
     * @return whether it is held; false after the bound or an interrupt (logged): the caller goes on
     *     without it, relying on the driver's own bounded serialisation of rebind/detach/close
     */
    private boolean lockSwap() {
        try {
            if (swapMutex.tryLock(2 * WORKER_STOP_SECONDS, TimeUnit.SECONDS)) {
                return true;
            }
            LOG.warn("device {}: a backend move is still running after {} s; going on without waiting", idForLog(),
                    2 * WORKER_STOP_SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return false;
    }

    /**
     * Releases the driver's backend but keeps the driver (requests wait); a driver that cannot
     * (no {@link VirtioDriver#detach}) is closed as before. Caller holds {@link #swapMutex}.
     */
    private void detachOrClose(VirtioDriver d, String reason) {
        String from;
        synchronized (lock) {
            from = backendName;
        }
        long t0 = System.nanoTime();
        try {
            d.detach();
            synchronized (lock) {
                if (driver == d) {
                    driverOps = null;
                    driverBackend = null;
                    driverTarget = null;
                    detachedSince = t0;
                    setStateLocked(DeviceInfo.Status.WAITING, null, "detached from " + from + " (" + reason
                            + "); requests wait for a backend (swap.wait.ms)");
                }
            }
            LOG.info("device {}: unbind from {} to (none), pause {} ms so far ({})", idForLog(), from,
                    TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0), reason);
            return;
        } catch (com.vhost.api.VhostFeatureException e) {
            LOG.debug("device {}: driver cannot detach ({}); closing it", idForLog(), e.getMessage());
        } catch (VhostException | RuntimeException e) {
            LOG.warn("device {}: detaching from {} failed: {}; closing the driver", idForLog(), from, e.toString());
        }
        VirtioDriver taken;
        synchronized (lock) {
            taken = driver == d ? takeDriverLocked() : null;
        }
        closeDriver(taken, reason);
    }

    /**
     * Operator's swap ({@code vhost:swap}): moves the running driver to {@code newOps} (a backend
     * service; null keeps the current one) at {@code newTarget} (null keeps the configured
     * target). Waits for the move, bounded.
     *
     * @return a one-line result
     * @throws VhostException when the device has no running driver or the move failed
     */
    @Override
    public String swap(VhostOps newOps, String newOpsName, String newTarget) throws VhostException {
        synchronized (lock) {
            if (driver == null) {
                throw new com.vhost.api.VirtioDeviceException("swap: device " + id + " has no running driver (" + status + ": "
                        + detail + ")");
            }
            if (newOps != null) {
                overrideOps = newOps;
                overrideOpsName = newOpsName;
                overrideTarget = newTarget; // null: the configured target
            } else if (newTarget != null) {
                overrideTarget = newTarget;
            }
            retarget = true;
            lastMoveError = null;
            bindingChangedLocked();
        }
        Future<?> f;
        try {
            f = worker.submit(this::reconcile);
        } catch (RejectedExecutionException e) {
            throw new com.vhost.api.VirtioDeviceException("swap: device " + idForLog() + " is being removed");
        }
        try {
            f.get(2 * WORKER_STOP_SECONDS + 30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new com.vhost.api.VhostTimeoutException("swap: interrupted while device " + idForLog() + " was moving");
        } catch (ExecutionException e) {
            throw new com.vhost.api.VirtioDeviceException("swap: " + e.getCause(), e.getCause());
        } catch (TimeoutException e) {
            throw new com.vhost.api.VhostTimeoutException("swap: device " + idForLog() + " did not finish moving in time");
        }
        DeviceInfo i = info();
        String moveError;
        synchronized (lock) {
            moveError = lastMoveError;
        }
        if (moveError != null) {
            throw new com.vhost.api.VirtioDeviceException(i.id() + ": " + i.detail());
        }
        if (i.status() != DeviceInfo.Status.BOUND) {
            throw new com.vhost.api.VirtioDeviceException("swap of " + i.id() + " did not complete: " + i.status() + ": " + i.detail());
        }
        return i.id() + " now on " + i.backendName() + " (" + i.target() + "), switch " + lastSwapMillis + " ms";
    }

    /** The running driver for an operator's command, under {@link #swapMutex} (held on return). */
    private VirtioDriver driverForCommand(String what) throws VhostException {
        if (!lockSwap()) {
            throw new com.vhost.api.VhostTimeoutException(what + ": device " + idForLog() + " is busy moving between backends");
        }
        synchronized (lock) {
            if (driver == null || driverOps == null) {
                swapMutex.unlock();
                throw new com.vhost.api.VirtioDeviceException(what + ": device " + id + " has no running driver (" + status
                        + ": " + detail + ")");
            }
            return driver;
        }
    }

    @Override
    public byte[] snapshot() throws VhostException {
        VirtioDriver d = driverForCommand("snapshot");
        try {
            long t0 = System.nanoTime();
            byte[] s = d.snapshot();
            snapshots.incrementAndGet();
            LOG.info("device {}: snapshot of {} bytes on {} in {} ms", idForLog(), s.length, backendNameForLog(),
                    TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0));
            return s;
        } finally {
            swapMutex.unlock();
        }
    }

    @Override
    public String restore(byte[] snapshot) throws VhostException {
        VirtioDriver d = driverForCommand("restore");
        try {
            String r = d.restore(snapshot);
            restores.incrementAndGet();
            LOG.info("device {}: {}", idForLog(), r);
            return id + " " + r;
        } finally {
            swapMutex.unlock();
        }
    }

    private String backendNameForLog() {
        synchronized (lock) {
            return backendName;
        }
    }

    @Override
    public Map<String, Long> counters() {
        VirtioDriver d;
        Map<String, Long> m = new LinkedHashMap<>();
        synchronized (lock) {
            d = driver;
            m.put("registry.swaps", swapCount);
            m.put("registry.last.switch.ms", lastSwapMillis);
            m.put("registry.snapshots", snapshots.get());
            m.put("registry.restores", restores.get());
        }
        if (d != null) {
            try {
                m.putAll(d.counters());
            } catch (RuntimeException e) {
                LOG.debug("device {}: counters: {}", idForLog(), e.toString());
            }
        }
        return m;
    }

    @Reference(
            name = "factory",
            service = VirtioDriverFactory.class,
            cardinality = ReferenceCardinality.OPTIONAL,
            policy = ReferencePolicy.DYNAMIC,
            policyOption = ReferencePolicyOption.GREEDY,
            unbind = "unbindFactory")
    void bindFactory(VirtioDriverFactory f) {
        synchronized (lock) {
            factory = f;
            bindingChangedLocked();
        }
        LOG.info("device {}: bind driver factory for {}", idForLog(), f.deviceType());
        schedule();
    }

    void unbindFactory(VirtioDriverFactory f) {
        VirtioDriver d = null;
        synchronized (lock) {
            if (factory == f) {
                factory = null;
            }
            if (driverFactory == f) {
                d = takeDriverLocked();
            }
            bindingChangedLocked();
        }
        LOG.info("device {}: unbind driver factory for {}", idForLog(), f.deviceType());
        closeDriver(d, "driver factory for " + f.deviceType() + " went away");
        schedule();
    }

    @Override
    public DeviceInfo info() {
        synchronized (lock) {
            return new DeviceInfo(id, deviceType, status, backendName, driverTarget != null ? driverTarget : target, detail);
        }
    }

    @Override
    public <T> T api(Class<T> type) {
        synchronized (lock) {
            return driver == null ? null : driver.api(type);
        }
    }

    private String idForLog() {
        synchronized (lock) {
            return id;
        }
    }

    /** Queues one reconcile; a burst of binding changes coalesces into one connect attempt. */
    private void schedule() {
        synchronized (lock) {
            if (reconcileQueued) {
                return;
            }
            reconcileQueued = true;
        }
        try {
            worker.execute(this::reconcile);
        } catch (RejectedExecutionException e) {
            // Deactivated: nothing left to reconcile.
        }
    }

    /** Brings the driver in line with the current bindings. Runs on the worker thread only. */
    private void reconcile() {
        if (!lockSwap()) {
            synchronized (lock) {
                reconcileQueued = false;
            }
            try {
                worker.schedule(this::reconcile, HEALTH_PERIOD_MS, TimeUnit.MILLISECONDS);
            } catch (RejectedExecutionException e) {
                // Deactivating.
            }
            return;
        }
        try {
            reconcileLocked();
        } finally {
            swapMutex.unlock();
        }
    }

    private void reconcileLocked() {
        VirtioDriver stale = null;
        VirtioDriver movable = null;
        long gen;
        DeviceSettings s;
        VhostOps o;
        VirtioDriverFactory f;
        String name;
        String tgt;
        synchronized (lock) {
            reconcileQueued = false;
            if (!active || closed) {
                return;
            }
            if (configError != null) {
                if (driver == null) {
                    setStateLocked(DeviceInfo.Status.FAILED, null, configError);
                } else {
                    detail = configError + " (running driver kept)";
                }
                return;
            }
            VhostOps want = overrideOps != null ? overrideOps : ops;
            if (driver != null && driverOps == want && driverFactory == factory && !retarget) {
                return;
            }
            if (driver != null && driverFactory == factory && factory != null) {
                if (want == null) {
                    return; // detached (or about to be): wait for a backend
                }
                movable = driver;
            } else {
                stale = takeDriverLocked();
            }
        }
        closeDriver(stale, "rebinding");
        synchronized (lock) {
            long waitUntil = System.nanoTime() + TimeUnit.SECONDS.toNanos(WORKER_STOP_SECONDS);
            while (closing > 0 && !closed) {
                long left = waitUntil - System.nanoTime();
                if (left <= 0) {
                    LOG.warn("device {}: a previous driver is still closing after {} s; connecting anyway", id,
                            WORKER_STOP_SECONDS);
                    break;
                }
                try {
                    lock.wait(Math.max(1, TimeUnit.NANOSECONDS.toMillis(left)));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                }
            }
            if (!active || closed) {
                return;
            }
            if (driver == null && movable == null && failedGeneration == generation) {
                // The last attempt failed for good on exactly these bindings (a reconcile queued by a
                // binding made just before that attempt read them): only a new binding retries.
                return;
            }
            gen = generation;
            s = settings;
            boolean overridden = overrideOps != null;
            o = overridden ? overrideOps : ops;
            f = factory;
            tgt = overrideTarget != null ? overrideTarget : s.target();
            String wantedType = s.backendType().id();
            if (overridden) {
                name = overrideOpsName != null ? overrideOpsName : backendNameOf(o, null);
            } else if (o == null) {
                setStateLocked(DeviceInfo.Status.WAITING, null, "no " + wantedType + " backend (no VhostOps matches "
                        + DeviceSettings.backendFilter(wantedType, s.backendFilter()) + ")");
                return;
            } else {
                name = backendNameOf(o, opsProps);
            }
            Object boundType = overridden ? wantedType : opsProps.get(VhostOps.BACKEND_TYPE);
            if (boundType == null || !wantedType.equalsIgnoreCase(boundType.toString())) {
                setStateLocked(DeviceInfo.Status.WAITING, null, "backend " + name + " is of type " + boundType
                        + ", configured backend.type is " + wantedType);
                return;
            }
            String wantedDevice = s.deviceType().shortName();
            if (f == null) {
                setStateLocked(DeviceInfo.Status.WAITING, null, "no driver factory for device type " + wantedDevice
                        + " (no VirtioDriverFactory matches " + DeviceSettings.factoryFilter(wantedDevice) + ")");
                return;
            }
            if (!wantedDevice.equals(f.deviceType())) {
                setStateLocked(DeviceInfo.Status.WAITING, null, "driver factory makes " + f.deviceType()
                        + " devices, configured device.type is " + wantedDevice);
                return;
            }
            if (movable == null) {
                setStateLocked(DeviceInfo.Status.WAITING, name, "connecting to " + tgt);
            }
        }
        if (movable != null) {
            move(movable, o, name, tgt, s, gen);
            return;
        }

        VirtioDriver created = null;
        VhostBackend opened = null;
        String failure = null;
        boolean retryable = false;
        Optional<String> unusable;
        VhostTarget vt = new VhostTarget(tgt, s.options());
        try {
            unusable = o.unusableReason(vt);
        } catch (RuntimeException e) {
            unusable = Optional.of("checking " + tgt + " failed: " + e);
        }
        if (unusable.isPresent()) {
            failure = name + ": " + unusable.get();
            retryable = true; // the socket or node may appear
        } else {
            VhostBackend backend = null;
            try {
                backend = o.open(vt);
                created = f.create(backend, s.driverConfig());
                opened = backend;
                backend = null; // the driver owns it now
            } catch (VhostException e) {
                failure = name + ": " + e.getMessage();
                retryable = e.shouldReconnect();
            } catch (RuntimeException e) {
                failure = name + ": " + e;
                LOG.error("device {}: unexpected failure while starting", s.id(), e);
            } finally {
                if (backend != null) {
                    try {
                        backend.close();
                    } catch (RuntimeException e) {
                        LOG.warn("device {}: closing backend after failure: {}", s.id(), e.toString());
                    }
                }
            }
        }

        VirtioDriver discard = null;
        synchronized (lock) {
            if (gen != generation || closed) {
                discard = created;
            } else if (created != null) {
                driver = created;
                driverOps = o;
                driverFactory = f;
                driverBackend = opened;
                driverTarget = tgt;
                retarget = false;
                attempt = 0;
                startHealthCheckLocked();
                String summary;
                try {
                    summary = created.summary();
                } catch (RuntimeException e) {
                    summary = "running (summary failed: " + e + ")";
                }
                setStateLocked(DeviceInfo.Status.BOUND, name, summary);
                LOG.info("device {}: bind to {} ({}): {}", s.id(), name, tgt, summary);
            } else {
                failure = scheduleRetryLocked(failure, retryable);
                if (!retryable) {
                    failedGeneration = gen;
                }
                setStateLocked(DeviceInfo.Status.FAILED, name, failure);
                LOG.error("device {}: FAILED on {}: {}", s.id(), tgt, failure);
            }
        }
        // A newer binding queued its own reconcile; this result is out of date.
        closeDriver(discard, "superseded while connecting", false);
    }

    /** @return {@code failure} with the retry it scheduled, when {@code retryable} and attempts are left */
    private String scheduleRetryLocked(String failure, boolean retryable) {
        if (retry != null) {
            retry.cancel(false);
            retry = null;
        }
        if (retryable && attempt < RETRY_DELAYS_MS.length) {
            long delay = RETRY_DELAYS_MS[attempt++];
            failure += " (retry " + attempt + "/" + RETRY_DELAYS_MS.length + " in " + delay + " ms)";
            try {
                retry = worker.schedule(this::reconcile, delay, TimeUnit.MILLISECONDS);
            } catch (RejectedExecutionException e) {
                // Deactivating.
            }
        }
        return failure;
    }

    /**
     * Moves the running driver {@code d} to {@code o} at {@code tgt} ({@link VirtioDriver#rebind}).
     * On failure the driver stays where it was: on its old backend when that one still serves
     * (the refusal is logged and shown), or detached (requests wait, bounded) with a retry when
     * the failure may cure itself. Runs on the worker with {@link #swapMutex} held.
     */
    private void move(VirtioDriver d, VhostOps o, String name, String tgt, DeviceSettings s, long gen) {
        String from;
        boolean wasDetached;
        long detachedAt;
        synchronized (lock) {
            wasDetached = driverOps == null;
            from = wasDetached ? "(none)" : backendName + " (" + driverTarget + ")";
            detachedAt = detachedSince;
        }
        VhostBackend nb = null;
        String failure;
        boolean retryable;
        try {
            Optional<String> unusable = o.unusableReason(new VhostTarget(tgt, s.options()));
            if (unusable.isPresent()) {
                throw new com.vhost.api.VhostDisconnectedException(name + ": " + unusable.get());
            }
            nb = o.open(new VhostTarget(tgt, s.options()));
            VhostBackend opened = nb;
            nb = null; // rebind owns it, also on failure
            d.rebind(opened);
            Map<String, Long> c = d.counters();
            long switchUs = c.getOrDefault("last.switch.us", -1L);
            long pauseMs = wasDetached ? TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - detachedAt)
                    : switchUs < 0 ? -1 : TimeUnit.MICROSECONDS.toMillis(switchUs);
            String summary;
            try {
                summary = d.summary();
            } catch (RuntimeException e) {
                summary = "running (summary failed: " + e + ")";
            }
            synchronized (lock) {
                if (driver == d) {
                    driverOps = o;
                    driverBackend = opened;
                    driverTarget = tgt;
                    retarget = false;
                    attempt = 0;
                    swapCount++;
                    lastSwapMillis = pauseMs;
                    lastMoveError = null;
                    setStateLocked(DeviceInfo.Status.BOUND, name, summary);
                    startHealthCheckLocked();
                }
            }
            LOG.info("device {}: swap from {} to {} ({}), pause {} ms", s.id(), from, name, tgt, pauseMs);
            return;
        } catch (VhostException e) {
            failure = "swap to " + name + " (" + tgt + ") failed: " + e.getMessage();
            retryable = e.shouldReconnect() || e instanceof com.vhost.api.VhostDisconnectedException;
        } catch (RuntimeException e) {
            failure = "swap to " + name + " (" + tgt + ") failed: " + e;
            retryable = false;
            LOG.error("device {}: unexpected failure while swapping", s.id(), e);
        } finally {
            if (nb != null) {
                nb.close();
            }
        }
        synchronized (lock) {
            retarget = false;
            lastMoveError = failure;
            if (driverOps != null) {
                // The operator's choice failed: do not retry it behind their back.
                overrideOps = null;
                overrideOpsName = null;
                overrideTarget = null;
            }
            if (driver != d || gen != generation) {
                LOG.warn("device {}: {} (superseded)", s.id(), failure);
                return;
            }
            if (driverOps != null) {
                // Still served by the old backend.
                setStateLocked(DeviceInfo.Status.BOUND, backendName, failure + "; still on " + backendName);
            } else {
                failure = scheduleRetryLocked(failure, retryable);
                setStateLocked(DeviceInfo.Status.FAILED, null, failure + "; detached, requests wait (swap.wait.ms)");
            }
        }
        LOG.error("device {}: {}", s.id(), failure);
    }

    private void startHealthCheckLocked() {
        if (healthCheck == null) {
            try {
                healthCheck = worker.scheduleWithFixedDelay(this::checkHealth, HEALTH_PERIOD_MS, HEALTH_PERIOD_MS,
                        TimeUnit.MILLISECONDS);
            } catch (RejectedExecutionException e) {
                // Deactivating.
            }
        }
    }

    /** A binding, the configuration or the life cycle changed: a fresh start for reconnects. */
    private void bindingChangedLocked() {
        generation++;
        attempt = 0;
        if (retry != null) {
            retry.cancel(false);
            retry = null;
        }
    }

    /**
     * Runs every {@link #HEALTH_PERIOD_MS} on the worker while a driver is bound: when its backend
     * reports the connection lost, the driver is closed and the device reconnects (bounded).
     */
    private void checkHealth() {
        if (!lockSwap()) {
            return; // the next period tries again
        }
        try {
            checkHealthLocked();
        } finally {
            swapMutex.unlock();
        }
    }

    private void checkHealthLocked() {
        VirtioDriver d;
        String name;
        synchronized (lock) {
            if (closed || driver == null || driverBackend == null) {
                return;
            }
            boolean connected;
            try {
                connected = driverBackend.isConnected();
            } catch (RuntimeException e) {
                connected = false;
            }
            if (connected) {
                return;
            }
            name = backendName;
            d = driver;
            overrideOps = null;
            overrideOpsName = null;
            overrideTarget = null;
            generation++;
        }
        LOG.warn("device {}: backend {} disconnected; releasing it and reconnecting", idForLog(), name);
        detachOrClose(d, "backend " + name + " disconnected");
        reconcileLocked();
    }

    private VirtioDriver takeDriverLocked() {
        VirtioDriver d = driver;
        driver = null;
        driverTarget = null;
        driverOps = null;
        driverFactory = null;
        driverBackend = null;
        if (d != null) {
            closing++;
            setStateLocked(DeviceInfo.Status.WAITING, null, "driver stopped");
        }
        return d;
    }

    private void setStateLocked(DeviceInfo.Status st, String backend, String why) {
        status = st;
        backendName = backend;
        detail = why;
    }

    /** Closes a driver taken by {@link #takeDriverLocked} (or never installed, when {@code counted} is false). */
    private void closeDriver(VirtioDriver d, String reason) {
        closeDriver(d, reason, true);
    }

    private void closeDriver(VirtioDriver d, String reason, boolean counted) {
        if (d == null) {
            return;
        }
        try {
            d.close();
            LOG.info("device {}: driver closed ({})", idForLog(), reason);
        } catch (RuntimeException e) {
            LOG.warn("device {}: closing driver ({}) failed: {}", idForLog(), reason, e.toString());
        } finally {
            if (counted) {
                synchronized (lock) {
                    closing--;
                    lock.notifyAll();
                }
            }
        }
    }

    static String backendNameOf(VhostOps o, Map<String, Object> props) {
        Object n = props == null ? null : props.get(VhostOps.BACKEND_NAME);
        if (n != null) {
            return n.toString();
        }
        try {
            return o.name();
        } catch (RuntimeException e) {
            return "service " + (props == null ? "?" : props.get("service.id"));
        }
    }
}
