package com.vhost.cli;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code vhost rpc}: the same client as {@link RpcMain} when it runs inside the framework
 * ({@code java -jar vhost.jar rpc ...}); the {@code vhost} script runs {@link RpcMain} without
 * OSGi instead, which starts in a fraction of the time.
 */
@Command(name = "rpc", mixinStandardHelpOptions = true,
        description = {"Sends one JSON-RPC 2.0 request to a running `vhost daemon` and prints the result as JSON (exit 0) "
                + "or the error (exit 1).",
            "The vhost script runs it without starting the platform."},
        footerHeading = "%nExamples:%n",
        footer = {"  vhost rpc device_list", "  vhost rpc device_get '{\"id\":\"disk0\"}'",
            "  vhost rpc --timeout 2m device_swap '{\"id\":\"disk0\",\"target\":\"/tmp/b.sock\"}'"})
final class RpcCommand implements Callable<Integer> {
    private final CliServices services;

    @Option(names = "--control", paramLabel = "PATH", description = "control socket (default $XDG_RUNTIME_DIR/vhost/control.sock; root: /run/vhost/control.sock)")
    String control;

    @Option(names = "--timeout", paramLabel = "DURATION",
            description = "how long to wait for the reply: 60, 500ms, 2m (a number alone is seconds; default 60)")
    String timeout;

    @Parameters(index = "0", paramLabel = "METHOD", description = "e.g. device_list, device_swap, backend_serve_blk, health")
    String method;

    @Parameters(index = "1", arity = "0..1", paramLabel = "PARAMS_JSON", description = "named parameters as a JSON object (default {})")
    String params;

    RpcCommand(CliServices services) {
        this.services = services;
    }

    @Override
    public Integer call() {
        List<String> all = new ArrayList<>();
        if (control != null) {
            all.addAll(List.of("--control", control));
        }
        if (timeout != null) {
            all.addAll(List.of("--timeout", timeout));
        }
        all.add(method);
        if (params != null) {
            all.add(params);
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = RpcMain.run(all.toArray(String[]::new), new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        services.out().print(out.toString(StandardCharsets.UTF_8));
        services.err().print(err.toString(StandardCharsets.UTF_8));
        return code;
    }
}
