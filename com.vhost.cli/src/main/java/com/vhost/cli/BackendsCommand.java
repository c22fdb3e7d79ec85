package com.vhost.cli;

import com.vhost.api.VhostOps;
import com.vhost.api.VhostTarget;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;

/**
 * {@code vhost backends}: the VhostOps services this platform has (the registry's table), then the
 * kernel and vDPA device nodes present on this host ({@code /dev/vhost-net},
 * {@code /dev/vhost-vdpa-N}) and, for each, whether it is usable or why not (missing module,
 * permission) as the backend's own {@link VhostOps#unusableReason} says.
 */
@Command(name = "backends", mixinStandardHelpOptions = true,
        description = {"Lists the vhost backends (VhostOps services): name, type, ranking, service id, bundle;",
            "then the kernel and vDPA device nodes on this host and whether each is usable."})
final class BackendsCommand implements Callable<Integer> {
    private static final Duration LOOKUP = Duration.ofSeconds(2);

    private final CliServices services;

    BackendsCommand(CliServices services) {
        this.services = services;
    }

    @Override
    public Integer call() throws Exception {
        Tables.backends(services.registry().backends(), services.out());
        services.out().println();
        List<String[]> rows = new ArrayList<>();
        rows.add(new String[] {"NODE", "BACKEND", "STATUS"});
        rows.add(row("kernel", Path.of("/dev/vhost-net")));
        for (Path node : vdpaNodes()) {
            rows.add(row("vdpa", node));
        }
        if (rows.size() == 2 && !Files.exists(Path.of("/dev/vhost-net"))) {
            rows.add(new String[] {"/dev/vhost-vdpa-*", "vdpa", "none present (no vDPA device bound to vhost_vdpa)"});
        }
        Tables.print(rows, services.out());
        return 0;
    }

    private String[] row(String type, Path node) throws InterruptedException {
        VhostOps ops;
        try {
            ops = services.backend(type, LOOKUP);
        } catch (IllegalStateException e) {
            ops = null;
        }
        String status;
        if (ops == null) {
            status = "no '" + type + "' VhostOps service (bundle com.vhost." + type + " not active)";
        } else {
            Optional<String> why = ops.unusableReason(VhostTarget.of(node.toString()));
            status = why.map(w -> "unusable: " + w).orElse("usable");
        }
        return new String[] {node.toString(), type, status};
    }

    private static List<Path> vdpaNodes() {
        List<Path> nodes = new ArrayList<>();
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(Path.of("/dev"), "vhost-vdpa-*")) {
            ds.forEach(nodes::add);
        } catch (IOException e) {
            // /dev unreadable: report none
        }
        nodes.sort(null);
        return nodes;
    }
}
