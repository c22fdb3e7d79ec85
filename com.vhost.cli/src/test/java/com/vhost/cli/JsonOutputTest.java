package com.vhost.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.vhost.api.VhostBackendType;
import com.vhost.api.VhostOps;
import com.vhost.api.registry.BackendInfo;
import com.vhost.api.registry.DeviceRegistry;
import com.vhost.devices.net.model.LoopbackNetModel;
import com.vhost.user.VhostUserOps;
import com.vhost.user.backend.VhostUserServer;
import java.lang.reflect.Proxy;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code --json}: standard output is exactly one JSON document (read back with Jackson, trailing
 * text refused) whose fields hold what the text report says; the job lines go to standard error.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class JsonOutputTest {
    private static final ObjectMapper JSON = new ObjectMapper().enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    @TempDir
    Path dir;

    /** Runs {@code args}, expects exit code {@code code} and returns standard output as JSON. */
    private static JsonNode run(CapturingServices services, int code, String... args) throws Exception {
        services.outText.getBuffer().setLength(0);
        services.errText.getBuffer().setLength(0);
        assertThat(VhostCli.execute(services, args)).as(services.errText.toString()).isEqualTo(code);
        return JSON.readTree(services.outText.toString());
    }

    @Test
    void blkInfoBenchAndBackends() throws Exception {
        FakeServices services = new FakeServices() {
            @Override
            public DeviceRegistry registry() {
                return (DeviceRegistry) Proxy.newProxyInstance(DeviceRegistry.class.getClassLoader(), new Class<?>[] {DeviceRegistry.class},
                        (p, m, a) -> m.getName().equals("backends")
                                ? List.of(new BackendInfo("vhost-user", VhostBackendType.USER, 0, 42, "com.vhost.user")) : null);
            }
        };
        JsonNode info = run(services, 0, "blk", "info", "--socket", "/s", "--queues", "2", "--json");
        assertThat(info.get("capacity_bytes").asLong()).isEqualTo(1 << 20);
        assertThat(info.get("block_size").asInt()).isEqualTo(512);
        assertThat(info.get("queues").asInt()).isEqualTo(2);
        assertThat(info.get("queue_size").asInt()).isEqualTo(256);
        assertThat(info.get("features").asLong()).isEqualTo(0x100000240L);
        assertThat(info.get("feature_names")).extracting(JsonNode::asText).containsExactly("BLK_SIZE", "FLUSH", "VERSION_1");
        assertThat(info.get("id").asText()).isEqualTo("memdisk");
        assertThat(info.has("seg_max")).isTrue();
        assertThat(info.has("id_error")).as("GET_ID answered").isFalse();

        JsonNode bench = run(services, 0, "blk", "bench", "--socket", "/s", "--rw", "randwrite", "--iodepth", "4", "--seconds", "1",
                "--json");
        assertThat(services.errText.toString()).contains("bench randwrite bs=4096 iodepth=4", "using the BlockDevice API");
        assertThat(bench.get("job").get("rw").asText()).isEqualTo("randwrite");
        assertThat(bench.get("job").get("engine").asText()).as("the engine that ran").isEqualTo("api");
        assertThat(bench.get("ops").asLong()).isPositive();
        assertThat(bench.get("bytes").asLong()).isEqualTo(bench.get("ops").asLong() * 4096);
        assertThat(bench.get("iops").asDouble()).isPositive();
        assertThat(bench.get("cpu_s").asDouble()).as("the CPU time the run cost this process").isPositive();
        JsonNode lat = bench.get("latency");
        assertThat(lat.get("count").asLong()).isEqualTo(bench.get("ops").asLong());
        assertThat(lat.get("p50_ns").asLong()).isPositive().isLessThanOrEqualTo(lat.get("p99_ns").asLong());
        assertThat(lat.get("p99_ns").asLong()).isLessThanOrEqualTo(lat.get("p99_9_ns").asLong());
        assertThat(lat.get("p99_9_ns").asLong()).isLessThanOrEqualTo(lat.get("max_ns").asLong());
        assertThat(bench.get("errors").asLong()).isZero();
        assertThat(bench.get("first_error").isNull()).isTrue();

        JsonNode backends = run(services, 0, "backends", "--json");
        assertThat(backends.get("backends").get(0).get("name").asText()).isEqualTo("vhost-user");
        assertThat(backends.get("backends").get(0).get("service_id").asLong()).isEqualTo(42);
        assertThat(backends.get("nodes").get(0).get("node").asText()).isEqualTo("/dev/vhost-net");
        assertThat(backends.get("nodes").get(0).get("usable").asBoolean()).isTrue();
    }

    @Test
    void blkVerifyOverVhostUser() throws Exception {
        CapturingServices services = CapturingServices.overVhostUser();
        Path socket = dir.resolve("mem.sock");
        try (BlkTools.Served served = services.blkTools().serveMemory(socket, com.vhost.api.backend.SocketOptions.PRIVATE, 8L << 20, 1,
                256)) {
            JsonNode v = run(services, 0, "blk", "verify", "--socket", socket.toString(), "--seconds", "1", "--region", "4M", "--json");
            assertThat(v.get("writes").asLong()).isPositive();
            assertThat(v.get("lost").asLong()).isZero();
            assertThat(v.get("duplicated").asLong()).isZero();
            assertThat(v.get("corrupted").asLong()).isZero();
            assertThat(v.get("clean").asBoolean()).isTrue();
            assertThat(services.errText.toString()).contains("verify 1 s", "1 s: ");
        }
    }

    @Test
    void netInfoEchoBenchAndSwap() throws Exception {
        CapturingServices services = new CapturingServices() {
            @Override
            public VhostOps backend(String type, Duration wait) {
                return new VhostUserOps();
            }
        };
        Path sock = dir.resolve("net.sock");
        try (LoopbackNetModel model = LoopbackNetModel.withDefaults(1); VhostUserServer server = new VhostUserServer(sock, model)) {
            server.start();
            JsonNode info = run(services, 0, "net", "info", "--socket", sock.toString(), "--json");
            assertThat(info.get("mac").asText()).isEqualTo("52:54:00:12:34:56");
            assertThat(info.get("mtu").asInt()).isEqualTo(1500);
            assertThat(info.get("link_up").asBoolean()).isTrue();

            JsonNode echo = run(services, 0, "net", "echo", "--socket", sock.toString(), "--count", "200", "--json");
            assertThat(echo.get("sent").asLong()).isEqualTo(200);
            assertThat(echo.get("received").asLong()).isEqualTo(200);
            assertThat(echo.get("ok").asBoolean()).isTrue();

            JsonNode bench = run(services, 0, "net", "bench", "--socket", sock.toString(), "--seconds", "0.3", "--json");
            assertThat(bench.get("mode").asText()).isEqualTo("echo");
            assertThat(bench.get("packets").asLong()).isPositive();
            assertThat(bench.get("mpps").asDouble()).isPositive();
            assertThat(bench.get("drops").asLong()).isZero();
        }
        JsonNode swap = run(services, 0, "bench", "swap", "--type", "net", "--swaps", "3", "--warmup", "1", "--json");
        assertThat(swap.get("swaps").asLong()).isEqualTo(3);
        assertThat(swap.get("pause").get("p50_ns").asLong()).isPositive();
        assertThat(swap.get("warmup_pause").get("count").asLong()).isEqualTo(1);
        assertThat(swap.get("first_pause_ns").asLong()).as("the warm-up swap's, the JVM's first (exact; the histogram's max is its bucket's bound)")
                .isPositive().isLessThanOrEqualTo(swap.get("warmup_pause_max_ns").asLong());
        assertThat(swap.get("duplicated").asLong()).isZero();
        assertThat(services.errText.toString()).contains("bench swap: 3 swaps of a net device");
    }
}
