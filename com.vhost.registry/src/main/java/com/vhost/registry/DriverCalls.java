package com.vhost.registry;

import com.vhost.api.VhostBackend;
import com.vhost.api.VhostDisconnectedException;
import com.vhost.api.VhostException;
import com.vhost.api.VhostFeatureException;
import com.vhost.api.VhostTarget;
import com.vhost.api.registry.VirtioDriver;
import com.vhost.registry.BindingAction.*;
import com.vhost.registry.BindingInput.*;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The calls into a backend service, its connection and a driver that {@link DeviceWorker} makes
 * for one {@link BindingAction}, each turned into the {@link BindingInput} that answers it: the
 * exceptions of the vhost API become failure details with a may-cure-itself verdict. Runtime
 * exceptions and linkage errors (a provider bundle gone in the middle of a call) are answers too,
 * never thrown: an open or move must always be answered or the device would wait for it forever.
 * The caller holds the device's driver lock.
 */
final class DriverCalls {
    /** Logged under the component's name: the integration tests and operators match these lines. */
    private static final Logger LOG = LoggerFactory.getLogger(DeviceComponent.class);

    private DriverCalls() {}

    /** @return {@link VhostBackend#isConnected()}; a throw counts as not connected */
    static boolean connected(VhostBackend connection) {
        try {
            return connection.isConnected();
        } catch (RuntimeException | LinkageError e) {
            return false;
        }
    }

    /**
     * Asks {@link com.vhost.api.VhostOps#unusableReason}, opens the backend and creates the driver;
     * the backend is closed again when the driver could not be made.
     *
     * @return {@link Opened}, or {@link OpenFailed} that may cure itself for an unusable target or a
     *     {@link VhostException#shouldReconnect()} failure, not for a runtime exception (logged with its trace)
     */
    static BindingInput open(Open o, String id) {
        String name = o.backendName();
        VhostTarget vt = new VhostTarget(o.target(), o.settings().options());
        Optional<String> unusable;
        try {
            unusable = o.ops().unusableReason(vt);
        } catch (RuntimeException | LinkageError e) {
            unusable = Optional.of("checking " + o.target() + " failed: " + e);
        }
        if (unusable.isPresent()) {
            return new OpenFailed(o.ticket(), name + ": " + unusable.get(), true); // the socket or node may appear
        }
        VhostBackend backend = null;
        try {
            backend = o.ops().open(vt);
            VirtioDriver created = o.factory().create(backend, o.settings().driverConfig());
            VhostBackend opened = backend;
            backend = null; // the driver owns it now
            return new Opened(o.ticket(), created, opened, summary(created));
        } catch (VhostException e) {
            return new OpenFailed(o.ticket(), name + ": " + e.getMessage(), e.shouldReconnect());
        } catch (RuntimeException | LinkageError e) {
            LOG.error("device {}: unexpected failure while starting", id, e);
            return new OpenFailed(o.ticket(), name + ": " + e, false);
        } finally {
            if (backend != null) {
                try {
                    backend.close();
                } catch (RuntimeException e) {
                    LOG.warn("device {}: closing backend after failure: {}", id, e.toString());
                }
            }
        }
    }

    /**
     * Opens the new backend and moves the driver there ({@link VirtioDriver#rebind}, which owns the
     * new backend from then on, also on failure).
     *
     * @param detachedAt System.nanoTime() of the driver's detach, the start of the pause of a detached driver
     * @return {@link Moved} with the pause in ms, or {@link MoveFailed} that may cure itself for an
     *     unusable target, a disconnection or a {@link VhostException#shouldReconnect()} failure
     */
    static BindingInput rebind(Rebind r, long detachedAt, String id) {
        String what = "swap to " + r.backendName() + " (" + r.target() + ") failed: ";
        VhostBackend nb = null;
        try {
            VhostTarget vt = new VhostTarget(r.target(), r.options());
            Optional<String> unusable = r.ops().unusableReason(vt);
            if (unusable.isPresent()) {
                throw new VhostDisconnectedException(r.backendName() + ": " + unusable.get());
            }
            nb = r.ops().open(vt);
            VhostBackend opened = nb;
            nb = null; // rebind owns it, also on failure
            r.driver().rebind(opened);
            long switchUs = r.driver().counters().getOrDefault("last.switch.us", -1L);
            long pauseMs = r.fromDetached() ? TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - detachedAt)
                    : switchUs < 0 ? -1 : TimeUnit.MICROSECONDS.toMillis(switchUs);
            return new Moved(r.ticket(), opened, summary(r.driver()), pauseMs);
        } catch (VhostException e) {
            return new MoveFailed(r.ticket(), what + e.getMessage(), e.shouldReconnect() || e instanceof VhostDisconnectedException);
        } catch (RuntimeException | LinkageError e) {
            LOG.error("device {}: unexpected failure while swapping", id, e);
            return new MoveFailed(r.ticket(), what + e, false);
        } finally {
            if (nb != null) {
                nb.close();
            }
        }
    }

    /**
     * {@link VirtioDriver#detach()}.
     *
     * @return {@link Detached} with the ms it took, or {@link DetachFailed} (logged) when the driver
     *     cannot detach or detaching threw
     */
    static BindingInput detach(Detach d, String id) {
        long t0 = System.nanoTime();
        try {
            d.driver().detach();
            return new Detached(d.driver(), d.from(), d.reason(), TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0));
        } catch (VhostFeatureException e) {
            LOG.debug("device {}: driver cannot detach ({}); closing it", id, e.getMessage());
        } catch (VhostException | RuntimeException | LinkageError e) {
            LOG.warn("device {}: detaching from {} failed: {}; closing the driver", id, d.from(), e.toString());
        }
        return new DetachFailed(d.driver(), d.reason());
    }

    /** {@link VirtioDriver#close()}, logged as "driver closed (reason)"; a throw is logged, not thrown. */
    static void close(VirtioDriver d, String reason, String id) {
        try {
            d.close();
            LOG.info("device {}: driver closed ({})", id, reason);
        } catch (RuntimeException | LinkageError e) {
            LOG.warn("device {}: closing driver ({}) failed: {}", id, reason, e.toString());
        }
    }

    static String summary(VirtioDriver d) {
        try {
            return d.summary();
        } catch (RuntimeException | LinkageError e) {
            return "running (summary failed: " + e + ")";
        }
    }
}
