package com.vhost.cli;

import com.vhost.api.VhostException;
import com.vhost.api.registry.DeviceInfo;
import com.vhost.api.registry.DeviceRegistry;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Operator commands over the {@link DeviceRegistry}, writing to a {@link PrintWriter}: the logic
 * behind the Gogo commands {@code vhost:swap}, {@code vhost:bind} and {@code vhost:stats}
 * ({@link VhostGogoCommands} is a thin shell over it). Each returns 0 on success, 1 after writing
 * an error line that names the device and the reason.
 */
public final class RegistryCommands {
    private RegistryCommands() {}

    /**
     * Moves a running device to a backend service (by name, see {@code vhost:backends}) or to a
     * socket/node path of its current backend type.
     */
    public static int swap(DeviceRegistry registry, String device, String to, PrintWriter out) {
        try {
            out.println(registry.swap(device, to));
            return 0;
        } catch (VhostException | RuntimeException e) {
            out.println("swap " + device + " -> " + to + " failed: " + e.getMessage());
            return 1;
        } finally {
            out.flush();
        }
    }

    /**
     * Pins a device to a named backend service: the same move as {@link #swap}, refused when
     * {@code backend} is not the name of an active backend.
     */
    public static int bind(DeviceRegistry registry, String device, String backend, PrintWriter out) {
        if (registry.backends().stream().noneMatch(b -> b.name().equals(backend))) {
            out.println("bind " + device + " -> " + backend + " failed: no active backend named '" + backend + "' (backends: "
                    + registry.backends().stream().map(b -> b.name()).toList() + ")");
            out.flush();
            return 1;
        }
        return swap(registry, device, backend, out);
    }

    /**
     * One row per device (or the one named): ID, STATUS, BACKEND, REQUESTS, BYTES, SWAPS,
     * LAST PAUSE ms (I/O pause of the last swap), SWITCH ms (requests held), OUTSTANDING.
     */
    public static int stats(DeviceRegistry registry, String device, PrintWriter out) {
        List<DeviceInfo> devices = new ArrayList<>();
        for (DeviceInfo d : registry.devices()) {
            if (device == null || device.isEmpty() || d.id().equals(device)) {
                devices.add(d);
            }
        }
        if (devices.isEmpty()) {
            out.println(device == null || device.isEmpty() ? "no devices configured (factory PID com.vhost.device)"
                    : "no device '" + device + "'");
            out.flush();
            return device == null || device.isEmpty() ? 0 : 1;
        }
        List<String[]> rows = new ArrayList<>();
        rows.add(new String[] {"ID", "STATUS", "BACKEND", "REQUESTS", "BYTES", "SWAPS", "LAST PAUSE ms", "SWITCH ms",
            "OUTSTANDING"});
        for (DeviceInfo d : devices) {
            Map<String, Long> c = registry.counters(d.id());
            rows.add(new String[] {d.id(), d.status().name(), d.backendName() == null ? "-" : d.backendName(),
                num(c, "requests"), Sizes.human(c.getOrDefault("bytes", 0L)), num(c, "swaps"),
                micros(c.getOrDefault("last.pause.us", -1L)), micros(c.getOrDefault("last.switch.us", -1L)),
                num(c, "outstanding")});
        }
        Tables.print(rows, out);
        return 0;
    }

    private static String num(Map<String, Long> c, String key) {
        Long v = c.get(key);
        return v == null ? "-" : Long.toString(v);
    }

    private static String micros(long us) {
        return us < 0 ? "-" : String.format(java.util.Locale.ROOT, "%.2f", us / 1000.0);
    }
}
