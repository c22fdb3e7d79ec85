package com.vhost.cli;

import com.vhost.api.backend.SocketOptions;
import com.vhost.api.net.VirtioNet;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code vhost serve net}. */
@Command(name = "net", mixinStandardHelpOptions = true,
        description = {"Serves a virtio-net device as a vhost-user-net back-end.",
            "--loopback returns every frame the front-end transmits on the receive queue of the same pair; --tap NAME "
                + "writes transmitted frames to a host TAP interface and delivers what the host sends to it.",
            "The socket is private (mode 0600) unless --socket-mode/--socket-group widen it.",
            "Runs until Ctrl-C; the socket is removed on exit and the model's counters printed."},
        footerHeading = "%nExamples:%n",
        footer = {"  vhost serve net --socket /tmp/vun.sock --loopback --queues 2",
            "  vhost serve net --socket /tmp/vun.sock --tap tap0 --socket-group kvm"})
final class ServeNetCommand implements Callable<Integer> {
    private final CliServices services;

    @Mixin
    ServeCommand.Listen listen;

    @ArgGroup(exclusive = true, multiplicity = "1")
    Mode mode;

    static final class Mode {
        @Option(names = "--loopback", description = "loop transmitted frames back on the same pair")
        boolean loopback;

        @Option(names = "--tap", paramLabel = "NAME", description = "bridge to the TAP interface NAME (created if missing; one queue pair)")
        String tap;
    }

    @Option(names = "--queues", paramLabel = "N", defaultValue = "1", description = "queue pairs (default ${DEFAULT-VALUE})")
    int queues;

    @Option(names = "--poll", description = "busy-poll the transmit queues (no kicks; costs a CPU while traffic flows)")
    boolean poll;

    @Option(names = "--mac", paramLabel = "MAC", defaultValue = "52:54:00:12:34:56", description = "MAC in the config space (default ${DEFAULT-VALUE})")
    String mac;

    @Option(names = "--mtu", paramLabel = "BYTES", defaultValue = "1500", description = "MTU in the config space (default ${DEFAULT-VALUE})")
    int mtu;

    ServeNetCommand(CliServices services) {
        this.services = services;
    }

    @Override
    public Integer call() throws Exception {
        if (queues < 1 || queues > 128) {
            throw new UsageException("--queues " + queues + " outside 1..128");
        }
        Checks.queues(queues, listen.queueSize);
        if (mtu < 68 || mtu > 65535) {
            throw new UsageException("--mtu " + mtu + " outside 68.." + 65535 + " (default " + VirtioNet.DEFAULT_MTU + ")");
        }
        if (mode.tap != null && queues != 1) {
            throw new UsageException("--tap serves one queue pair; --queues " + queues + " given");
        }
        SocketOptions access = listen.access();
        NetTools tools = services.netTools();
        try (NetTools.Served served = mode.tap != null
                ? tools.serveTap(listen.socket, access, mode.tap, listen.queueSize, mac, mtu, poll)
                : tools.serveLoopback(listen.socket, access, queues, listen.queueSize, mac, mtu, poll)) {
            try {
                ServeCommand.announceAndAwait(services, served.describe());
            } finally {
                services.out().print(served.counters());
                services.out().flush();
            }
        }
        return 0;
    }
}
