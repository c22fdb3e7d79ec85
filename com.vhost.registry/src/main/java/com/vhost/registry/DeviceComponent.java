package com.vhost.registry;

import com.vhost.api.VhostBackend;
import com.vhost.api.VhostException;
import com.vhost.api.VhostOps;
import com.vhost.api.registry.DeviceInfo;
import com.vhost.api.registry.DeviceRegistry;
import com.vhost.api.registry.VirtioDriver;
import com.vhost.api.registry.VirtioDriverFactory;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.ConfigurationPolicy;
import org.osgi.service.component.annotations.Deactivate;
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

    @Activate
    void activate(Map<String, Object> props) {
        synchronized (lock) {
            id = DeviceSettings.idOf(props);
            Object dt = props.get(DeviceSettings.DEVICE_TYPE);
            deviceType = dt == null ? "blk" : dt.toString();
            Object t = props.get(DeviceSettings.TARGET);
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
        VirtioDriver d = null;
        synchronized (lock) {
            if (ops == o) {
                ops = null;
                opsProps = null;
            }
            if (driverOps == o) {
                d = takeDriverLocked();
            }
            bindingChangedLocked();
        }
        LOG.info("device {}: unbind backend {} (service {})", idForLog(), backendNameOf(o, props), props.get("service.id"));
        closeDriver(d, "backend " + backendNameOf(o, props) + " went away");
        schedule();
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
            return new DeviceInfo(id, deviceType, status, backendName, target, detail);
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
        VirtioDriver stale;
        long gen;
        DeviceSettings s;
        VhostOps o;
        VirtioDriverFactory f;
        String name;
        synchronized (lock) {
            reconcileQueued = false;
            if (!active || closed) {
                return;
            }
            if (configError != null) {
                setStateLocked(DeviceInfo.Status.FAILED, null, configError);
                return;
            }
            if (driver != null && driverOps == ops && driverFactory == factory) {
                return;
            }
            stale = takeDriverLocked();
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
            gen = generation;
            s = settings;
            o = ops;
            f = factory;
            String wantedType = s.backendType().id();
            if (o == null) {
                setStateLocked(DeviceInfo.Status.WAITING, null, "no " + wantedType + " backend (no VhostOps matches "
                        + DeviceSettings.backendFilter(wantedType, s.backendFilter()) + ")");
                return;
            }
            name = backendNameOf(o, opsProps);
            Object boundType = opsProps.get(VhostOps.BACKEND_TYPE);
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
            setStateLocked(DeviceInfo.Status.WAITING, name, "connecting to " + s.target());
        }

        VirtioDriver created = null;
        VhostBackend opened = null;
        String failure = null;
        boolean retryable = false;
        Optional<String> unusable;
        try {
            unusable = o.unusableReason(s.vhostTarget());
        } catch (RuntimeException e) {
            unusable = Optional.of("checking " + s.target() + " failed: " + e);
        }
        if (unusable.isPresent()) {
            failure = name + ": " + unusable.get();
            retryable = true; // the socket or node may appear
        } else {
            VhostBackend backend = null;
            try {
                backend = o.open(s.vhostTarget());
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
                attempt = 0;
                if (healthCheck == null) {
                    try {
                        healthCheck = worker.scheduleWithFixedDelay(this::checkHealth, HEALTH_PERIOD_MS, HEALTH_PERIOD_MS,
                                TimeUnit.MILLISECONDS);
                    } catch (RejectedExecutionException e) {
                        // Deactivating.
                    }
                }
                String summary;
                try {
                    summary = created.summary();
                } catch (RuntimeException e) {
                    summary = "running (summary failed: " + e + ")";
                }
                setStateLocked(DeviceInfo.Status.BOUND, name, summary);
                LOG.info("device {}: BOUND to {}: {}", s.id(), name, summary);
            } else {
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
                setStateLocked(DeviceInfo.Status.FAILED, name, failure);
                LOG.error("device {}: FAILED on {}: {}", s.id(), s.target(), failure);
            }
        }
        // A newer binding queued its own reconcile; this result is out of date.
        closeDriver(discard, "superseded while connecting", false);
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
            d = takeDriverLocked();
            generation++;
        }
        LOG.warn("device {}: backend {} disconnected; closing the driver and reconnecting", idForLog(), name);
        closeDriver(d, "backend " + name + " disconnected");
        reconcile();
    }

    private VirtioDriver takeDriverLocked() {
        VirtioDriver d = driver;
        driver = null;
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
