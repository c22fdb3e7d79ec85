package com.vhost.cli;

import com.vhost.api.VhostException;
import com.vhost.api.registry.DeviceInfo;
import com.vhost.api.registry.DeviceRegistry;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Operator commands over the {@link DeviceRegistry}, writing to a {@link PrintWriter}: the logic
 * behind the Gogo commands {@code vhost:swap}, {@code vhost:bind}, {@code vhost:stats},
 * {@code vhost:snapshot} and {@code vhost:restore}
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

    /** Largest snapshot file {@link #restore} reads, 16 MiB (a driver snapshot is a few KiB). */
    static final long MAX_SNAPSHOT_BYTES = 16L << 20;

    /**
     * Takes a snapshot of a running device (its rings stop and restart in place; requests in
     * flight complete once) and writes it to {@code file} (through a temporary file in the same
     * folder, then an atomic move, so a failure never leaves half a snapshot).
     */
    public static int snapshot(DeviceRegistry registry, String device, Path file, PrintWriter out) {
        try {
            byte[] s = registry.snapshot(device);
            Path abs = file.toAbsolutePath();
            Path parent = abs.getParent();
            Path tmp = Files.createTempFile(parent, abs.getFileName().toString(), ".part");
            try {
                Files.write(tmp, s);
                Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            } finally {
                Files.deleteIfExists(tmp);
            }
            out.println("snapshot of " + device + ": " + s.length + " bytes written to " + abs + " (sha256 "
                    + sha256(s).substring(0, 16) + ")");
            return 0;
        } catch (IOException | RuntimeException e) {
            out.println("snapshot " + device + " -> " + file + " failed: " + describe(e));
            return 1;
        } finally {
            out.flush();
        }
    }

    /**
     * Reads a snapshot written by {@link #snapshot} and returns the running device to it; a
     * snapshot of another device type or geometry is refused and the device keeps running.
     */
    public static int restore(DeviceRegistry registry, String device, Path file, PrintWriter out) {
        try {
            long size = Files.size(file);
            if (size > MAX_SNAPSHOT_BYTES) {
                out.println("restore " + device + " <- " + file + " failed: " + size + " bytes is larger than a snapshot can be ("
                        + MAX_SNAPSHOT_BYTES + ")");
                return 1;
            }
            out.println(registry.restore(device, Files.readAllBytes(file)));
            return 0;
        } catch (IOException | RuntimeException e) {
            out.println("restore " + device + " <- " + file + " failed: " + describe(e));
            return 1;
        } finally {
            out.flush();
        }
    }

    private static String describe(Exception e) {
        if (e instanceof java.nio.file.NoSuchFileException n) {
            return "no such file " + n.getFile();
        }
        if (e instanceof java.nio.file.AccessDeniedException a) {
            return "permission denied: " + a.getFile();
        }
        return e.getMessage() != null ? e.getMessage() : e.toString();
    }

    private static String sha256(byte[] b) {
        try {
            return java.util.HexFormat.of().formatHex(java.security.MessageDigest.getInstance("SHA-256").digest(b));
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
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
