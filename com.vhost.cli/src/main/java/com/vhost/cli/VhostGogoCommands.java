package com.vhost.cli;

import com.vhost.api.registry.BackendInfo;
import com.vhost.api.registry.DeviceInfo;
import com.vhost.api.registry.DeviceRegistry;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.felix.service.command.Descriptor;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;

/**
 * Gogo shell commands in scope {@code vhost}: a thin {@link Descriptor} shell over {@link Tables}
 * and {@link RegistryCommands}. Each returns a {@link GogoResult} (the console prints its text, a
 * script takes its {@code value}); a failed {@code swap}, {@code bind}, {@code stats DEVICE},
 * {@code snapshot} or {@code restore} throws {@link IllegalStateException} with the error line, so
 * that the console shows it and a script stops there (or catches it with {@code try}).
 */
@Component(
        service = VhostGogoCommands.class,
        property = {
            "osgi.command.scope=vhost",
            "osgi.command.function=devices",
            "osgi.command.function=backends",
            "osgi.command.function=swap",
            "osgi.command.function=bind",
            "osgi.command.function=stats",
            "osgi.command.function=snapshot",
            "osgi.command.function=restore"
        })
public final class VhostGogoCommands {
    @Reference
    private DeviceRegistry registry;

    public VhostGogoCommands() {}

    VhostGogoCommands(DeviceRegistry registry) {
        this.registry = registry;
    }

    /** The registry operation behind a command: writes its answer or error line, returns 0 or 1. */
    @FunctionalInterface
    private interface Operation {
        int run(PrintWriter out);
    }

    /**
     * @return the answer {@code op} wrote, as text and value
     * @throws IllegalStateException with the error line when {@code op} failed
     */
    private static GogoResult<String> answer(Operation op) {
        StringWriter sw = new StringWriter();
        int rc;
        try (PrintWriter w = new PrintWriter(sw)) {
            rc = op.run(w);
        }
        String text = sw.toString().strip();
        if (rc != 0) {
            throw new IllegalStateException(text);
        }
        return GogoResult.of(text, w -> w.print(text));
    }

    @Descriptor("lists configured devices with their status, bound backend and detail; value: the DeviceInfo list")
    public GogoResult<List<DeviceInfo>> devices() {
        // ArrayList and LinkedHashMap values: Gogo calls methods on them by reflection, which the
        // JDK's immutable collections (not opened to other modules) refuse
        List<DeviceInfo> devices = new ArrayList<>(registry.devices());
        return GogoResult.of(devices, w -> Tables.devices(devices, w));
    }

    @Descriptor("lists the active VhostOps backends; value: the BackendInfo list")
    public GogoResult<List<BackendInfo>> backends() {
        List<BackendInfo> backends = new ArrayList<>(registry.backends());
        return GogoResult.of(backends, w -> Tables.backends(backends, w));
    }

    @Descriptor("moves a running device to another backend (hot-swap); in-flight requests complete exactly once; fails loudly")
    public GogoResult<String> swap(@Descriptor("device id (see vhost:devices)") String device,
            @Descriptor("backend name (see vhost:backends) or a socket/node path") String to) {
        return answer(out -> RegistryCommands.swap(registry, device, to, out));
    }

    @Descriptor("pins a device to a named backend service (moves it when running); fails loudly")
    public GogoResult<String> bind(@Descriptor("device id") String device,
            @Descriptor("backend name (see vhost:backends)") String backend) {
        return answer(out -> RegistryCommands.bind(registry, device, backend, out));
    }

    @Descriptor("per-device counters: requests, bytes, swaps, last swap pause; value: device id -> counters")
    public GogoResult<Map<String, Map<String, Long>>> stats() {
        Map<String, Map<String, Long>> all = new LinkedHashMap<>();
        for (DeviceInfo d : registry.devices()) {
            all.put(d.id(), new LinkedHashMap<>(registry.counters(d.id())));
        }
        return GogoResult.of(all, w -> RegistryCommands.stats(registry, null, w));
    }

    @Descriptor("counters of one device; value: its counters (requests, bytes, swaps, last.pause.us, ...)")
    public GogoResult<Map<String, Long>> stats(@Descriptor("device id") String device) {
        String table = answer(out -> RegistryCommands.stats(registry, device, out)).toString();
        Map<String, Long> counters = new LinkedHashMap<>(registry.counters(device));
        return GogoResult.of(counters, w -> w.print(table));
    }

    @Descriptor("takes a snapshot of a running device into a file (rings stop and restart in place; nothing is lost)")
    public GogoResult<String> snapshot(@Descriptor("device id") String device, @Descriptor("file to write") String file) {
        return answer(out -> RegistryCommands.snapshot(registry, device, Path.of(file), out));
    }

    @Descriptor("returns a running device to a snapshot file (same device type and geometry)")
    public GogoResult<String> restore(@Descriptor("device id") String device,
            @Descriptor("snapshot file (see vhost:snapshot)") String file) {
        return answer(out -> RegistryCommands.restore(registry, device, Path.of(file), out));
    }
}
