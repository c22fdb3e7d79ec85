package com.vhost.cli;

import com.vhost.api.registry.DeviceRegistry;
import java.io.PrintWriter;
import org.apache.felix.service.command.Descriptor;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;

/**
 * Gogo shell commands in scope {@code vhost}: a thin {@link Descriptor} shell over {@link Tables}.
 * Gogo redirects {@code System.out} per session, so the tables go to the session's console.
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

    @Descriptor("lists configured devices with their status, bound backend and detail")
    public void devices() {
        PrintWriter out = new PrintWriter(System.out);
        Tables.devices(registry.devices(), out);
        out.flush();
    }

    @Descriptor("lists the active VhostOps backends")
    public void backends() {
        PrintWriter out = new PrintWriter(System.out);
        Tables.backends(registry.backends(), out);
        out.flush();
    }

    @Descriptor("moves a running device to another backend (hot-swap); in-flight requests complete exactly once")
    public void swap(@Descriptor("device id (see vhost:devices)") String device,
            @Descriptor("backend name (see vhost:backends) or a socket/node path") String to) {
        PrintWriter out = new PrintWriter(System.out);
        RegistryCommands.swap(registry, device, to, out);
    }

    @Descriptor("pins a device to a named backend service (moves it when running)")
    public void bind(@Descriptor("device id") String device, @Descriptor("backend name (see vhost:backends)") String backend) {
        PrintWriter out = new PrintWriter(System.out);
        RegistryCommands.bind(registry, device, backend, out);
    }

    @Descriptor("per-device counters: requests, bytes, swaps, last swap pause")
    public void stats() {
        PrintWriter out = new PrintWriter(System.out);
        RegistryCommands.stats(registry, null, out);
    }

    @Descriptor("counters of one device")
    public void stats(@Descriptor("device id") String device) {
        PrintWriter out = new PrintWriter(System.out);
        RegistryCommands.stats(registry, device, out);
    }

    @Descriptor("takes a snapshot of a running device into a file (rings stop and restart in place; nothing is lost)")
    public void snapshot(@Descriptor("device id") String device, @Descriptor("file to write") String file) {
        PrintWriter out = new PrintWriter(System.out);
        RegistryCommands.snapshot(registry, device, java.nio.file.Path.of(file), out);
    }

    @Descriptor("returns a running device to a snapshot file (same device type and geometry)")
    public void restore(@Descriptor("device id") String device, @Descriptor("snapshot file (see vhost:snapshot)") String file) {
        PrintWriter out = new PrintWriter(System.out);
        RegistryCommands.restore(registry, device, java.nio.file.Path.of(file), out);
    }
}
