package com.vhost.registry;

import com.vhost.api.VhostBackend;
import com.vhost.api.registry.VirtioDriver;
import com.vhost.registry.DeviceBinding.Backend;
import com.vhost.registry.DeviceBinding.Config;
import com.vhost.registry.DeviceBinding.Factory;

/**
 * What can happen to one device, as fed to {@link DeviceBinding#apply}: Declarative Services
 * events (from {@link DeviceComponent}), the operator's swap, and the results and timers of the
 * {@link DeviceWorker}. Results carry the ticket of the {@link BindingAction} they answer, so one
 * that completes after the bindings changed is recognised as out of date.
 */
sealed interface BindingInput {
    /** The component was activated with its first configuration (DS {@code @Activate}). */
    record Configured(Config config) implements BindingInput {}

    /** The configuration changed (DS {@code @Modified}, Configuration Admin update). */
    record Reconfigured(Config config) implements BindingInput {}

    /** DS bound a {@code backend} service (greedy: a better-ranked one is bound before the old is unbound). */
    record BackendAdded(Backend backend) implements BindingInput {}

    /** The bound {@code backend} service's properties changed (its ranking or name). */
    record BackendModified(Backend backend) implements BindingInput {}

    /** DS unbinds a {@code backend} service: its driver must be off it when the unbind returns. */
    record BackendRemoved(Backend backend) implements BindingInput {}

    /** DS bound a {@code factory} service. */
    record FactoryAdded(Factory factory) implements BindingInput {}

    /** DS unbinds a {@code factory} service: its driver must be closed when the unbind returns. */
    record FactoryRemoved(Factory factory) implements BindingInput {}

    /**
     * {@link BindingAction.Open} succeeded: {@code driver} runs on {@code connection}.
     *
     * @param summary the driver's one-line summary for the status detail
     */
    record Opened(long ticket, VirtioDriver driver, VhostBackend connection, String summary) implements BindingInput {}

    /**
     * {@link BindingAction.Open} failed (the backend it opened, if any, is closed).
     *
     * @param failure the status detail, naming the backend ("user-1: connect(/x.sock) failed: ...")
     * @param canCure whether a later attempt may succeed ({@link com.vhost.api.VhostException#shouldReconnect()},
     *     or a socket or node that is not there yet); only then is it retried
     */
    record OpenFailed(long ticket, String failure, boolean canCure) implements BindingInput {}

    /**
     * {@link BindingAction.Rebind} succeeded: the driver runs on {@code connection}.
     *
     * @param pauseMs the pause in ms: since the detach for a detached driver, else the driver's
     *     {@code last.switch.us} in ms, -1 when it did not measure it
     */
    record Moved(long ticket, VhostBackend connection, String summary, long pauseMs) implements BindingInput {}

    /** {@link BindingAction.Rebind} failed; the driver is where it was (old backend, or detached). */
    record MoveFailed(long ticket, String failure, boolean canCure) implements BindingInput {}

    /** The worker dropped an open or move because {@link DeviceBinding#isWanted} said it was out of date. */
    record Abandoned(long ticket) implements BindingInput {}

    /** {@link BindingAction.Detach} succeeded after {@code pauseMs} ms; requests now wait for a backend. */
    record Detached(VirtioDriver driver, String from, String reason, long pauseMs) implements BindingInput {}

    /** {@link BindingAction.Detach} failed (the driver cannot detach, or detaching threw): it must be closed. */
    record DetachFailed(VirtioDriver driver, String reason) implements BindingInput {}

    /** The periodic health timer ({@link DeviceBinding#HEALTH_PERIOD_MS}) fired. */
    record HealthTick() implements BindingInput {}

    /** Answer to {@link BindingAction.ProbeHealth}: whether {@code connection} is still connected. */
    record HealthChecked(VhostBackend connection, boolean connected) implements BindingInput {}

    /**
     * The operator asks to move the running driver ({@code vhost:swap}).
     *
     * @param to the backend service, or null for the current one
     * @param target a socket or node path, or null for the configured target
     */
    record SwapRequested(Backend to, String target) implements BindingInput {}

    /** The retry timer of {@link BindingAction.ScheduleRetry} with this ticket fired. */
    record RetryFired(long ticket) implements BindingInput {}

    /** The component is deactivated (DS {@code @Deactivate}): configuration deleted, bundle stopping. */
    record Deactivated() implements BindingInput {}
}
