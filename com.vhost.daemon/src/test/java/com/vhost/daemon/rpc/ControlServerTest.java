package com.vhost.daemon.rpc;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.vhost.spi.nativeio.UnixServer;
import java.io.IOException;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The control socket with real clients: one line in, one line out; garbage, a half line, a line
 * over the 1 MiB limit and a client that leaves mid-request, while another client's requests go
 * on answering; the socket file's mode and removal.
 */
@Timeout(60)
class ControlServerTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** A line-oriented client of the control socket. */
    static final class Client implements AutoCloseable {
        final SocketChannel ch;
        private final ByteBuffer in = ByteBuffer.allocate(1 << 16);
        private final StringBuilder pending = new StringBuilder();

        Client(Path socket) throws IOException {
            ch = SocketChannel.open(UnixDomainSocketAddress.of(socket));
            in.flip();
        }

        void send(String text) throws IOException {
            ByteBuffer b = ByteBuffer.wrap(text.getBytes(StandardCharsets.UTF_8));
            while (b.hasRemaining()) {
                ch.write(b);
            }
        }

        String readLine() throws IOException {
            while (true) {
                int nl = pending.indexOf("\n");
                if (nl >= 0) {
                    String line = pending.substring(0, nl);
                    pending.delete(0, nl + 1);
                    return line;
                }
                in.clear();
                int n = ch.read(in);
                if (n < 0) {
                    return null;
                }
                in.flip();
                pending.append(StandardCharsets.UTF_8.decode(in));
            }
        }

        JsonNode call(String line) throws IOException {
            send(line + "\n");
            return JSON.readTree(readLine());
        }

        @Override
        public void close() throws IOException {
            ch.close();
        }
    }

    static JsonRpc rpc(AtomicLong calls) {
        return new JsonRpc(Map.of("ping", p -> Map.of("n", calls.incrementAndGet()), "slow", p -> {
            Thread.sleep(300);
            return "done";
        }));
    }

    @Test
    void garbageHalfLinesHugeLinesAndLeavingClientsDisturbNoOne(@TempDir Path dir) throws Exception {
        Path sock = dir.resolve("control.sock");
        AtomicLong calls = new AtomicLong();
        try (ControlServer server = new ControlServer(UnixServer.listen(sock), rpc(calls))) {
            assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(sock))).isEqualTo("rw-------");
            AtomicBoolean stop = new AtomicBoolean();
            ExecutorService pool = Executors.newFixedThreadPool(2);
            try {
                // A well-behaved client keeps calling throughout and every answer must come.
                Future<Integer> steady = pool.submit(() -> {
                    int answered = 0;
                    try (Client c = new Client(sock)) {
                        while (!stop.get()) {
                            JsonNode n = c.call("{\"jsonrpc\":\"2.0\",\"id\":" + answered + ",\"method\":\"ping\"}");
                            assertThat(n.get("id").asInt()).isEqualTo(answered);
                            assertThat(n.get("result").get("n").asLong()).isPositive();
                            answered++;
                        }
                    }
                    return answered;
                });
                try (Client g = new Client(sock)) {
                    JsonNode n = g.call("\u0000\u0001 this is not json {{{");
                    assertThat(n.get("error").get("code").asInt()).isEqualTo(RpcException.PARSE_ERROR);
                    // the same connection goes on
                    assertThat(g.call("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}").has("result")).isTrue();
                }
                try (Client half = new Client(sock)) {
                    half.send("{\"jsonrpc\":\"2.0\",\"id\":1,\"meth"); // and leaves
                }
                try (Client huge = new Client(sock)) {
                    byte[] big = new byte[ControlServer.MAX_LINE_BYTES + 4096];
                    java.util.Arrays.fill(big, (byte) 'x');
                    huge.send(new String(big, StandardCharsets.US_ASCII) + "\n");
                    JsonNode n = JSON.readTree(huge.readLine());
                    assertThat(n.get("error").get("code").asInt()).isEqualTo(RpcException.INVALID_REQUEST);
                    assertThat(n.get("error").get("message").asText()).contains("longer than " + ControlServer.MAX_LINE_BYTES + " bytes");
                    // the connection survives the discarded line
                    assertThat(huge.call("{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"ping\"}").get("id").asInt()).isEqualTo(9);
                }
                try (Client leaver = new Client(sock)) {
                    leaver.send("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"slow\"}\n"); // leaves before the answer
                }
                List<Client> many = new ArrayList<>();
                try {
                    for (int i = 0; i < 10; i++) {
                        many.add(new Client(sock));
                    }
                    for (Client c : many) {
                        c.send("{\"jsonrpc\":\"2.0\",\"id\":\"m\",\"method\":\"ping\"}\n");
                    }
                    for (Client c : many) {
                        assertThat(JSON.readTree(c.readLine()).get("id").asText()).isEqualTo("m");
                    }
                } finally {
                    for (Client c : many) {
                        c.close();
                    }
                }
                Thread.sleep(400); // the leaver's slow call has finished meanwhile
                stop.set(true);
                assertThat(steady.get(20, TimeUnit.SECONDS)).isPositive();
            } finally {
                stop.set(true);
                pool.shutdownNow();
                assertThat(pool.awaitTermination(10, TimeUnit.SECONDS)).isTrue();
            }
        }
        assertThat(sock).doesNotExist();
    }

    @Test
    void aLineLeftUnfinishedClosesOnlyThatConnection(@TempDir Path dir) throws Exception {
        Path sock = dir.resolve("control.sock");
        try (ControlServer server = new ControlServer(UnixServer.listen(sock), rpc(new AtomicLong()), 1_500);
                Client stalled = new Client(sock); Client other = new Client(sock)) {
            stalled.send("{\"jsonrpc\":\"2.0\",\"id\":1,");
            long t0 = System.nanoTime();
            JsonNode n = JSON.readTree(stalled.readLine());
            assertThat(n.get("error").get("code").asInt()).isEqualTo(RpcException.INVALID_REQUEST);
            assertThat(n.get("error").get("message").asText()).contains("no newline within 1500 ms");
            assertThat(stalled.readLine()).as("the stalled connection is closed").isNull();
            assertThat(System.nanoTime() - t0).isLessThan(TimeUnit.SECONDS.toNanos(10));
            assertThat(other.call("{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}").get("id").asInt()).isEqualTo(2);
        }
    }

    @Test
    void aLiveControlSocketIsRefusedAndAStaleOneReplaced(@TempDir Path dir) throws Exception {
        Path sock = dir.resolve("control.sock");
        AtomicLong calls = new AtomicLong();
        try (ControlServer first = new ControlServer(UnixServer.listen(sock), rpc(calls))) {
            org.assertj.core.api.Assertions.assertThatThrownBy(() -> UnixServer.listen(sock))
                    .hasMessageContaining("is in use by another server");
            try (Client c = new Client(sock)) {
                assertThat(c.call("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}").has("result")).isTrue();
            }
        }
        // a stale socket file (its server gone without removing it) is replaced
        try (java.nio.channels.ServerSocketChannel stale = java.nio.channels.ServerSocketChannel.open(java.net.StandardProtocolFamily.UNIX)) {
            stale.bind(UnixDomainSocketAddress.of(sock));
        }
        assertThat(sock).exists();
        try (ControlServer second = new ControlServer(UnixServer.listen(sock), rpc(calls)); Client c = new Client(sock)) {
            assertThat(c.call("{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}").get("id").asInt()).isEqualTo(2);
        }
    }
}
