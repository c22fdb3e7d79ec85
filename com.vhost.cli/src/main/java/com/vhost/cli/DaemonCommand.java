package com.vhost.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Dictionary;
import java.util.Hashtable;
import java.util.Map;
import java.util.concurrent.Callable;
import org.osgi.service.cm.Configuration;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code vhost daemon}: the platform as a long-running service driven over a JSON-RPC 2.0 control
 * socket (bundle {@code com.vhost.daemon}): reads {@code conf/}, installs {@code deploy/}, creates
 * the configuration {@value #CONTROL_PID} that activates the control socket, and runs until SIGTERM
 * or SIGINT; then the framework stops, which closes the socket (its file removed), stops every
 * back-end the daemon served and closes every device.
 */
@Command(name = "daemon", mixinStandardHelpOptions = true,
        description = {"Runs the platform until SIGTERM or Ctrl-C, driven over a JSON-RPC 2.0 control socket (see `vhost rpc`).",
            "Reads conf/ (device configurations) and deploy/ (bundles). The socket is mode 0600; a socket a live server "
                    + "answers on is refused, a stale one replaced."},
        footerHeading = "%nExamples:%n",
        footer = {"  vhost daemon --control /run/vhost/control.sock --conf /etc/vhost/conf",
            "  vhost rpc --control /run/vhost/control.sock device_list"})
final class DaemonCommand implements Callable<Integer> {
    /** Configuration PID of the control socket component (com.vhost.daemon's ControlComponent). */
    static final String CONTROL_PID = "com.vhost.daemon.control";
    static final String PATH_PROPERTY = "vhost.control.path";
    static final long START_WAIT_MS = 10_000;

    private final CliServices services;

    @Option(names = "--control", paramLabel = "PATH",
            description = "control socket (default $XDG_RUNTIME_DIR/vhost/control.sock; root: /run/vhost/control.sock)")
    Path control;

    @Option(names = "--conf", paramLabel = "DIR", description = "configuration folder FileInstall watches (default conf/ next to the vhost script)")
    Path conf;

    @Option(names = "--deploy", paramLabel = "DIR", description = "bundle folder FileInstall watches (default deploy/ next to the vhost script)")
    Path deploy;

    @Option(names = "--http", paramLabel = "HOST:PORT",
            description = {"also serve the web console (/system/console, page vhost), /metrics (Prometheus) and /system/health "
                    + "on HOST:PORT (off unless given). A non-loopback HOST needs --http-password-file."})
    String http;

    @Option(names = "--http-password-file", paramLabel = "FILE",
            description = "every HTTP page asks for user and password: the password is FILE's first line (without it, loopback only and open)")
    Path httpPasswordFile;

    @Option(names = "--http-user", paramLabel = "NAME", defaultValue = "admin", description = "the user name with --http-password-file (default ${DEFAULT-VALUE})")
    String httpUser;

    DaemonCommand(CliServices services) {
        this.services = services;
    }

    @Override
    public Integer call() throws Exception {
        HttpEndpoint endpoint = http == null ? null : HttpEndpoint.parse(http, httpPasswordFile);
        if (http == null && httpPasswordFile != null) {
            throw new UsageException("--http-password-file needs --http HOST:PORT");
        }
        if (endpoint != null) {
            try {
                endpoint.checkFree();
            } catch (IllegalStateException e) {
                services.err().println("vhost daemon: " + e.getMessage());
                return VhostCli.EXIT_FAILURE;
            }
        }
        Path socket = (control != null ? control : ControlPath.defaultPath()).toAbsolutePath();
        createPrivateParent(socket);
        services.watchFolders(conf, deploy);
        Configuration cfg = services.configurationAdmin().getConfiguration(CONTROL_PID, "?");
        Dictionary<String, Object> props = new Hashtable<>();
        props.put(PATH_PROPERTY, socket.toString());
        cfg.update(props);
        try {
            Map<String, Object> status = services.awaitControlStatus(socket, START_WAIT_MS);
            if (status == null) {
                services.err().println("vhost daemon: the control socket did not open within " + START_WAIT_MS
                        + " ms: is bundle com.vhost.daemon active?");
                return VhostCli.EXIT_FAILURE;
            }
            if (!"listening".equals(status.get("vhost.control.state"))) {
                services.err().println("vhost daemon: control socket " + socket + ": " + status.get("vhost.control.error"));
                return VhostCli.EXIT_FAILURE;
            }
            services.out().println("vhost daemon: control socket " + socket + " (JSON-RPC 2.0), pid " + ProcessHandle.current().pid());
            if (endpoint != null && !new DaemonWeb(services, endpoint, httpPasswordFile, httpUser).start()) {
                return VhostCli.EXIT_FAILURE;
            }
            services.out().println("stop with SIGTERM or Ctrl-C");
            services.out().flush();
            services.awaitShutdown();
            return 0;
        } finally {
            cfg.delete();
        }
    }

    /** Creates the socket's folder (mode 0700) when it is missing; an existing one is left as it is. */
    private static void createPrivateParent(Path socket) throws IOException {
        Path dir = socket.getParent();
        if (dir != null && !Files.isDirectory(dir)) {
            Files.createDirectories(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        }
    }
}
