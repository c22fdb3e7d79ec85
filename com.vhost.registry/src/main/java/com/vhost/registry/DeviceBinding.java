package com.vhost.registry;

import com.vhost.api.VhostBackend;
import com.vhost.api.VhostOps;
import com.vhost.api.registry.DeviceInfo;
import com.vhost.api.registry.DeviceInfo.Status;
import com.vhost.api.registry.VirtioDriver;
import com.vhost.api.registry.VirtioDriverFactory;
import com.vhost.registry.BindingAction.Level;
import com.vhost.registry.BindingInput.*;
import java.util.ArrayList;
import java.util.List;

/**
 * The binding decisions of one configured device as a plain state machine: {@link #apply} takes a
 * {@link BindingInput} and returns the {@link BindingAction}s to carry out, in order. No threads,
 * no clock, no OSGi; it holds the services and drivers as handles and never calls them. Not
 * thread-safe: {@link DeviceWorker} feeds it under one lock.
 *
 * <p>Rules (unchanged from the component this came out of):
 * <ul>
 *   <li>The device wants the operator's backend ({@link SwapRequested}) if any, else the backend
 *       DS bound last (its greedy reference has ranked them: a better-ranked service is bound
 *       before the old one is unbound); and the configured {@code target} unless the operator gave one.
 *   <li>With no driver it opens the wanted backend and creates a driver (status WAITING
 *       "connecting to ..."); a running driver of the same factory is moved ({@link BindingAction.Rebind})
 *       to a better backend or a new target; a driver of another factory is closed first.
 *   <li>When the driver's backend leaves or reports itself disconnected the driver is detached
 *       (requests wait) or, if it cannot detach, closed; it is moved as soon as a backend is there.
 *   <li>At most one open or move is in flight; its result is applied only if no binding, the
 *       configuration or the life cycle changed meanwhile (a generation count), else an opened
 *       driver is closed as superseded.
 *   <li>A failed attempt is not repeated on the same generation: one that may cure itself is
 *       retried after {@link #RETRY_DELAYS_MS} ("retry 1/6 in 250 ms"), one that cannot waits for
 *       a change of bindings or configuration (the fix of commit a45a691: a second attempt on the
 *       same bindings opened the backend twice).
 * </ul>
 *
 * <p>States, as {@link #info()} shows them: not activated (WAITING "not yet activated"); waiting
 * for a provider of the right type (WAITING with the reason); opening (WAITING "connecting to ...",
 * an {@code Open} in flight); BOUND (a {@code Rebind} may be in flight); detached (WAITING
 * "detached from ...", the driver kept, requests wait); FAILED (blocked on this generation until a
 * change or the retry timer); closed (after {@link Deactivated}: later results only clean up).
 */
final class DeviceBinding {
    /** How often (ms) a bound device asks its backend whether it is still connected. */
    static final long HEALTH_PERIOD_MS = 1000;
    /**
     * Delays (ms) before the reconnect attempts after a failure that may cure itself (socket not
     * there yet, connection refused, back-end gone): about 16 s in all, then the device stays
     * FAILED until its bindings or configuration change.
     */
    static final long[] RETRY_DELAYS_MS = {250, 500, 1000, 2000, 4000, 8000};

    /**
     * A device configuration as the component read it.
     *
     * @param settings the validated settings, or null when {@code error} is set
     * @param error "invalid configuration: ..." naming the property, or null
     */
    record Config(String id, String deviceType, String target, DeviceSettings settings, String error) {}

    /**
     * A backend service: a bound {@code VhostOps} with its properties, or the operator's choice.
     *
     * @param type its {@code vhost.backend.type}; null for the operator's choice (not checked)
     * @param ranking its {@code service.ranking}, for logs (DS's greedy reference does the ranking)
     * @param serviceId its {@code service.id} for logs
     */
    record Backend(VhostOps ops, String name, String type, int ranking, Object serviceId) {}

    /** A bound driver factory and the device type it makes. */
    record Factory(VirtioDriverFactory factory, String deviceType) {}

    /** The driver: the factory that made it, the backend it runs on (null: detached), its target and connection. */
    private record Running(VirtioDriver handle, Factory factory, Backend on, String target, VhostBackend connection) {}

    /** The open or move in flight; {@code driver} is null for an open, {@code from} for a move's log line. */
    private record Op(long ticket, long generation, VirtioDriver driver, Backend to, Factory factory, String target,
            String from) {}

    private String id = "(activating)";
    private String deviceType = "?";
    private String target;
    private boolean active;
    private boolean closed;
    private final DeviceSelection sel = new DeviceSelection();
    /** The running driver must move even to the same backend service (target, options or swap). */
    private boolean retarget;
    private Running driver;
    private Op inFlight;
    /** A {@link BindingAction.Detach} was asked for and its answer is not in yet: nothing moves meanwhile. */
    private boolean detaching;
    private long generation;
    /** The generation on which the last attempt failed: no new attempt until it changes or a retry fires. */
    private long blockedGeneration = -1;
    private int attempt;
    private long retryTicket;
    private long tickets;
    private boolean healthStarted;
    private Status status = Status.WAITING;
    private String backendName;
    private String detail = "not yet activated";
    private String lastMoveError;
    private long swapCount;
    private long lastSwapMillis = -1;

    /** @return the actions {@code input} calls for, in the order to carry them out */
    List<BindingAction> apply(BindingInput input) {
        List<BindingAction> out = new ArrayList<>();
        switch (input) {
            case Configured c -> configure(c.config(), true, out);
            case Reconfigured c -> configure(c.config(), false, out);
            case BackendAdded a -> {
                sel.offer(a.backend());
                bindingChanged();
                log(out, Level.INFO, "bind backend " + a.backend().name() + " (service " + a.backend().serviceId() + ")");
            }
            case BackendModified m -> {
                if (!sel.modify(m.backend())) {
                    break;
                }
                bindingChanged();
                log(out, Level.INFO, "backend " + m.backend().name() + " (service " + m.backend().serviceId()
                        + ") changed, ranking " + m.backend().ranking());
            }
            case BackendRemoved r -> backendRemoved(r.backend(), out);
            case FactoryAdded a -> {
                sel.factory(a.factory());
                bindingChanged();
                log(out, Level.INFO, "bind driver factory for " + a.factory().deviceType());
            }
            case FactoryRemoved r -> {
                sel.withdrawFactory(r.factory());
                bindingChanged();
                log(out, Level.INFO, "unbind driver factory for " + r.factory().deviceType());
                if (driver != null && driver.factory().factory() == r.factory().factory()) {
                    out.add(new BindingAction.Close(take(), "driver factory for " + r.factory().deviceType() + " went away"));
                }
            }
            case Opened o -> opened(o, out);
            case OpenFailed f -> {
                Op op = finish(f.ticket());
                if (op != null && op.generation() == generation && !closed) {
                    blockedGeneration = generation;
                    String failure = scheduleRetry(f.failure(), f.canCure(), out);
                    state(Status.FAILED, op.to().name(), failure);
                    log(out, Level.ERROR, "FAILED on " + op.target() + ": " + failure);
                }
            }
            case Moved m -> moved(m, out);
            case MoveFailed f -> moveFailed(f, out);
            case Abandoned a -> finish(a.ticket());
            case Detached d -> {
                detaching = false;
                if (driver != null && driver.handle() == d.driver()) {
                    driver = new Running(d.driver(), driver.factory(), null, null, null);
                    state(Status.WAITING, null, "detached from " + d.from() + " (" + d.reason()
                            + "); requests wait for a backend (swap.wait.ms)");
                }
                log(out, Level.INFO, "unbind from " + d.from() + " to (none), pause " + d.pauseMs() + " ms so far ("
                        + d.reason() + ")");
            }
            case DetachFailed d -> {
                detaching = false;
                if (driver != null && driver.handle() == d.driver()) {
                    out.add(new BindingAction.Close(take(), d.reason()));
                }
            }
            case HealthTick t -> {
                if (!closed && driver != null && driver.connection() != null) {
                    out.add(new BindingAction.ProbeHealth(driver.connection()));
                }
            }
            case HealthChecked h -> healthChecked(h, out);
            case SwapRequested s -> swapRequested(s, out);
            case RetryFired r -> {
                if (r.ticket() != 0 && r.ticket() == retryTicket) {
                    retryTicket = 0;
                    blockedGeneration = -1;
                }
            }
            case Deactivated d -> {
                closed = true;
                active = false;
                bindingChanged();
                if (driver != null) {
                    out.add(new BindingAction.Close(take(), "device deactivated"));
                }
            }
        }
        reconcile(out);
        return out;
    }

    private void configure(Config c, boolean initial, List<BindingAction> out) {
        DeviceSettings old = sel.settings();
        target = c.target();
        deviceType = c.deviceType();
        sel.configure(c, initial);
        DeviceSettings settings = sel.settings();
        if (initial) {
            id = c.id();
            active = true;
            bindingChanged();
            if (c.error() != null) {
                log(out, Level.ERROR, c.error());
            } else {
                log(out, Level.INFO, "configured " + settings.deviceType().shortName() + " on a " + settings.backendType().id()
                        + " backend at " + settings.target() + " (" + settings.queues() + " queue(s) of " + settings.queueSize() + ")");
            }
            return;
        }
        VirtioDriver stale = null;
        if (c.error() == null && old != null && driver != null) {
            if (DeviceSelection.sameDevice(old, settings)) {
                retarget = !old.target().equals(settings.target()) || !old.options().equals(settings.options());
            } else {
                stale = take();
            }
        }
        bindingChanged();
        if (c.error() != null) {
            log(out, Level.ERROR, c.error() + " (the running driver, if any, is kept)");
        } else {
            log(out, Level.INFO, "configuration updated");
        }
        if (stale != null) {
            out.add(new BindingAction.Close(stale, "configuration changed"));
        }
    }

    private void backendRemoved(Backend b, List<BindingAction> out) {
        sel.withdraw(b);
        bindingChanged();
        log(out, Level.INFO, "unbind backend " + b.name() + " (service " + b.serviceId() + ")");
        if (driver != null && driver.on() != null && driver.on().ops() == b.ops()) {
            // The service is leaving but its back-end still answers: stop the rings now.
            detaching = true;
            out.add(new BindingAction.Detach(driver.handle(), driver.on().name(), "backend " + b.name() + " went away"));
        }
    }

    private void opened(Opened o, List<BindingAction> out) {
        Op op = finish(o.ticket());
        if (op == null || op.generation() != generation || closed) {
            // A newer binding, configuration or the deactivation came first: this result is out of date.
            out.add(new BindingAction.Close(o.driver(), "superseded while connecting"));
            return;
        }
        driver = new Running(o.driver(), op.factory(), op.to(), op.target(), o.connection());
        retarget = false;
        attempt = 0;
        state(Status.BOUND, op.to().name(), o.summary());
        log(out, Level.INFO, "bind to " + op.to().name() + " (" + op.target() + "): " + o.summary());
        startHealth(out);
    }

    private void moved(Moved m, List<BindingAction> out) {
        Op op = finish(m.ticket());
        if (op == null) {
            return;
        }
        if (driver != null && driver.handle() == op.driver()) {
            driver = new Running(op.driver(), driver.factory(), op.to(), op.target(), m.connection());
            if (op.generation() == generation) {
                retarget = false; // a target that changed during the move still has to be reached
            }
            attempt = 0;
            swapCount++;
            lastSwapMillis = m.pauseMs();
            lastMoveError = null;
            state(Status.BOUND, op.to().name(), m.summary());
            startHealth(out);
        }
        log(out, Level.INFO, "swap from " + op.from() + " to " + op.to().name() + " (" + op.target() + "), pause "
                + m.pauseMs() + " ms");
    }

    private void moveFailed(MoveFailed f, List<BindingAction> out) {
        Op op = finish(f.ticket());
        if (op == null) {
            return;
        }
        String failure = f.failure();
        if (op.generation() == generation) {
            retarget = false;
        }
        lastMoveError = failure;
        boolean stillServed = driver != null && driver.on() != null;
        if (stillServed) {
            sel.clearOverride(); // the operator's choice failed: do not retry it behind their back
        }
        if (driver == null || driver.handle() != op.driver() || op.generation() != generation) {
            log(out, Level.WARN, failure + " (superseded)");
            return;
        }
        blockedGeneration = generation;
        if (stillServed) {
            String on = driver.on().name();
            state(Status.BOUND, on, failure + "; still on " + on);
        } else {
            failure = scheduleRetry(failure, f.canCure(), out);
            state(Status.FAILED, null, failure + "; detached, requests wait (swap.wait.ms)");
        }
        log(out, Level.ERROR, failure);
    }

    private void healthChecked(HealthChecked h, List<BindingAction> out) {
        if (h.connected() || closed || driver == null || driver.connection() != h.connection()) {
            return;
        }
        String name = driver.on().name();
        sel.clearOverride();
        bindingChanged();
        log(out, Level.WARN, "backend " + name + " disconnected; releasing it and reconnecting");
        detaching = true;
        out.add(new BindingAction.Detach(driver.handle(), name, "backend " + name + " disconnected"));
    }

    private void swapRequested(SwapRequested s, List<BindingAction> out) {
        if (driver == null) {
            out.add(new BindingAction.Refuse("swap: device " + id + " has no running driver (" + status + ": " + detail + ")"));
            return;
        }
        sel.override(s.to(), s.target());
        retarget = true;
        lastMoveError = null;
        bindingChanged();
    }

    /** Brings the driver in line with the configuration and bindings, unless an open, move or detach is under way. */
    private void reconcile(List<BindingAction> out) {
        if (!active || closed || inFlight != null || detaching) {
            return;
        }
        if (sel.configError() != null) {
            if (driver == null) {
                state(Status.FAILED, null, sel.configError());
            } else {
                detail = sel.configError() + " (running driver kept)";
            }
            return;
        }
        Backend want = sel.backend();
        Factory factory = sel.factory();
        boolean sameFactory = driver != null && factory != null && driver.factory().factory() == factory.factory();
        if (sameFactory && !retarget && driver.on() != null && want != null && driver.on().ops() == want.ops()) {
            return;
        }
        if (sameFactory && want == null) {
            return; // detached (or about to be): wait for a backend
        }
        if (!sameFactory && driver != null) {
            out.add(new BindingAction.Close(take(), "rebinding"));
        }
        if (blockedGeneration == generation) {
            return; // the last attempt failed on exactly these bindings: a change or the retry timer goes on
        }
        String whyNot = sel.whyNot();
        if (whyNot != null) {
            state(Status.WAITING, null, whyNot);
            return;
        }
        String tgt = sel.target();
        long ticket = ++tickets;
        if (sameFactory) {
            String from = driver.on() == null ? "(none)" : driver.on().name() + " (" + driver.target() + ")";
            inFlight = new Op(ticket, generation, driver.handle(), want, factory, tgt, from);
            out.add(new BindingAction.Rebind(ticket, driver.handle(), want.ops(), want.name(), tgt,
                    sel.settings().options(), driver.on() == null));
        } else {
            state(Status.WAITING, want.name(), "connecting to " + tgt);
            inFlight = new Op(ticket, generation, null, want, factory, tgt, null);
            out.add(new BindingAction.Open(ticket, want.ops(), factory.factory(), want.name(), tgt, sel.settings()));
        }
    }

    /** @return the op in flight with {@code ticket}, now finished; null when it is not the one in flight */
    private Op finish(long ticket) {
        Op op = inFlight;
        if (op == null || op.ticket() != ticket) {
            return null;
        }
        inFlight = null;
        return op;
    }

    /** A binding, the configuration or the life cycle changed: a fresh start for attempts and retries. */
    private void bindingChanged() {
        generation++;
        attempt = 0;
        retryTicket = 0;
    }

    /** @return {@code failure} with the retry it scheduled, when {@code canCure} and attempts are left */
    private String scheduleRetry(String failure, boolean canCure, List<BindingAction> out) {
        retryTicket = 0;
        if (!canCure || attempt >= RETRY_DELAYS_MS.length) {
            return failure;
        }
        long delay = RETRY_DELAYS_MS[attempt++];
        retryTicket = ++tickets;
        out.add(new BindingAction.ScheduleRetry(retryTicket, delay));
        return failure + " (retry " + attempt + "/" + RETRY_DELAYS_MS.length + " in " + delay + " ms)";
    }

    private void startHealth(List<BindingAction> out) {
        if (!healthStarted) {
            healthStarted = true;
            out.add(new BindingAction.StartHealthChecks(HEALTH_PERIOD_MS));
        }
    }

    private VirtioDriver take() {
        VirtioDriver d = driver.handle();
        driver = null;
        state(Status.WAITING, null, "driver stopped");
        return d;
    }

    private void state(Status s, String backend, String why) {
        status = s;
        backendName = backend;
        detail = why;
    }

    private void log(List<BindingAction> out, Level level, String message) {
        out.add(new BindingAction.Log(level, "device " + id + ": " + message));
    }

    // ---- queries --------------------------------------------------------------------------------

    DeviceInfo info() {
        return new DeviceInfo(id, deviceType, status, backendName,
                driver != null && driver.target() != null ? driver.target() : target, detail);
    }

    String id() {
        return id;
    }

    /** @return whether the open or move with {@code ticket} is still worth starting */
    boolean isWanted(long ticket) {
        return inFlight != null && inFlight.ticket() == ticket && inFlight.generation() == generation && !closed;
    }

    /** @return whether an open or move is in flight */
    boolean busy() {
        return inFlight != null;
    }

    /** @return the driver, bound or detached, or null */
    VirtioDriver driver() {
        return driver == null ? null : driver.handle();
    }

    /** @return the driver when it runs on a backend, else null */
    VirtioDriver boundDriver() {
        return driver == null || driver.on() == null ? null : driver.handle();
    }

    /** @return the failure of the last move, null after a success or a new swap request */
    String lastMoveError() {
        return lastMoveError;
    }

    long swapCount() {
        return swapCount;
    }

    /** @return the pause of the last swap in ms, -1 before the first */
    long lastSwapMillis() {
        return lastSwapMillis;
    }
}
