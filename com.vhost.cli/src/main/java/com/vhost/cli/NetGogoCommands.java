package com.vhost.cli;

import com.vhost.api.net.NetDevice;
import com.vhost.api.net.NetDeviceInfo;
import com.vhost.api.net.NetQueueStats;
import com.vhost.api.registry.DeviceInfo;
import com.vhost.api.registry.DeviceRegistry;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import org.apache.felix.service.command.Descriptor;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;

/**
 * Gogo shell commands in scope {@code net} over the registry's virtio-net devices (type
 * {@code net}): {@code net:list}, {@code net:stats ID}, {@code net:link ID}. Each returns a
 * {@link GogoResult}: the console prints its text, a script takes its {@code value}; an unknown
 * device or one of another type throws.
 */
@Component(
        service = NetGogoCommands.class,
        property = {
            "osgi.command.scope=net",
            "osgi.command.function=list",
            "osgi.command.function=stats",
            "osgi.command.function=link"
        })
public final class NetGogoCommands {
    @Reference
    private DeviceRegistry registry;

    public NetGogoCommands() {}

    NetGogoCommands(DeviceRegistry registry) {
        this.registry = registry;
    }

    @Descriptor("lists the virtio-net devices: id, status, MAC, MTU, queue pairs, link, backend; value: their DeviceInfo list")
    public GogoResult<List<DeviceInfo>> list() {
        List<DeviceInfo> net = new ArrayList<>(registry.devices().stream().filter(d -> "net".equals(d.deviceType())).toList());
        return GogoResult.of(net, this::list);
    }

    void list(PrintWriter out) {
        out.printf(Locale.ROOT, "%-16s %-8s %-17s %5s %5s %4s  %s%n", "ID", "STATUS", "MAC", "MTU", "PAIRS", "LINK", "BACKEND");
        for (DeviceInfo d : registry.devices()) {
            if (!"net".equals(d.deviceType())) {
                continue;
            }
            Optional<NetDevice> net = registry.deviceApi(d.id(), NetDevice.class);
            if (net.isPresent()) {
                NetDeviceInfo i = net.get().info();
                out.printf(Locale.ROOT, "%-16s %-8s %-17s %5d %2d/%-2d %4s  %s%n", d.id(), d.status(), i.mac(), i.mtu(),
                        net.get().queuePairs(), i.maxQueuePairs(), net.get().linkUp() ? "up" : "down", i.backend());
            } else {
                out.printf(Locale.ROOT, "%-16s %-8s %-17s %5s %5s %4s  %s%n", d.id(), d.status(), "-", "-", "-", "-",
                        d.detail() == null ? "" : d.detail());
            }
        }
    }

    @Descriptor("prints the per-queue-pair counters of a virtio-net device; value: one NetQueueStats per pair")
    public GogoResult<List<NetQueueStats>> stats(@Descriptor("device id") String id) {
        NetDevice net = device(id);
        List<NetQueueStats> pairs = new ArrayList<>();
        for (int p = 0; p < net.info().maxQueuePairs(); p++) {
            pairs.add(net.stats(p));
        }
        return GogoResult.of(pairs, w -> stats(id, w));
    }

    void stats(String id, PrintWriter out) {
        NetDevice net = device(id);
        out.printf(Locale.ROOT, "%4s %12s %14s %8s %8s %12s %14s %8s %6s%n", "PAIR", "TX-PKTS", "TX-BYTES", "TX-FULL", "TX-ERR",
                "RX-PKTS", "RX-BYTES", "RX-ERR", "POSTED");
        for (int p = 0; p < net.info().maxQueuePairs(); p++) {
            NetQueueStats s = net.stats(p);
            out.printf(Locale.ROOT, "%4d %12d %14d %8d %8d %12d %14d %8d %6d%n", p, s.txPackets(), s.txBytes(), s.txFull(),
                    s.txErrors(), s.rxPackets(), s.rxBytes(), s.rxErrors(), s.rxBuffersPosted());
        }
    }

    @Descriptor("prints whether the link of a virtio-net device is up; value: true when up")
    public GogoResult<Boolean> link(@Descriptor("device id") String id) {
        boolean up = device(id).linkUp();
        return GogoResult.of(up, w -> link(id, w));
    }

    void link(String id, PrintWriter out) {
        NetDevice net = device(id);
        out.printf(Locale.ROOT, "%s: link %s, MAC %s, MTU %d%n", id, net.linkUp() ? "up" : "down", net.info().mac(), net.mtu());
    }

    private NetDevice device(String id) {
        DeviceInfo d = registry.device(id).orElseThrow(() -> new IllegalArgumentException("no device '" + id + "'"));
        if (!"net".equals(d.deviceType())) {
            throw new IllegalArgumentException("device '" + id + "' is of type " + d.deviceType() + ", not net");
        }
        return registry.deviceApi(id, NetDevice.class)
                .orElseThrow(() -> new IllegalStateException("net device '" + id + "' is " + d.status() + ": " + d.detail()));
    }
}
