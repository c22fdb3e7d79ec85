package com.vhost.web;

import com.vhost.api.daemon.DaemonView;
import com.vhost.api.daemon.HealthResult;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Hashtable;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Supplier;
import org.apache.felix.hc.api.HealthCheck;
import org.apache.felix.hc.api.Result;
import org.osgi.framework.BundleContext;
import org.osgi.framework.ServiceRegistration;

/**
 * One Felix {@link HealthCheck} service per device ({@code device ID}) and per served back-end
 * ({@code served NAME}), plus {@code vhost bundles} (bundles not ACTIVE), all tagged
 * {@value #TAG}: {@link #sync} registers the checks of new devices and back-ends and unregisters
 * those gone. Each check asks {@link DaemonView} when it runs, so its outcome is the daemon's
 * {@code health} method's for the same name. Not thread-safe: {@link #sync} and {@link #close}
 * run on one thread.
 */
final class HealthChecks implements AutoCloseable {
    /** The tag of every check here; the {@code /system/health} servlet runs this tag. */
    static final String TAG = "vhost";
    /** How long the executor may reuse a check's result, in milliseconds. */
    static final long CACHE_TTL_MS = 200;

    private final BundleContext context;
    private final DaemonView view;
    private final Map<String, ServiceRegistration<HealthCheck>> checks = new HashMap<>();

    HealthChecks(BundleContext context, DaemonView view) {
        this.context = context;
        this.view = view;
    }

    /** Registers and unregisters checks so there is one per current device and served back-end. */
    void sync(Set<String> deviceIds, Set<String> servedNames) {
        Set<String> wanted = new TreeSet<>();
        deviceIds.forEach(id -> wanted.add("device " + id));
        servedNames.forEach(n -> wanted.add("served " + n));
        wanted.add("vhost bundles");
        for (String name : List.copyOf(checks.keySet())) {
            if (!wanted.contains(name)) {
                unregister(checks.remove(name));
            }
        }
        for (String name : wanted) {
            if (!checks.containsKey(name)) {
                checks.put(name, register(name, check(name)));
            }
        }
    }

    /** @return the names of the registered checks */
    Set<String> names() {
        return new TreeSet<>(checks.keySet());
    }

    private HealthCheck check(String name) {
        if (name.startsWith("device ")) {
            String id = name.substring("device ".length());
            return () -> result(() -> view.deviceHealth(id), "device '" + id + "' no longer exists");
        }
        if (name.startsWith("served ")) {
            String n = name.substring("served ".length());
            return () -> result(() -> view.servedHealth(n), "back-end '" + n + "' is no longer served");
        }
        return this::bundles;
    }

    private Result bundles() {
        List<HealthResult> notActive = new ArrayList<>();
        for (HealthResult r : view.health()) {
            if (r.name().startsWith("bundle ")) {
                notActive.add(r);
            }
        }
        if (notActive.isEmpty()) {
            return new Result(Result.Status.OK, "every bundle is ACTIVE");
        }
        StringBuilder b = new StringBuilder();
        for (HealthResult r : notActive) {
            b.append(b.isEmpty() ? "" : "; ").append(r.name()).append(": ").append(r.message());
        }
        return new Result(Result.Status.WARN, b.toString());
    }

    /** Maps the daemon's outcome to a Felix result; a check whose subject is gone is TEMPORARILY_UNAVAILABLE. */
    static Result result(Supplier<Optional<HealthResult>> outcome, String gone) {
        Optional<HealthResult> r = outcome.get();
        if (r.isEmpty()) {
            return new Result(Result.Status.TEMPORARILY_UNAVAILABLE, gone);
        }
        Result.Status s = switch (r.get().status()) {
            case OK -> Result.Status.OK;
            case WARN -> Result.Status.WARN;
            case CRITICAL -> Result.Status.CRITICAL;
        };
        return new Result(s, r.get().message());
    }

    private ServiceRegistration<HealthCheck> register(String name, HealthCheck check) {
        Hashtable<String, Object> p = new Hashtable<>();
        p.put(HealthCheck.NAME, name);
        p.put(HealthCheck.TAGS, new String[] {TAG, name.startsWith("vhost ") ? "bundles" : name.substring(0, name.indexOf(' '))});
        p.put(HealthCheck.RESULT_CACHE_TTL_IN_MS, CACHE_TTL_MS);
        return context.registerService(HealthCheck.class, check, p);
    }

    private static void unregister(ServiceRegistration<?> r) {
        try {
            r.unregister();
        } catch (IllegalStateException gone) {
            // the framework is stopping
        }
    }

    @Override
    public void close() {
        checks.values().forEach(HealthChecks::unregister);
        checks.clear();
    }
}
