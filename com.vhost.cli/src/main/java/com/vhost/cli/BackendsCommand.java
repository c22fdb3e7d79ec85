package com.vhost.cli;

import com.vhost.api.VhostOps;
import com.vhost.api.VhostTarget;
import com.vhost.api.registry.BackendInfo;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

/**
 * {@code vhost backends}: the VhostOps services this platform has (the registry's table), then the
 * kernel and vDPA device nodes present on this host ({@code /dev/vhost-net},
 * {@code /dev/vhost-vdpa-N}) and, for each, whether it is usable or why not (missing module,
 * permission) as the backend's own {@link VhostOps#unusableReason} says.
 */
@Command(name = "backends", mixinStandardHelpOptions = true,
        description = {"Lists the vhost back-ends (VhostOps services) and the kernel and vDPA device nodes on this host, "
            + "saying whether each node is usable.",
            "Each service is shown with its name, type, ranking, service id and bundle."},
        footerHeading = "%nExamples:%n",
        footer = {"  vhost backends", "  vhost backends --json"})
final class BackendsCommand implements Callable<Integer> {
    private static final Duration LOOKUP = Duration.ofSeconds(2);

    private final CliServices services;

    @Mixin
    JsonOption json = new JsonOption();

    BackendsCommand(CliServices services) {
        this.services = services;
    }

    @Override
    public Integer call() throws Exception {
        List<BackendInfo> backends = services.registry().backends();
        List<String[]> rows = new ArrayList<>();
        rows.add(new String[] {"NODE", "BACKEND", "STATUS"});
        rows.add(row("kernel", Path.of("/dev/vhost-net")));
        for (Path node : vdpaNodes()) {
            rows.add(row("vdpa", node));
        }
        if (json.json) {
            JsonOption.print(services.out(), document(backends, rows.subList(1, rows.size())));
            return 0;
        }
        Tables.backends(backends, services.out());
        services.out().println();
        if (rows.size() == 2 && !Files.exists(Path.of("/dev/vhost-net"))) {
            rows.add(new String[] {"/dev/vhost-vdpa-*", "vdpa", "none present (no vDPA device bound to vhost_vdpa)"});
        }
        Tables.print(rows, services.out());
        return 0;
    }

    /**
     * @return {@code {"backends": [{name, type, ranking, service_id, bundle}], "nodes": [{node,
     *     backend, usable, status}]}} for {@code --json}
     */
    private static Map<String, Object> document(List<BackendInfo> backends, List<String[]> nodes) {
        List<Object> bs = new ArrayList<>();
        for (BackendInfo b : backends) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("name", b.name());
            m.put("type", b.type().id());
            m.put("ranking", b.ranking());
            m.put("service_id", b.serviceId());
            m.put("bundle", b.bundle());
            bs.add(m);
        }
        List<Object> ns = new ArrayList<>();
        for (String[] r : nodes) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("node", r[0]);
            m.put("backend", r[1]);
            m.put("usable", r[2].equals("usable"));
            m.put("status", r[2]);
            ns.add(m);
        }
        Map<String, Object> doc = new LinkedHashMap<>();
        doc.put("backends", bs);
        doc.put("nodes", ns);
        return doc;
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
