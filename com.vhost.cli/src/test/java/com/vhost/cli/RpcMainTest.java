package com.vhost.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The plain {@code vhost rpc} client against a one-shot server on a UNIX socket: the request line
 * it sends, the result printed as JSON with exit 0, an error printed with exit 1, usage exit 2, no
 * daemon exit 1; and {@link MiniJson} both ways.
 */
@Timeout(30)
class RpcMainTest {
    record Result(int exit, String out, String err, String request) {}

    /** Runs the client against a server that answers one line with {@code reply}. */
    static Result run(Path dir, String reply, String... args) throws Exception {
        Path sock = dir.resolve("c.sock");
        AtomicReference<String> request = new AtomicReference<>();
        try (ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            server.bind(UnixDomainSocketAddress.of(sock));
            Thread t = Thread.ofPlatform().start(() -> {
                try (SocketChannel c = server.accept()) {
                    ByteBuffer in = ByteBuffer.allocate(4096);
                    StringBuilder b = new StringBuilder();
                    while (b.indexOf("\n") < 0 && c.read(in) > 0) {
                        in.flip();
                        b.append(StandardCharsets.UTF_8.decode(in));
                        in.clear();
                    }
                    request.set(b.toString());
                    c.write(ByteBuffer.wrap((reply + "\n").getBytes(StandardCharsets.UTF_8)));
                } catch (java.io.IOException e) {
                    request.set("server failed: " + e);
                }
            });
            String[] all = new String[args.length + 2];
            all[0] = "--control";
            all[1] = sock.toString();
            System.arraycopy(args, 0, all, 2, args.length);
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            ByteArrayOutputStream err = new ByteArrayOutputStream();
            int code = RpcMain.run(all, new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
            t.join(10_000);
            return new Result(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8), request.get());
        } finally {
            java.nio.file.Files.deleteIfExists(sock);
        }
    }

    @Test
    void aResultIsPrintedAsJsonWithExit0(@TempDir Path dir) throws Exception {
        Result r = run(dir, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":[{\"id\":\"d0\",\"status\":\"BOUND\",\"pause_ms\":1.5,\"x\":null}]}",
                "device_get", "{\"id\":\n\"d0\"}");
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.request()).isEqualTo("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"device_get\",\"params\":{\"id\": \"d0\"}}\n");
        assertThat(r.out()).isEqualTo("""
                [
                  {
                    "id": "d0",
                    "status": "BOUND",
                    "pause_ms": 1.5,
                    "x": null
                  }
                ]
                """);
    }

    @Test
    void anErrorIsPrintedWithExit1(@TempDir Path dir) throws Exception {
        Result r = run(dir, "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32601,\"message\":\"method not found: 'nope'\"}}", "nope");
        assertThat(r.exit()).isEqualTo(1);
        assertThat(r.out()).isEmpty();
        assertThat(r.err()).isEqualTo("vhost rpc: nope: error -32601: method not found: 'nope'\n");
        assertThat(r.request()).contains("\"params\":{}");
    }

    @Test
    void noDaemonIsExit1AndUsageIsExit2(@TempDir Path dir) {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        PrintStream e = new PrintStream(err, true, StandardCharsets.UTF_8);
        PrintStream o = new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8);
        assertThat(RpcMain.run(new String[] {"--control", dir.resolve("none.sock").toString(), "device_list"}, o, e)).isEqualTo(1);
        assertThat(err.toString(StandardCharsets.UTF_8)).contains("cannot reach the daemon", "none.sock");
        assertThat(RpcMain.run(new String[] {}, o, e)).isEqualTo(2);
        assertThat(RpcMain.run(new String[] {"--bogus", "x"}, o, e)).isEqualTo(2);
        assertThat(RpcMain.run(new String[] {"--timeout", "0", "x"}, o, e)).isEqualTo(2);
    }

    @Test
    void miniJsonParsesAndPrints() {
        Object v = MiniJson.parse(" {\"a\": [1, -2.5e3, true, false, null], \"b\": \"q\\\"\\n\\u00e9\", \"c\": {}} ");
        assertThat(v).isInstanceOf(Map.class);
        Map<?, ?> m = (Map<?, ?>) v;
        assertThat(new java.util.ArrayList<Object>((List<?>) m.get("a"))).containsExactly(new MiniJson.Num("1"), new MiniJson.Num("-2.5e3"), true, false, null);
        assertThat(m.get("b")).isEqualTo("q\"\né");
        assertThat(MiniJson.print(v)).isEqualTo("{\n  \"a\": [\n    1,\n    -2.5e3,\n    true,\n    false,\n    null\n  ],\n"
                + "  \"b\": \"q\\\"\\né\",\n  \"c\": {}\n}");
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> MiniJson.parse("{\"a\":1} x")).hasMessageContaining("offset");
    }
}
