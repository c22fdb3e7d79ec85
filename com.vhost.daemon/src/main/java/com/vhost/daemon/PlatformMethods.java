package com.vhost.daemon;

import com.vhost.api.registry.BackendInfo;
import com.vhost.api.registry.DeviceConfigKeys;
import com.vhost.api.registry.DeviceInfo;
import com.vhost.api.registry.DeviceRegistry;
import com.vhost.daemon.rpc.JsonRpc;
import com.vhost.daemon.rpc.Params;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.osgi.framework.Bundle;
import org.osgi.framework.BundleContext;
import org.osgi.framework.Constants;

/**
 * Every method of the control socket by name (the contract of issue #12): the back-end methods
 * here over {@link ServedBackends}, the device methods in {@link DeviceMethods}, and
 * {@code vhost_backends}, {@code bundle_list} and {@code health}.
 */
final class PlatformMethods {
    private final DeviceRegistry registry;
    private final ServedBackends served;
    private final DeviceMethods devices;
    private final BundleContext context;
    private final BundleUpdates updates;

    PlatformMethods(DeviceRegistry registry, ServedBackends served, DeviceMethods devices, BundleContext context, BundleUpdates updates) {
        this.registry = registry;
        this.served = served;
        this.devices = devices;
        this.context = context;
        this.updates = updates;
    }

    /** @return the methods by name */
    Map<String, JsonRpc.Method> methods() {
        Map<String, JsonRpc.Method> m = new HashMap<>();
        m.put("backend_serve_blk", this::serveBlk);
        m.put("backend_serve_net", this::serveNet);
        m.put("backend_served_list", p -> {
            p.allowOnly();
            return served.list().stream().map(ServedBackends::describe).toList();
        });
        m.put("backend_served_delete", p -> {
            p.allowOnly("name");
            ServedBackends.Entry e = served.delete(p.string("name"));
            return Map.of("name", e.name(), "socket", e.served().socket().toString(), "deleted", true);
        });
        m.put("vhost_backends", this::vhostBackends);
        m.put("device_create", devices::create);
        m.put("device_list", devices::list);
        m.put("device_get", devices::get);
        m.put("device_swap", devices::swap);
        m.put("device_stats", devices::stats);
        m.put("device_delete", devices::delete);
        m.put("device_snapshot", devices::snapshot);
        m.put("device_bench", new DeviceBench(registry)::bench);
        m.put("device_restore", devices::restore);
        m.put("bundle_list", this::bundles);
        m.put("bundle_update", updates::update);
        m.put("health", this::health);
        return m;
    }

    /** {@code backend_serve_blk {name, image | memory_size, socket, queues=1, readonly=false}} → {name, socket}. */
    private Object serveBlk(Params p) throws Exception {
        p.allowOnly("name", "image", "memory_size", "socket", "queues", "readonly", "queue_size");
        String name = p.string("name");
        Path socket = Path.of(p.string("socket"));
        String image = p.optString("image");
        boolean hasMemory = p.has("memory_size");
        if ((image == null) == !hasMemory) {
            throw p.invalid("give exactly one of parameters 'image' and 'memory_size'");
        }
        Map<String, Object> config = new HashMap<>();
        config.put(DeviceConfigKeys.QUEUES, (int) p.integer("queues", 1, 1, 256));
        config.put(DeviceConfigKeys.QUEUE_SIZE, (int) p.integer("queue_size", 256, 1, 32768));
        boolean readOnly = p.bool("readonly", false);
        if (image != null) {
            config.put(DeviceConfigKeys.IMAGE, image);
            config.put(DeviceConfigKeys.READ_ONLY, readOnly);
        } else {
            long size = p.integer("memory_size", 0, 512, 1L << 40);
            if (size % 512 != 0) {
                throw p.invalid("parameter 'memory_size' is " + size + ", not a multiple of 512");
            }
            if (readOnly) {
                throw p.invalid("parameter 'readonly' makes no sense for a zero-filled 'memory_size' disk");
            }
            config.put(DeviceConfigKeys.MEMORY_SIZE, size);
        }
        ServedBackends.Entry e = served.serve(name, "blk", socket, config);
        return Map.of("name", e.name(), "socket", e.served().socket().toString());
    }

    /** {@code backend_serve_net {name, socket, loopback=true | tap, queues=1}} → {name, socket}. */
    private Object serveNet(Params p) throws Exception {
        p.allowOnly("name", "socket", "loopback", "tap", "queues", "queue_size");
        String name = p.string("name");
        Path socket = Path.of(p.string("socket"));
        String tap = p.optString("tap");
        boolean loopback = p.bool("loopback", tap == null);
        if (loopback == (tap != null)) {
            throw p.invalid("give either 'loopback': true or a 'tap' interface, not both or neither");
        }
        long queues = p.integer("queues", 1, 1, 128);
        if (tap != null && queues != 1) {
            throw p.invalid("parameter 'queues' is " + queues + ", but a 'tap' back-end serves one queue pair");
        }
        Map<String, Object> config = new HashMap<>();
        config.put(DeviceConfigKeys.QUEUES, (int) queues);
        config.put(DeviceConfigKeys.QUEUE_SIZE, (int) p.integer("queue_size", 256, 1, 32768));
        if (tap != null) {
            config.put(DeviceConfigKeys.TAP, tap);
        }
        ServedBackends.Entry e = served.serve(name, "net", socket, config);
        return Map.of("name", e.name(), "socket", e.served().socket().toString());
    }

    private Object vhostBackends(Params p) throws Exception {
        p.allowOnly();
        List<Object> l = new ArrayList<>();
        for (BackendInfo b : registry.backends()) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("name", b.name());
            m.put("type", b.type().id());
            m.put("ranking", b.ranking());
            m.put("bundle", b.bundle());
            m.put("service_id", b.serviceId());
            l.add(m);
        }
        return l;
    }

    private Object bundles(Params p) throws Exception {
        p.allowOnly();
        List<Object> l = new ArrayList<>();
        for (Bundle b : context.getBundles()) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("id", b.getBundleId());
            m.put("symbolic_name", b.getSymbolicName());
            m.put("version", b.getVersion().toString());
            m.put("state", state(b));
            l.add(m);
        }
        return l;
    }

    private static String state(Bundle b) {
        return switch (b.getState()) {
            case Bundle.ACTIVE -> "ACTIVE";
            case Bundle.RESOLVED -> "RESOLVED";
            case Bundle.INSTALLED -> "INSTALLED";
            case Bundle.STARTING -> "STARTING";
            case Bundle.STOPPING -> "STOPPING";
            default -> "UNINSTALLED";
        };
    }

    /**
     * {@code health {}} → {status, checks}: a device BOUND is OK, WAITING is WARN, FAILED is
     * CRITICAL; a served back-end is OK while served; a bundle that is not a fragment and not
     * ACTIVE is WARN. The status is the worst check's.
     */
    private Object health(Params p) throws Exception {
        p.allowOnly();
        List<Map<String, Object>> checks = new ArrayList<>();
        for (DeviceInfo d : registry.devices()) {
            String status = switch (d.status()) {
                case BOUND -> "OK";
                case WAITING -> "WARN";
                case FAILED -> "CRITICAL";
            };
            checks.add(check("device " + d.id(), status, d.status() + (d.backendName() == null ? "" : " to " + d.backendName())
                    + " (" + d.target() + ")" + (d.detail() == null ? "" : ": " + d.detail())));
        }
        for (ServedBackends.Entry e : served.list()) {
            checks.add(check("served " + e.name(), "OK", e.type() + " on " + e.served().socket() + ", "
                    + e.served().acceptedConnections() + " session(s)"));
        }
        for (Bundle b : context.getBundles()) {
            boolean fragment = b.getHeaders().get(Constants.FRAGMENT_HOST) != null;
            if (!fragment && b.getState() != Bundle.ACTIVE) {
                checks.add(check("bundle " + b.getSymbolicName(), "WARN", "state " + state(b)));
            }
        }
        String overall = "OK";
        for (Map<String, Object> c : checks) {
            overall = worse(overall, (String) c.get("status"));
        }
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("status", overall);
        r.put("checks", checks);
        return r;
    }

    private static String worse(String a, String b) {
        List<String> order = List.of("OK", "WARN", "CRITICAL");
        return order.indexOf(a) >= order.indexOf(b) ? a : b;
    }

    private static Map<String, Object> check(String name, String status, String message) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("name", name);
        m.put("status", status);
        m.put("message", message);
        return m;
    }
}
