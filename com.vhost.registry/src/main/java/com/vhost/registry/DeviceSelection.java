package com.vhost.registry;

import com.vhost.api.registry.DeviceConfigKeys;
import com.vhost.registry.DeviceBinding.Backend;
import com.vhost.registry.DeviceBinding.Config;
import com.vhost.registry.DeviceBinding.Factory;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What one device wants, as part of {@link DeviceBinding}'s state: its configuration, the backends
 * and factory DS bound, the operator's choice; which backend and target that makes, and why the
 * device cannot have it (the WAITING details). Plain data: no threads, never calls a service.
 */
final class DeviceSelection {
    private DeviceSettings settings;
    private String configError;
    private final List<Backend> offers = new ArrayList<>();
    private Factory factory;
    private Backend override;
    private String overrideTarget;

    /**
     * Takes a configuration; an invalid one keeps the settings of the last valid one (the
     * running driver keeps them), except at activation where there are none.
     */
    void configure(Config c, boolean initial) {
        configError = c.error();
        if (c.error() == null || initial) {
            settings = c.settings();
        }
        if (!initial) {
            clearOverride(); // a configuration change ends the operator's choice (Config Admin wins)
        }
    }

    /** @return the settings in force, null when the device was activated with an invalid configuration */
    DeviceSettings settings() {
        return settings;
    }

    /** @return "invalid configuration: ..." or null */
    String configError() {
        return configError;
    }

    /** A service DS bound; bound again, it counts as bound last. */
    void offer(Backend b) {
        offers.removeIf(o -> o.ops() == b.ops());
        offers.add(b);
    }

    /** @return whether {@code b}'s properties differ from those of the bound service it describes */
    boolean modify(Backend b) {
        boolean changed = false;
        for (int i = 0; i < offers.size(); i++) {
            if (offers.get(i).ops() == b.ops() && !offers.get(i).equals(b)) {
                offers.set(i, b);
                changed = true;
            }
        }
        return changed;
    }

    /** The service leaves; so does the operator's choice of it (their target stays). */
    void withdraw(Backend b) {
        offers.removeIf(o -> o.ops() == b.ops());
        if (override != null && override.ops() == b.ops()) {
            override = null;
        }
    }

    void factory(Factory f) {
        factory = f;
    }

    void withdrawFactory(Factory f) {
        if (factory != null && factory.factory() == f.factory()) {
            factory = null;
        }
    }

    /** @return the bound factory, or null */
    Factory factory() {
        return factory;
    }

    /** The operator's choice: {@code to} (null keeps the bound one) at {@code target} (null: the configured one). */
    void override(Backend to, String target) {
        if (to != null) {
            override = to;
            overrideTarget = target;
        } else if (target != null) {
            overrideTarget = target;
        }
    }

    void clearOverride() {
        override = null;
        overrideTarget = null;
    }

    /**
     * @return the operator's backend, else the one DS bound last, or null. DS's greedy policy has
     *     done the ranking (its greedy policy option: a better-ranked service replaces the bound
     *     one; its bound service replacement rule: the replacement is bound before the old one is
     *     unbound, also when the bound one leaves), so the last bound
     *     is DS's choice even while a leaving service of higher ranking is still in the list
     */
    Backend backend() {
        if (override != null) {
            return override;
        }
        return offers.isEmpty() ? null : offers.getLast();
    }

    /** @return the operator's target, else the configured one */
    String target() {
        return overrideTarget != null ? overrideTarget : settings.target();
    }

    /** @return why the device cannot be bound to {@link #backend()} (a WAITING detail), or null when it can */
    String whyNot() {
        String wantedType = settings.backendType().id();
        Backend want = backend();
        if (want == null) {
            return "no " + wantedType + " backend (no VhostOps matches "
                    + DeviceSettings.backendFilter(wantedType, settings.backendFilter()) + ")";
        }
        String boundType = want == override ? wantedType : want.type(); // the operator's choice is not checked
        if (boundType == null || !wantedType.equalsIgnoreCase(boundType)) {
            return "backend " + want.name() + " is of type " + boundType + ", configured backend.type is " + wantedType;
        }
        String wantedDevice = settings.deviceType().shortName();
        if (factory == null) {
            return "no driver factory for device type " + wantedDevice + " (no VirtioDriverFactory matches "
                    + DeviceSettings.factoryFilter(wantedDevice) + ")";
        }
        if (!wantedDevice.equals(factory.deviceType())) {
            return "driver factory makes " + factory.deviceType() + " devices, configured device.type is " + wantedDevice;
        }
        return null;
    }

    /** @return whether only the backend selection differs (the driver can be moved rather than re-created) */
    static boolean sameDevice(DeviceSettings a, DeviceSettings b) {
        Map<String, Object> ca = new LinkedHashMap<>(a.driverConfig());
        Map<String, Object> cb = new LinkedHashMap<>(b.driverConfig());
        for (Map<String, Object> m : List.of(ca, cb)) {
            m.remove(DeviceConfigKeys.TARGET);
            m.remove(DeviceConfigKeys.BACKEND_TARGET);
            m.remove("service.pid");
            m.remove("service.factoryPid");
            m.remove("service.bundleLocation");
            m.keySet().removeIf(k -> k.startsWith(DeviceConfigKeys.OPTION_PREFIX) || k.startsWith("felix.") || k.startsWith("component."));
        }
        return a.deviceType() == b.deviceType() && a.backendType() == b.backendType() && ca.equals(cb);
    }
}
