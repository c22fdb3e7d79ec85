package com.vhost.daemon;

import com.vhost.api.daemon.DaemonView;
import com.vhost.api.daemon.HealthResult;
import com.vhost.api.daemon.HealthResult.Status;
import com.vhost.api.registry.DeviceInfo;
import com.vhost.api.registry.DeviceRegistry;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.osgi.framework.Bundle;
import org.osgi.framework.BundleContext;
import org.osgi.framework.Constants;
import org.osgi.framework.startlevel.BundleStartLevel;
import org.osgi.framework.startlevel.FrameworkStartLevel;

/**
 * The health logic of the daemon, shared by the {@code health} method and {@link DaemonView}
 * (the web health checks of {@code --http}): a check per device, per served back-end and per
 * bundle that is not ACTIVE although its start level is reached (a bundle above the framework's
 * start level is not expected to run).
 */
final class Health {
    private final DeviceRegistry registry;
    private final ServedBackends served;
    private final BundleContext context;

    Health(DeviceRegistry registry, ServedBackends served, BundleContext context) {
        this.registry = registry;
        this.served = served;
        this.context = context;
    }

    /** @return every check: devices, served back-ends, bundles not ACTIVE at a start level reached (fragments aside) */
    List<HealthResult> all() {
        List<HealthResult> checks = new ArrayList<>();
        for (DeviceInfo d : registry.devices()) {
            checks.add(device(d, registry.counters(d.id())));
        }
        for (ServedBackends.Entry e : served.list()) {
            checks.add(served(e));
        }
        int level = frameworkStartLevel();
        for (Bundle b : context.getBundles()) {
            boolean fragment = b.getHeaders().get(Constants.FRAGMENT_HOST) != null;
            if (!fragment && b.getState() != Bundle.ACTIVE && startLevel(b) <= level) {
                checks.add(new HealthResult("bundle " + b.getSymbolicName(), Status.WARN, "state " + PlatformMethods.state(b)));
            }
        }
        return checks;
    }

    /** @return the framework's active start level, or MAX_VALUE when unknown (every bundle then counts) */
    private int frameworkStartLevel() {
        Bundle system = context.getBundle(0);
        FrameworkStartLevel fsl = system == null ? null : system.adapt(FrameworkStartLevel.class);
        return fsl == null ? Integer.MAX_VALUE : fsl.getStartLevel();
    }

    /** @return the bundle's start level, 0 when unknown (it then counts) */
    private static int startLevel(Bundle b) {
        BundleStartLevel bsl = b.adapt(BundleStartLevel.class);
        return bsl == null ? 0 : bsl.getStartLevel();
    }

    /** @return the worst status of {@code checks}, OK when there are none */
    static Status overall(List<HealthResult> checks) {
        Status s = Status.OK;
        for (HealthResult c : checks) {
            s = HealthResult.worse(s, c.status());
        }
        return s;
    }

    Optional<HealthResult> device(String id) {
        return registry.device(id).map(d -> device(d, registry.counters(id)));
    }

    Optional<HealthResult> served(String name) {
        return served.list().stream().filter(e -> e.name().equals(name)).findFirst().map(Health::served);
    }

    /**
     * BOUND is OK, or WARN when the last swap's pause ({@code last.pause.us}, else
     * {@code last.switch.us}) exceeded {@link DaemonView#SWAP_PAUSE_LIMIT_MS}; WAITING is WARN,
     * or CRITICAL when the device was detached from its back-end ({@code detached} = 1); FAILED
     * is CRITICAL.
     */
    static HealthResult device(DeviceInfo d, Map<String, Long> counters) {
        String about = d.status() + (d.backendName() == null ? "" : " to " + d.backendName()) + " (" + d.target() + ")"
                + (d.detail() == null ? "" : ": " + d.detail());
        Status status = switch (d.status()) {
            case BOUND -> Status.OK;
            case WAITING -> counters.getOrDefault("detached", 0L) == 1L ? Status.CRITICAL : Status.WARN;
            case FAILED -> Status.CRITICAL;
        };
        if (d.status() == DeviceInfo.Status.BOUND) {
            long us = counters.getOrDefault("last.pause.us", -1L);
            if (us < 0) {
                us = counters.getOrDefault("last.switch.us", -1L);
            }
            if (us > DaemonView.SWAP_PAUSE_LIMIT_MS * 1000) {
                status = Status.WARN;
                about += "; the last swap paused I/O " + us / 1000 + " ms (limit " + DaemonView.SWAP_PAUSE_LIMIT_MS + " ms)";
            }
        }
        return new HealthResult("device " + d.id(), status, about);
    }

    private static HealthResult served(ServedBackends.Entry e) {
        return new HealthResult("served " + e.name(), Status.OK, e.type() + " on " + e.served().socket() + ", "
                + e.served().acceptedConnections() + " session(s)");
    }
}
