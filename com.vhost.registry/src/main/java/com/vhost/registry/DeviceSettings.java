package com.vhost.registry;

import com.vhost.api.VhostBackendType;
import com.vhost.api.VhostTarget;
import com.vhost.api.registry.DeviceConfigKeys;
import com.vhost.api.virtio.VirtioDeviceType;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * A device configuration after validation.
 *
 * @param id the device id: the name part of the factory configuration PID ({@code com.vhost.device~disk0}
 *     gives {@code disk0}), or the whole PID when it has no name part
 * @param deviceType VirtIO device type (from {@code device.type})
 * @param backendType backend kind (from {@code backend.type})
 * @param target socket path or device node (from {@code target})
 * @param queues number of request queues (from {@code queues})
 * @param queueSize descriptors per queue, a power of two (from {@code queue.size})
 * @param backendFilter the user's extra LDAP filter on VhostOps (from {@code backend.target}), or null
 * @param options VhostTarget options (from {@code option.*})
 * @param driverConfig the configuration handed to {@link com.vhost.api.registry.VirtioDriverFactory#create},
 *     with {@code queues} and {@code queue.size} normalised to Integer
 */
public record DeviceSettings(
        String id,
        VirtioDeviceType deviceType,
        VhostBackendType backendType,
        String target,
        int queues,
        int queueSize,
        String backendFilter,
        Map<String, String> options,
        Map<String, Object> driverConfig) {

    static final int MAX_QUEUES = 65535;
    static final int MAX_QUEUE_SIZE = 32768;

    public DeviceSettings {
        Objects.requireNonNull(id, "id");
        options = Map.copyOf(options);
        driverConfig = Map.copyOf(driverConfig);
    }

    /** @return the VhostTarget the backend is opened with */
    public VhostTarget vhostTarget() {
        return new VhostTarget(target, options);
    }

    /**
     * Derives the device id from configuration properties.
     *
     * @param props component properties ({@code service.pid}, {@code service.factoryPid})
     * @return the name after {@code ~} in the PID, else the PID, else {@code "unnamed"}
     */
    public static String idOf(Map<String, ?> props) {
        Object pid = props.get("service.pid");
        if (pid == null) {
            pid = props.get("component.name");
        }
        if (pid == null) {
            return "unnamed";
        }
        String s = pid.toString();
        int tilde = s.lastIndexOf('~');
        return tilde >= 0 && tilde < s.length() - 1 ? s.substring(tilde + 1) : s;
    }

    /**
     * Validates a device configuration.
     *
     * @param props the configuration's properties
     * @return the settings
     * @throws IllegalArgumentException naming the property and the offending value: unknown device or
     *     backend type, missing target, a number that does not parse or is out of range, a queue size
     *     that is not a power of two
     */
    public static DeviceSettings parse(Map<String, ?> props) {
        String id = idOf(props);
        String dt = string(props, DeviceConfigKeys.DEVICE_TYPE, "blk");
        VirtioDeviceType deviceType = null;
        for (VirtioDeviceType t : VirtioDeviceType.values()) {
            if (t.shortName().equalsIgnoreCase(dt)) {
                deviceType = t;
            }
        }
        if (deviceType == null) {
            throw new IllegalArgumentException(DeviceConfigKeys.DEVICE_TYPE + ": unknown device type '" + dt + "' (expected blk or net)");
        }
        String bt = string(props, DeviceConfigKeys.BACKEND_TYPE, "user");
        VhostBackendType backendType;
        try {
            backendType = VhostBackendType.fromId(bt);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(DeviceConfigKeys.BACKEND_TYPE + ": " + e.getMessage(), e);
        }
        String target = string(props, DeviceConfigKeys.TARGET, null);
        if (target == null || target.isBlank()) {
            throw new IllegalArgumentException(DeviceConfigKeys.TARGET + ": missing (a socket path or device node is required)");
        }
        int queues = integer(props, DeviceConfigKeys.QUEUES, 1, 1, MAX_QUEUES);
        int queueSize = integer(props, DeviceConfigKeys.QUEUE_SIZE, 256, 1, MAX_QUEUE_SIZE);
        if (Integer.bitCount(queueSize) != 1) {
            throw new IllegalArgumentException(DeviceConfigKeys.QUEUE_SIZE + ": " + queueSize + " is not a power of two");
        }
        int swapWaitMs = integer(props, DeviceConfigKeys.SWAP_WAIT_MS, 10_000, 0, 3_600_000);
        String filter = string(props, DeviceConfigKeys.BACKEND_TARGET, null);
        if (filter != null && filter.isBlank()) {
            filter = null;
        }
        if (filter != null) {
            try {
                org.osgi.framework.FrameworkUtil.createFilter(filter);
            } catch (org.osgi.framework.InvalidSyntaxException e) {
                throw new IllegalArgumentException(DeviceConfigKeys.BACKEND_TARGET + ": malformed LDAP filter '" + filter + "': "
                        + e.getMessage(), e);
            }
        }
        Map<String, String> options = new TreeMap<>();
        Map<String, Object> driverConfig = new LinkedHashMap<>();
        for (Map.Entry<String, ?> e : props.entrySet()) {
            String key = e.getKey();
            if (key.startsWith(DeviceConfigKeys.OPTION_PREFIX) && key.length() > DeviceConfigKeys.OPTION_PREFIX.length() && e.getValue() != null) {
                options.put(key.substring(DeviceConfigKeys.OPTION_PREFIX.length()), e.getValue().toString());
            }
            if (e.getValue() != null && !key.startsWith("component.") && !key.endsWith(".target")) {
                driverConfig.put(key, e.getValue());
            }
        }
        driverConfig.put(DeviceConfigKeys.QUEUES, queues);
        driverConfig.put(DeviceConfigKeys.QUEUE_SIZE, queueSize);
        driverConfig.put(DeviceConfigKeys.SWAP_WAIT_MS, swapWaitMs);
        driverConfig.put(DeviceConfigKeys.DEVICE_TYPE, deviceType.shortName());
        driverConfig.put(DeviceConfigKeys.BACKEND_TYPE, backendType.id());
        driverConfig.put(DeviceConfigKeys.TARGET, target);
        return new DeviceSettings(id, deviceType, backendType, target, queues, queueSize, filter, options, driverConfig);
    }

    /**
     * The filter DS uses for the {@code backend} reference: the backend type, and-ed with the
     * user's {@code backend.target} when given (unchanged when it already names the type clause).
     */
    public static String backendFilter(String backendType, String userFilter) {
        String typeClause = "(" + com.vhost.api.VhostOps.BACKEND_TYPE + "=" + escape(backendType) + ")";
        if (userFilter == null || userFilter.isBlank()) {
            return typeClause;
        }
        if (userFilter.contains(typeClause)) {
            return userFilter.trim(); // already derived (TargetFilterPlugin ran) or written in full
        }
        return "(&" + typeClause + userFilter.trim() + ")";
    }

    /** The filter DS uses for the {@code factory} reference: the device type. */
    public static String factoryFilter(String deviceType) {
        return "(" + com.vhost.api.registry.VirtioDriverFactory.DEVICE_TYPE + "=" + escape(deviceType) + ")";
    }

    /** Escapes an LDAP filter value (RFC 4515: {@code \ * ( )}). */
    static String escape(String value) {
        StringBuilder sb = new StringBuilder(value.length());
        for (int i = 0; i < value.length(); i++) {
            char c = value.charAt(i);
            if (c == '\\' || c == '*' || c == '(' || c == ')') {
                sb.append('\\');
            }
            sb.append(c);
        }
        return sb.toString();
    }

    private static String string(Map<String, ?> props, String key, String def) {
        Object v = props.get(key);
        if (v == null) {
            return def;
        }
        if (v instanceof String[] arr) {
            if (arr.length != 1) {
                throw new IllegalArgumentException(key + ": expected one value, got " + arr.length);
            }
            return arr[0].trim();
        }
        return v.toString().trim();
    }

    private static int integer(Map<String, ?> props, String key, int def, int min, int max) {
        Object v = props.get(key);
        long value;
        if (v == null) {
            return def;
        } else if (v instanceof Number n) {
            if (v instanceof Double || v instanceof Float) {
                double d = n.doubleValue();
                if (d != Math.rint(d)) {
                    throw new IllegalArgumentException(key + ": '" + v + "' is not a whole number");
                }
            }
            value = n.longValue();
        } else {
            String s = v.toString().trim();
            try {
                value = Long.parseLong(s);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(key + ": '" + s + "' is not a number", e);
            }
        }
        if (value < min || value > max) {
            throw new IllegalArgumentException(key + ": " + value + " is out of range " + min + ".." + max);
        }
        return (int) value;
    }
}
