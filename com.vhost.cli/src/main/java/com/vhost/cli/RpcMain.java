package com.vhost.cli;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;

/**
 * {@code vhost rpc [--control PATH] METHOD [PARAMS_JSON]}: one JSON-RPC 2.0 request to the
 * daemon's control socket. Plain Java (the JDK's AF_UNIX {@link SocketChannel}, {@link MiniJson}),
 * no OSGi: the {@code vhost} script runs this class straight from the CLI bundle's jar, so a call
 * takes a JVM start and one round trip. Prints the result as indented JSON on stdout and exits 0;
 * prints {@code vhost rpc: METHOD: error CODE: MESSAGE} on stderr and exits 1 for a JSON-RPC
 * error, a socket that does not answer or a reply that does not come within {@code --timeout}
 * (a duration, {@link Durations}); exits 2 on a usage error.
 */
public final class RpcMain {
    /** How long to wait for the reply by default (device_create and device_delete wait up to 10 s). */
    static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(60);
    private static final String USAGE = """
            Usage: vhost rpc [--control PATH] [--timeout DURATION] METHOD [PARAMS_JSON]
            Sends one JSON-RPC 2.0 request to a running `vhost daemon` and prints the result as JSON.
              --control PATH     control socket (default $XDG_RUNTIME_DIR/vhost/control.sock; root: /run/vhost/control.sock)
              --timeout DURATION how long to wait for the reply: 60, 500ms, 2m (a number alone is seconds; default 60)
              METHOD             e.g. device_list, device_get, device_swap, backend_serve_blk, health
              PARAMS_JSON        named parameters as a JSON object, e.g. '{"id":"disk0"}' (default {})
            Exit: 0 result printed, 1 error printed (JSON-RPC error, no daemon), 2 usage.""";

    private RpcMain() {}

    /** Runs the client and exits with its code. */
    public static void main(String[] args) {
        int code = run(args, System.out, System.err);
        System.out.flush();
        System.exit(code);
    }

    /**
     * Runs one request.
     *
     * @return 0 when a result was printed, 1 on an error (printed), 2 on a usage error
     */
    public static int run(String[] args, PrintStream out, PrintStream err) {
        Path control = null;
        String method = null;
        String params = null;
        Duration timeout = DEFAULT_TIMEOUT;
        for (int k = 0; k < args.length; k++) {
            String a = args[k];
            if (a.equals("-h") || a.equals("--help")) {
                out.println(USAGE);
                return 0;
            } else if ((a.equals("--control") || a.equals("--timeout")) && k + 1 < args.length) {
                String v = args[++k];
                if (a.equals("--control")) {
                    control = Path.of(v);
                } else {
                    try {
                        timeout = Durations.parse(v, false);
                    } catch (IllegalArgumentException e) {
                        err.println("vhost rpc: --timeout " + e.getMessage());
                        return 2;
                    }
                    if (timeout.toMillis() < 1) {
                        err.println("vhost rpc: --timeout '" + v + "' is not positive");
                        return 2;
                    }
                }
            } else if (a.startsWith("--control=")) {
                control = Path.of(a.substring("--control=".length()));
            } else if (a.startsWith("-") && method == null) {
                err.println("vhost rpc: unknown or incomplete option '" + a + "'\n" + USAGE);
                return 2;
            } else if (method == null) {
                method = a;
            } else if (params == null) {
                params = a;
            } else {
                err.println("vhost rpc: unexpected argument '" + a + "'\n" + USAGE);
                return 2;
            }
        }
        if (method == null) {
            err.println("vhost rpc: missing METHOD\n" + USAGE);
            return 2;
        }
        if (control == null) {
            control = ControlPath.defaultPath();
        }
        String request = request(method, params);
        String reply;
        try {
            reply = exchange(control, request, timeout);
        } catch (IOException e) {
            err.println("vhost rpc: " + method + ": cannot reach the daemon at " + control + ": " + e.getMessage()
                    + " (is `vhost daemon` running? --control PATH names its socket)");
            return 1;
        }
        Object parsed;
        try {
            parsed = MiniJson.parse(reply);
        } catch (IllegalArgumentException e) {
            err.println("vhost rpc: " + method + ": the daemon's reply is not JSON (" + e.getMessage() + "): " + reply);
            return 1;
        }
        if (parsed instanceof Map<?, ?> m && m.containsKey("result")) {
            out.println(MiniJson.print(m.get("result")));
            return 0;
        }
        if (parsed instanceof Map<?, ?> m && m.get("error") instanceof Map<?, ?> e) {
            Object code = e.get("code");
            err.println("vhost rpc: " + method + ": error " + (code instanceof MiniJson.Num n ? n.text() : code) + ": " + e.get("message"));
            return 1;
        }
        err.println("vhost rpc: " + method + ": a reply with neither result nor error: " + reply);
        return 1;
    }

    /** @return the request line (no newline): {@code params} is sent as given, its line breaks made spaces */
    static String request(String method, String params) {
        StringBuilder b = new StringBuilder("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":");
        MiniJson.quote(b, method);
        String p = params == null || params.isBlank() ? "{}" : params.replace('\n', ' ').replace('\r', ' ');
        return b.append(",\"params\":").append(p).append('}').toString();
    }

    /** Sends {@code request} and a newline; @return the first line of the reply */
    private static String exchange(Path control, String request, Duration timeout) throws IOException {
        Thread watchdog = Thread.ofPlatform().daemon().start(() -> {
            try {
                Thread.sleep(timeout);
            } catch (InterruptedException e) {
                return;
            }
            System.err.println("vhost rpc: no reply from " + control + " within " + Durations.human(timeout));
            Runtime.getRuntime().halt(1);
        });
        try (SocketChannel ch = SocketChannel.open(UnixDomainSocketAddress.of(control))) {
            ByteBuffer out = ByteBuffer.wrap((request + "\n").getBytes(StandardCharsets.UTF_8));
            while (out.hasRemaining()) {
                ch.write(out);
            }
            ByteArrayOutputStream reply = new ByteArrayOutputStream();
            ByteBuffer in = ByteBuffer.allocate(64 * 1024);
            while (true) {
                in.clear();
                int n = ch.read(in);
                if (n < 0) {
                    throw new IOException("the daemon closed the connection without a reply");
                }
                for (int k = 0; k < n; k++) {
                    byte b = in.get(k);
                    if (b == '\n') {
                        return reply.toString(StandardCharsets.UTF_8);
                    }
                    reply.write(b);
                }
            }
        } finally {
            watchdog.interrupt();
        }
    }
}
