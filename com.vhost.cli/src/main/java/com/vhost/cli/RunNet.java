package com.vhost.cli;

import com.vhost.api.backend.SocketOptions;
import com.vhost.api.net.NetDevice;
import com.vhost.api.net.NetDeviceInfo;
import com.vhost.api.registry.DeviceConfigKeys;
import com.vhost.api.registry.DeviceInfo;
import com.vhost.api.registry.DeviceRegistry;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Dictionary;
import java.util.Hashtable;
import java.util.Locale;
import org.osgi.service.cm.Configuration;

/**
 * The net part of {@code vhost run}: serves the loopback back-end next to the disk, configures a
 * net device bound to it through the registry (Configuration Admin, factory PID
 * {@link DeviceRegistry#DEVICE_FACTORY_PID}, {@code device.type=net}), and shows a short echo
 * exchange ({@code sent N received R lost L reordered O corrupted C}).
 */
final class RunNet {
    static final String DEVICE_NAME = "net0";
    static final int ECHO_FRAMES = 256;

    private RunNet() {}

    /** @return whether the device bound and every frame came back intact and in order */
    static boolean run(CliServices services, Path work, PrintWriter out, long bindTimeoutMs, long unbindTimeoutMs)
            throws Exception {
        Path sock = work.resolve("net-" + ProcessHandle.current().pid() + ".sock");
        try (NetTools.Served served = services.netTools().serveLoopback(sock, SocketOptions.PRIVATE, 1, 256, "52:54:00:12:34:56", 1500, false)) {
            out.println("back-end  " + served.describe());
            Configuration cfg = services.configurationAdmin()
                    .getFactoryConfiguration(DeviceRegistry.DEVICE_FACTORY_PID, DEVICE_NAME, "?");
            Dictionary<String, Object> props = new Hashtable<>();
            props.put(DeviceConfigKeys.DEVICE_TYPE, "net");
            props.put(DeviceConfigKeys.BACKEND_TYPE, "user");
            props.put(DeviceConfigKeys.TARGET, sock.toString());
            props.put(DeviceConfigKeys.QUEUES, 1);
            cfg.update(props);
            try {
                DeviceInfo d = RunCommand.awaitSettled(services.registry(), DEVICE_NAME, bindTimeoutMs);
                if (d == null || d.status() != DeviceInfo.Status.BOUND) {
                    services.err().println("vhost run: device " + DEVICE_NAME + " did not bind: "
                            + (d == null ? "no device component appeared within " + bindTimeoutMs + " ms" : d.status() + " " + d.detail()));
                    return false;
                }
                out.println("device    " + d.id() + " BOUND to backend " + d.backendName() + ": " + d.detail());
                NetDevice net = services.registry().deviceApi(DEVICE_NAME, NetDevice.class)
                        .orElseThrow(() -> new IllegalStateException("device " + DEVICE_NAME + " is bound but offers no NetDevice"));
                NetDeviceInfo i = net.info();
                out.printf(Locale.ROOT, "net       MAC %s, MTU %d, link %s, %d queue pair(s), features 0x%x%n", i.mac(), i.mtu(),
                        net.linkUp() ? "up" : "down", net.queuePairs(), i.features());
                long[] r = NetCommand.echo(net, ECHO_FRAMES, 60, 1514, 32, 1000);
                out.printf(Locale.ROOT, "echo      sent %d received %d lost %d reordered %d corrupted %d%n", r[0], r[1], r[2], r[3],
                        r[4]);
                out.flush();
                return r[0] == ECHO_FRAMES && r[2] == 0 && r[3] == 0 && r[4] == 0;
            } finally {
                cfg.delete();
                RunCommand.awaitGone(services.registry(), DEVICE_NAME, unbindTimeoutMs);
            }
        }
    }
}
