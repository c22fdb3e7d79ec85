package com.vhost.registry;

import com.vhost.api.VhostBackend;
import com.vhost.api.VhostOps;
import com.vhost.api.registry.VirtioDriver;
import com.vhost.api.registry.VirtioDriverFactory;
import java.util.Map;

/**
 * What {@link DeviceBinding} asks the {@link DeviceWorker} to do, in order. {@link Open} and
 * {@link Rebind} are slow (they connect) and run on the worker's thread; {@link Detach} and
 * {@link Close} run on the thread that fed the input (a DS unbind must not return while the
 * driver still uses the leaving service), with the worker's driver lock held.
 */
sealed interface BindingAction {
    /** Log levels of {@link Log}. */
    enum Level { DEBUG, INFO, WARN, ERROR }

    /** One log line, already prefixed with {@code device <id>: }. */
    record Log(Level level, String message) implements BindingAction {}

    /**
     * Open {@code ops} at {@code target} (after asking {@link VhostOps#unusableReason}) and create a
     * driver with {@code factory}; answer {@link BindingInput.Opened} or {@link BindingInput.OpenFailed}.
     */
    record Open(long ticket, VhostOps ops, VirtioDriverFactory factory, String backendName, String target,
            DeviceSettings settings) implements BindingAction {}

    /**
     * Open {@code ops} at {@code target} and move the running {@code driver} there
     * ({@link VirtioDriver#rebind}); answer {@link BindingInput.Moved} or {@link BindingInput.MoveFailed}.
     *
     * @param fromDetached whether the driver is detached (the pause then counts from the detach)
     */
    record Rebind(long ticket, VirtioDriver driver, VhostOps ops, String backendName, String target,
            Map<String, String> options, boolean fromDetached) implements BindingAction {}

    /** {@link VirtioDriver#detach()}; answer {@link BindingInput.Detached} or {@link BindingInput.DetachFailed}. */
    record Detach(VirtioDriver driver, String from, String reason) implements BindingAction {}

    /** {@link VirtioDriver#close()} (logged as "driver closed (reason)"); no answer. */
    record Close(VirtioDriver driver, String reason) implements BindingAction {}

    /** Feed {@link BindingInput.RetryFired} with this ticket after {@code delayMs} ms. */
    record ScheduleRetry(long ticket, long delayMs) implements BindingAction {}

    /** Feed {@link BindingInput.HealthTick} every {@code periodMs} ms from now until deactivation. */
    record StartHealthChecks(long periodMs) implements BindingAction {}

    /** Ask {@link VhostBackend#isConnected()} (a throw counts as not connected); answer {@link BindingInput.HealthChecked}. */
    record ProbeHealth(VhostBackend connection) implements BindingAction {}

    /** The operator's swap is refused with this message (no running driver). */
    record Refuse(String message) implements BindingAction {}
}
