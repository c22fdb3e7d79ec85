package com.vhost.integration;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.File;
import java.io.IOException;
import java.io.RandomAccessFile;
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
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarEntry;
import java.util.jar.JarInputStream;
import java.util.jar.JarOutputStream;
import java.util.jar.Manifest;
import java.util.function.Predicate;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code ./vhost daemon} as an operator runs it: the script starts the exported platform, the test
 * drives it over its control socket (JSON-RPC 2.0, a line per request) and through {@code ./vhost
 * rpc}: serve two back-ends on one image, create a blk device on the first, see it bound, hot-swap
 * it to the second (pause_ms), read its counters, delete it and the back-ends; every JSON-RPC
 * error code; garbage, half lines and a client leaving mid-request while the other client goes on;
 * conf/ read by the daemon but not by a one-shot command; SIGTERM stops it and removes its
 * sockets. Every process is stopped by its PID within its time bound.
 */
@Timeout(240)
class DaemonProcessTest {
    static final Path REACTOR = Path.of(System.getProperty("vhost.reactor.dir", "..")).toAbsolutePath().normalize();
    static final ObjectMapper JSON = new ObjectMapper();
    static final long START_S = 90;

    /** A line client of the control socket. */
    static final class Client implements AutoCloseable {
        final SocketChannel ch;
        private final StringBuilder pending = new StringBuilder();
        private int nextId;

        Client(Path socket) throws IOException {
            ch = SocketChannel.open(UnixDomainSocketAddress.of(socket));
        }

        void send(String text) throws IOException {
            ByteBuffer b = ByteBuffer.wrap(text.getBytes(StandardCharsets.UTF_8));
            while (b.hasRemaining()) {
                ch.write(b);
            }
        }

        JsonNode line() throws IOException {
            ByteBuffer in = ByteBuffer.allocate(1 << 16);
            while (pending.indexOf("\n") < 0) {
                in.clear();
                if (ch.read(in) < 0) {
                    throw new IOException("the daemon closed the connection");
                }
                in.flip();
                pending.append(StandardCharsets.UTF_8.decode(in));
            }
            int nl = pending.indexOf("\n");
            String l = pending.substring(0, nl);
            pending.delete(0, nl + 1);
            return JSON.readTree(l);
        }

        /** @return the whole response of {@code method} with {@code params} (a JSON object text) */
        JsonNode call(String method, String params) throws IOException {
            int id = ++nextId;
            send("{\"jsonrpc\":\"2.0\",\"id\":" + id + ",\"method\":\"" + method + "\",\"params\":" + params + "}\n");
            JsonNode r = line();
            assertThat(r.get("id").asInt()).as(r.toString()).isEqualTo(id);
            return r;
        }

        JsonNode result(String method, String params) throws IOException {
            JsonNode r = call(method, params);
            assertThat(r.has("error")).as(method + " " + params + " -> " + r).isFalse();
            return r.get("result");
        }

        @Override
        public void close() throws IOException {
            ch.close();
        }
    }

    record Run(int exit, String out, String err) {}

    /** Runs {@code ./vhost ARGS} to the end (bounded), with {@code env} added. */
    static Run vhost(Path work, Map<String, String> env, String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(REACTOR.resolve("vhost").toString()));
        cmd.addAll(List.of(args));
        Path out = Files.createTempFile(work, "out", ".txt");
        Path err = Files.createTempFile(work, "err", ".txt");
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(err.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        pb.environment().put("JAVA_HOME", System.getProperty("java.home"));
        pb.environment().putAll(env);
        Process p = pb.start();
        if (!p.waitFor(START_S, TimeUnit.SECONDS)) {
            p.toHandle().destroyForcibly();
            p.waitFor(10, TimeUnit.SECONDS);
            throw new AssertionError("vhost " + String.join(" ", args) + " (pid " + p.pid() + ") overran " + START_S + " s: "
                    + Files.readString(err));
        }
        return new Run(p.exitValue(), Files.readString(out), Files.readString(err));
    }

    /**
     * A new build of com.vhost.devices.blk as the reactor built it: the same entries with
     * Bundle-Version {@code version} and, when given, Vhost-Snapshot-Reads {@code reads}.
     */
    static Path bundleBuild(Path work, String version, String reads) throws IOException {
        Path built;
        try (var found = Files.list(REACTOR.resolve("com.vhost.devices.blk/target"))) {
            built = found.filter(f -> f.getFileName().toString().matches("com\\.vhost\\.devices\\.blk-[0-9].*[0-9T]\\.jar")).findFirst()
                    .orElseThrow(() -> new AssertionError("com.vhost.devices.blk/target holds no bundle jar"));
        }
        Path out = work.resolve("blk-" + version + ".jar");
        try (JarInputStream in = new JarInputStream(Files.newInputStream(built))) {
            Manifest mf = new Manifest(in.getManifest());
            mf.getMainAttributes().putValue("Bundle-Version", version);
            if (reads != null) {
                mf.getMainAttributes().putValue("Vhost-Snapshot-Reads", reads);
            }
            try (JarOutputStream jar = new JarOutputStream(Files.newOutputStream(out), mf)) {
                for (JarEntry e = in.getNextJarEntry(); e != null; e = in.getNextJarEntry()) {
                    jar.putNextEntry(new JarEntry(e.getName()));
                    in.transferTo(jar);
                    jar.closeEntry();
                }
            }
        }
        return out;
    }

    /** Waits (bounded) until the daemon logged that its control socket listens. */
    static void awaitListening(Process daemon, Path log, Path sock) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(START_S);
        while (!Files.readString(log).contains("control socket " + sock + " listening")) {
            assertThat(daemon.isAlive()).as(Files.readString(log)).isTrue();
            assertThat(System.nanoTime()).as("the daemon listens within " + START_S + " s: " + Files.readString(log)).isLessThan(deadline);
            Thread.sleep(100);
        }
    }

    static void assertError(JsonNode r, int code, String inMessage) {
        assertThat(r.has("result")).as(r.toString()).isFalse();
        assertThat(r.get("error").get("code").asInt()).as(r.toString()).isEqualTo(code);
        assertThat(r.get("error").get("message").asText()).as(r.toString()).contains(inMessage);
    }

    static JsonNode await(Client c, String method, String params, Predicate<JsonNode> done, long ms) throws Exception {
        long deadline = System.nanoTime() + ms * 1_000_000L;
        JsonNode r;
        do {
            r = c.result(method, params);
            if (done.test(r)) {
                return r;
            }
            Thread.sleep(100);
        } while (System.nanoTime() < deadline);
        throw new AssertionError(method + " did not reach the expected state within " + ms + " ms: " + r);
    }

    @Test
    void theDaemonServesTheControlSocket(@TempDir Path work) throws Exception {
        assertThat(REACTOR.resolve("platform/target/vhost.jar")).as("the platform module exported the jar").exists();
        Path sock = work.resolve("run/control.sock");
        Path conf = Files.createDirectories(work.resolve("conf"));
        Path image = work.resolve("disk.img");
        try (RandomAccessFile f = new RandomAccessFile(image.toFile(), "rw")) {
            f.setLength(16L << 20);
        }
        Path log = work.resolve("daemon.log");
        ProcessBuilder pb = new ProcessBuilder(REACTOR.resolve("vhost").toString(), "daemon", "--control", sock.toString(),
                "--conf", conf.toString(), "--deploy", work.resolve("deploy").toString())
                .redirectErrorStream(true).redirectOutput(log.toFile()).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        pb.environment().put("JAVA_HOME", System.getProperty("java.home"));
        pb.environment().put("VHOST_LOG_LEVEL", "info");
        Process daemon = pb.start();
        try {
            awaitListening(daemon, log, sock);
            assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(sock))).isEqualTo("rw-------");

            try (Client c = new Client(sock); Client other = new Client(sock)) {
                // two back-ends serving one image; a device on the first, hot-swapped to the second
                Path a = work.resolve("a.sock");
                Path b = work.resolve("b.sock");
                assertThat(c.result("backend_serve_blk", "{\"name\":\"a\",\"image\":\"" + image + "\",\"socket\":\"" + a + "\"}")
                        .get("socket").asText()).isEqualTo(a.toString());
                assertThat(other.result("backend_serve_blk", "{\"name\":\"b\",\"image\":\"" + image + "\",\"socket\":\"" + b + "\",\"queues\":1}")
                        .get("name").asText()).isEqualTo("b");
                assertThat(c.result("backend_served_list", "{}")).hasSize(2);
                assertThat(c.result("vhost_backends", "{}").toString()).contains("\"name\":\"user\"", "com.vhost.user");

                JsonNode dev = c.result("device_create", "{\"id\":\"d0\",\"type\":\"blk\",\"backend_type\":\"user\",\"target\":\"" + a + "\"}");
                assertThat(dev.get("status").asText()).as(dev.toString()).isEqualTo("BOUND");
                assertThat(conf.resolve("com.vhost.device-d0.cfg")).as("device_create writes a conf/ file").exists();
                JsonNode list = other.result("device_list", "{}");
                assertThat(list).hasSize(1);
                assertThat(list.get(0).get("id").asText()).isEqualTo("d0");
                assertThat(list.get(0).get("status").asText()).isEqualTo("BOUND");
                assertThat(list.get(0).get("target").asText()).isEqualTo(a.toString());
                assertThat(list.get(0).get("features").asText()).startsWith("0x");

                JsonNode swap = other.result("device_swap", "{\"id\":\"d0\",\"target\":\"" + b + "\"}");
                assertThat(swap.get("from").get("target").asText()).isEqualTo(a.toString());
                assertThat(swap.get("to").get("target").asText()).isEqualTo(b.toString());
                assertThat(swap.get("pause_ms").isNumber()).as(swap.toString()).isTrue();
                assertThat(swap.get("pause_ms").asDouble()).isGreaterThanOrEqualTo(0);
                // a snapshot of the running device, and a restore of it
                Path snap = work.resolve("d0.snap");
                JsonNode taken = c.result("device_snapshot", "{\"id\":\"d0\",\"path\":\"" + snap + "\"}");
                assertThat(taken.get("bytes").asInt()).as(taken.toString()).isPositive().isEqualTo((int) Files.size(snap));
                assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(snap))).isEqualTo("rw-------");
                JsonNode restored = other.result("device_restore", "{\"id\":\"d0\",\"path\":\"" + snap + "\"}");
                assertThat(restored.get("bytes").asInt()).isEqualTo((int) Files.size(snap));
                assertError(c.call("device_restore", "{\"id\":\"d0\",\"path\":\"" + image + "\"}"), -32003, "");
                assertError(c.call("device_restore", "{\"id\":\"d0\",\"path\":\"" + work.resolve("none.snap") + "\"}"), -32602, "cannot read");
                assertError(c.call("device_snapshot", "{\"id\":\"d0\",\"path\":\"/nonexistent/dir/s\"}"), -32602, "does not exist");
                JsonNode stats = c.result("device_stats", "{\"id\":\"d0\"}");
                assertThat(stats.get("swaps").asLong()).as(stats.toString()).isEqualTo(1);
                assertThat(c.result("device_get", "{\"id\":\"d0\"}").get("target").asText()).isEqualTo(b.toString());
                assertThat(c.result("health", "{}").get("status").asText()).isEqualTo("OK");

                // device_bench with verify from one client while the other swaps the device between
                // the two served back-ends over the one image: nothing lost, duplicated or corrupted
                CompletableFuture<JsonNode> verified = CompletableFuture.supplyAsync(() -> {
                    try {
                        return c.result("device_bench", "{\"id\":\"d0\",\"verify\":true,\"seconds\":3,\"bs\":4096,\"iodepth\":4}");
                    } catch (Exception e) {
                        throw new CompletionException(e);
                    }
                });
                for (int i = 0; i < 4; i++) {
                    Thread.sleep(400);
                    JsonNode sw = other.result("device_swap", "{\"id\":\"d0\",\"target\":\"" + (i % 2 == 0 ? a : b) + "\"}");
                    assertThat(sw.get("to").get("target").asText()).isEqualTo((i % 2 == 0 ? a : b).toString());
                }
                JsonNode vr = verified.get(60, TimeUnit.SECONDS);
                assertThat(vr.get("ops").asLong()).as(vr.toString()).isPositive();
                assertThat(vr.get("lost").asLong() + vr.get("duplicated").asLong() + vr.get("corrupted").asLong()).as(vr.toString()).isZero();
                assertThat(c.result("device_stats", "{\"id\":\"d0\"}").get("swaps").asLong()).isEqualTo(5);
                JsonNode plain = c.result("device_bench", "{\"id\":\"d0\",\"rw\":\"randread\",\"seconds\":1,\"iodepth\":8}");
                assertThat(plain.get("iops").asDouble()).as(plain.toString()).isPositive();
                assertThat(plain.get("lat_us").get("p99").asDouble()).as(plain.toString()).isPositive()
                        .isGreaterThanOrEqualTo(plain.get("lat_us").get("p50").asDouble());
                assertThat(plain.get("lost").asLong()).isZero();
                assertError(c.call("device_bench", "{\"id\":\"d0\",\"rw\":\"trim\"}"), -32602, "'rw'");
                assertError(c.call("device_bench", "{\"id\":\"d0\",\"bs\":1000}"), -32602, "block size 1000");

                // bundle_update: a new build of the blk bundle takes over both served back-ends in
                // place (b with the registry's driver of d0 as its front-end, which rebinds); a build
                // that cannot read the models' snapshots, or of another bundle, is refused
                JsonNode upd = c.result("bundle_update", "{\"symbolic_name\":\"com.vhost.devices.blk\",\"path\":\""
                        + bundleBuild(work, "0.1.0.rebuilt", null) + "\"}");
                assertThat(upd.get("to").asText()).as(upd.toString()).isEqualTo("0.1.0.rebuilt");
                assertThat(upd.get("backends")).hasSize(2);
                for (JsonNode be : upd.get("backends")) {
                    assertThat(be.get("result").asText()).as(upd.toString()).isEqualTo("upgraded");
                    assertThat(be.get("pause_ms").asDouble()).as(upd.toString()).isPositive();
                }
                await(c, "device_get", "{\"id\":\"d0\"}", d -> d.get("status").asText().equals("BOUND"), 20_000);
                assertError(c.call("bundle_update", "{\"symbolic_name\":\"com.vhost.devices.blk\",\"path\":\""
                        + bundleBuild(work, "0.2.0", "blk.model:2") + "\"}"), -32000, "reads blk.model:2; 0.1.0.rebuilt keeps serving");
                assertError(c.call("bundle_update", "{\"symbolic_name\":\"com.vhost.devices.net\",\"path\":\""
                        + bundleBuild(work, "0.3.0", null) + "\"}"), -32602, "is a build of 'com.vhost.devices.blk'");
                assertError(c.call("bundle_update", "{\"symbolic_name\":\"com.vhost.devices.blk\",\"path\":\"" + image + "\"}"),
                        -32602, "not a readable jar");
                assertThat(c.result("bundle_list", "{}").toString()).contains("\"symbolic_name\":\"com.vhost.devices.blk\",\"version\":\"0.1.0.rebuilt\"");

                // every JSON-RPC error code, over the socket
                c.send("this is not json\n");
                assertError(c.line(), -32700, "parse error");
                c.send("[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"device_list\"}]\n");
                assertError(c.line(), -32600, "batches");
                assertError(c.call("device_frobnicate", "{}"), -32601, "device_frobnicate");
                assertError(c.call("device_get", "{}"), -32602, "'id'");
                assertError(c.call("device_create", "{\"id\":\"x\",\"type\":\"scsi\",\"backend_type\":\"user\",\"target\":\"/x\"}"), -32602,
                        "'type'");
                assertError(c.call("device_get", "{\"id\":\"nope\"}"), -32001, "no device 'nope'");
                assertError(c.call("backend_serve_blk", "{\"name\":\"a\",\"memory_size\":1048576,\"socket\":\"" + work.resolve("z.sock") + "\"}"),
                        -32002, "already served");
                assertError(c.call("backend_serve_blk", "{\"name\":\"c\",\"memory_size\":1048576,\"socket\":\"" + a + "\"}"), -32003,
                        "in use by another server");
                assertError(c.call("backend_serve_blk", "{\"name\":\"c\",\"image\":\"/dev/null\",\"socket\":\"" + work.resolve("c.sock") + "\"}"),
                        -32000, "/dev/null");

                // garbage, a half line and a client leaving mid-request disturb neither the other client nor the device
                try (Client rude = new Client(sock)) {
                    rude.send("\u0000\u0001\u0002garbage\n{\"jsonrpc\":\"2.0\",\"id\":1,\"meth");
                }
                try (Client leaver = new Client(sock)) {
                    leaver.send("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"device_list\"}\n");
                }
                assertThat(other.result("device_get", "{\"id\":\"d0\"}").get("status").asText()).isEqualTo("BOUND");

                // a net back-end and device; a device whose back-end is missing makes health CRITICAL
                Path n = work.resolve("n.sock");
                c.result("backend_serve_net", "{\"name\":\"n\",\"socket\":\"" + n + "\",\"loopback\":true}");
                JsonNode net = c.result("device_create", "{\"id\":\"n0\",\"type\":\"net\",\"backend_type\":\"user\",\"target\":\"" + n + "\"}");
                assertThat(net.get("status").asText()).as(net.toString()).isEqualTo("BOUND");
                JsonNode echo = c.result("device_bench", "{\"id\":\"n0\",\"seconds\":1}");
                assertThat(echo.get("ops").asLong()).as(echo.toString()).isPositive();
                assertThat(echo.get("lost").asLong() + echo.get("duplicated").asLong() + echo.get("corrupted").asLong()
                        + echo.get("reordered").asLong()).as(echo.toString()).isZero();
                assertError(c.call("backend_serve_net", "{\"name\":\"m\",\"socket\":\"" + work.resolve("m.sock") + "\",\"loopback\":true,\"tap\":\"t0\"}"),
                        -32602, "'loopback'");
                JsonNode lost = c.result("device_create", "{\"id\":\"lost\",\"type\":\"blk\",\"backend_type\":\"user\",\"target\":\""
                        + work.resolve("nobody-serves.sock") + "\"}");
                assertThat(lost.get("status").asText()).as(lost.toString()).isEqualTo("FAILED");
                JsonNode health = c.result("health", "{}");
                assertThat(health.get("status").asText()).as(health.toString()).isEqualTo("CRITICAL");
                assertThat(health.toString()).contains("device lost", "device n0");
                c.result("device_delete", "{\"id\":\"lost\"}");
                c.result("device_delete", "{\"id\":\"n0\"}");
                c.result("backend_served_delete", "{\"name\":\"n\"}");
                assertThat(c.result("health", "{}").get("status").asText()).isEqualTo("OK");

                // a second daemon on the same control socket is refused; the first goes on
                Run second = vhost(work, Map.of(), "daemon", "--control", sock.toString(), "--conf", work.resolve("conf-2").toString(),
                        "--deploy", work.resolve("deploy-2").toString());
                assertThat(second.exit()).as(second.out() + second.err()).isEqualTo(1);
                assertThat(second.err()).contains("control socket " + sock, "is in use by another server");
                assertThat(other.result("device_get", "{\"id\":\"d0\"}").get("status").asText()).isEqualTo("BOUND");

                // vhost rpc end to end: no Felix, exit 0 with JSON, exit 1 with the error
                Run ok = vhost(work, Map.of(), "rpc", "--control", sock.toString(), "device_list");
                assertThat(ok.exit()).as(ok.err()).isZero();
                assertThat(JSON.readTree(ok.out()).get(0).get("id").asText()).isEqualTo("d0");
                Run get = vhost(work, Map.of(), "rpc", "--control", sock.toString(), "device_get", "{\"id\":\"d0\"}");
                assertThat(get.exit()).as(get.err()).isZero();
                assertThat(JSON.readTree(get.out()).get("status").asText()).isEqualTo("BOUND");
                Run bad = vhost(work, Map.of(), "rpc", "--control", sock.toString(), "device_frobnicate");
                assertThat(bad.exit()).isEqualTo(1);
                assertThat(bad.err()).contains("error -32601", "device_frobnicate");
                assertThat(bad.out()).isEmpty();
                Run gone = vhost(work, Map.of(), "rpc", "--control", work.resolve("nobody.sock").toString(), "device_list");
                assertThat(gone.exit()).isEqualTo(1);
                assertThat(gone.err()).contains("cannot reach the daemon", "nobody.sock");

                // conf/: the daemon binds a device configured there; a one-shot command does not
                Path confTarget = work.resolve("conf-target.sock");
                c.result("backend_serve_blk", "{\"name\":\"conf\",\"memory_size\":1048576,\"socket\":\"" + confTarget + "\"}");
                Files.writeString(conf.resolve("com.vhost.device-c0.cfg"), "device.type=blk\nbackend.type=user\ntarget=" + confTarget + "\n");
                await(c, "device_list", "{}", l -> l.toString().contains("\"id\":\"c0\",\"type\":\"blk\",\"status\":\"BOUND\""), 20_000);
                Path oneShotConf = Files.createDirectories(work.resolve("oneshot-conf"));
                Path oneShotTarget = work.resolve("oneshot.sock");
                c.result("backend_serve_blk", "{\"name\":\"oneshot\",\"memory_size\":1048576,\"socket\":\"" + oneShotTarget + "\"}");
                Files.writeString(oneShotConf.resolve("com.vhost.device-o0.cfg"), "device.type=blk\nbackend.type=user\ntarget=" + oneShotTarget + "\n");
                Run backends = vhost(work, Map.of("VHOST_CONF_DIR", oneShotConf.toString(), "VHOST_DEPLOY_DIR", work.resolve("od").toString(),
                        "VHOST_LOG_LEVEL", "info"), "backends");
                assertThat(backends.exit()).as(backends.err()).isZero();
                assertThat(backends.err()).doesNotContain("device o0");
                JsonNode served = c.result("backend_served_list", "{}");
                for (JsonNode s : served) {
                    if (s.get("name").asText().equals("oneshot")) {
                        assertThat(s.get("sessions").asLong()).as("vhost backends connected to a conf/ device's back-end").isZero();
                    }
                }
                Files.delete(conf.resolve("com.vhost.device-c0.cfg"));
                await(c, "device_list", "{}", l -> !l.toString().contains("\"c0\""), 20_000);

                assertThat(c.result("device_delete", "{\"id\":\"d0\"}").get("deleted").asBoolean()).isTrue();
                assertThat(c.result("device_list", "{}")).isEmpty();
                assertError(c.call("device_delete", "{\"id\":\"d0\"}"), -32001, "no device 'd0'");
                assertThat(c.result("backend_served_delete", "{\"name\":\"a\"}").get("deleted").asBoolean()).isTrue();
                assertThat(a).doesNotExist();
                assertError(c.call("backend_served_delete", "{\"name\":\"a\"}"), -32001, "no served back-end named 'a'");
            }

            // a device made over the socket outlives the daemon (its conf/ file)
            try (Client c = new Client(sock)) {
                JsonNode keep = c.result("device_create", "{\"id\":\"keep\",\"type\":\"blk\",\"backend_type\":\"user\",\"target\":\""
                        + work.resolve("nobody-yet.sock") + "\"}");
                assertThat(keep.get("file").asText()).isEqualTo(conf.resolve("com.vhost.device-keep.cfg").toString());
            }

            // SIGTERM: the daemon stops, removing its control socket and the back-ends it served
            daemon.toHandle().destroy();
            assertThat(daemon.waitFor(30, TimeUnit.SECONDS)).as("the daemon stops within 30 s of SIGTERM").isTrue();
            assertThat(sock).doesNotExist();
            assertThat(work.resolve("b.sock")).doesNotExist();

            daemon = pb.start();
            awaitListening(daemon, log, sock);
            try (Client c = new Client(sock)) {
                JsonNode kept = await(c, "device_list", "{}", l -> l.toString().contains("\"id\":\"keep\""), 20_000);
                assertThat(kept).as(kept.toString()).hasSize(1);
                assertThat(c.result("device_delete", "{\"id\":\"keep\"}").get("deleted").asBoolean()).isTrue();
                assertThat(conf.resolve("com.vhost.device-keep.cfg")).doesNotExist();
            }
            daemon.toHandle().destroy();
            assertThat(daemon.waitFor(30, TimeUnit.SECONDS)).as("the restarted daemon stops within 30 s of SIGTERM").isTrue();
        } finally {
            if (daemon.isAlive()) {
                daemon.toHandle().destroyForcibly();
                daemon.waitFor(10, TimeUnit.SECONDS);
            }
        }
    }
}
