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
            "osgi.command.function=backends"
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
}
