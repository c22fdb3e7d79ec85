package com.vhost.daemon;

import com.vhost.api.registry.BackendInfo;
import com.vhost.api.registry.DeviceConfigKeys;
import com.vhost.api.daemon.HealthResult;
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
    private final Health health;
    private final BundleUpdates updates;

    PlatformMethods(DeviceRegistry registry, ServedBackends served, DeviceMethods devices, BundleContext context, Health health,
            BundleUpdates updates) {
        this.registry = registry;
        this.served = served;
        this.devices = devices;
        this.context = context;
        this.health = health;
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

    static String state(Bundle b) {
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
     * {@code health {}} → {status, checks}: the checks of {@link Health} (per device, per served
     * back-end, per bundle not ACTIVE); the status is the worst check's.
     */
    private Object health(Params p) throws Exception {
        p.allowOnly();
        List<HealthResult> all = health.all();
        List<Map<String, Object>> checks = new ArrayList<>();
        for (HealthResult c : all) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("name", c.name());
            m.put("status", c.status().name());
            m.put("message", c.message());
            checks.add(m);
        }
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("status", Health.overall(all).name());
        r.put("checks", checks);
        return r;
    }
}
