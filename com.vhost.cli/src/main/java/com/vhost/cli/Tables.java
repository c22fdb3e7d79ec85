package com.vhost.cli;

import com.vhost.api.registry.BackendInfo;
import com.vhost.api.registry.DeviceInfo;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;

/** Plain-text tables of the registry's devices and backends, for the Gogo shell and the CLI. */
public final class Tables {
    private Tables() {}

    /** Writes one row per device: ID, TYPE, STATUS, BACKEND, TARGET, DETAIL. */
    public static void devices(List<DeviceInfo> devices, PrintWriter out) {
        if (devices.isEmpty()) {
            out.println("no devices configured (factory PID com.vhost.device)");
            return;
        }
        List<String[]> rows = new ArrayList<>();
        rows.add(new String[] {"ID", "TYPE", "STATUS", "BACKEND", "TARGET", "DETAIL"});
        for (DeviceInfo d : devices) {
            rows.add(new String[] {d.id(), d.deviceType(), d.status().name(), dash(d.backendName()), dash(d.target()),
                dash(d.detail())});
        }
        print(rows, out);
    }

    /** Writes one row per backend: NAME, TYPE, RANKING, SERVICE, BUNDLE. */
    public static void backends(List<BackendInfo> backends, PrintWriter out) {
        if (backends.isEmpty()) {
            out.println("no VhostOps backends registered");
            return;
        }
        List<String[]> rows = new ArrayList<>();
        rows.add(new String[] {"NAME", "TYPE", "RANKING", "SERVICE", "BUNDLE"});
        for (BackendInfo b : backends) {
            rows.add(new String[] {b.name(), b.type().id(), Integer.toString(b.ranking()), Long.toString(b.serviceId()),
                dash(b.bundle())});
        }
        print(rows, out);
    }

    /** Left-aligned columns two spaces apart; the last column is not padded. */
    static void print(List<String[]> rows, PrintWriter out) {
        int cols = rows.get(0).length;
        int[] width = new int[cols];
        for (String[] r : rows) {
            for (int c = 0; c < cols; c++) {
                width[c] = Math.max(width[c], r[c].length());
            }
        }
        StringBuilder sb = new StringBuilder();
        for (String[] r : rows) {
            sb.setLength(0);
            for (int c = 0; c < cols; c++) {
                sb.append(r[c]);
                if (c < cols - 1) {
                    sb.append(" ".repeat(width[c] - r[c].length() + 2));
                }
            }
            out.println(sb.toString().stripTrailing());
        }
        out.flush();
    }

    private static String dash(String s) {
        return s == null || s.isEmpty() ? "-" : s;
    }
}
