package com.vhost.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.vhost.api.VhostBackendType;
import com.vhost.api.VhostException;
import com.vhost.api.VirtioDeviceException;
import com.vhost.api.registry.BackendInfo;
import com.vhost.api.registry.DeviceInfo;
import com.vhost.api.registry.DeviceRegistry;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** The operator commands behind vhost:swap, vhost:bind and vhost:stats, over a fake registry. */
class RegistryCommandsTest {
    /** Registry with one device d0 bound to "a"; swap to "b" or a path works, anything else is refused. */
    static final class FakeRegistry implements DeviceRegistry {
        final List<String> swaps = new ArrayList<>();

        @Override
        public List<DeviceInfo> devices() {
            return List.of(new DeviceInfo("d0", "blk", DeviceInfo.Status.BOUND, "a", "/tmp/a.sock", "blk 32 MiB"),
                    new DeviceInfo("d1", "blk", DeviceInfo.Status.WAITING, null, "/tmp/x.sock", "no user backend"));
        }

        @Override
        public List<BackendInfo> backends() {
            return List.of(new BackendInfo("a", VhostBackendType.USER, 0, 1, "com.vhost.user"),
                    new BackendInfo("b", VhostBackendType.USER, 10, 2, "other"));
        }

        @Override
        public Optional<DeviceInfo> device(String id) {
            return devices().stream().filter(d -> d.id().equals(id)).findFirst();
        }

        @Override
        public <T> Optional<T> deviceApi(String id, Class<T> type) {
            return Optional.empty();
        }

        @Override
        public String swap(String id, String to) throws VhostException {
            if (!id.equals("d0")) {
                throw new VirtioDeviceException("swap: device " + id + " has no running driver");
            }
            swaps.add(to);
            return "d0 now on " + to + ", switch 3 ms";
        }

        byte[] restored;

        @Override
        public byte[] snapshot(String id) throws VhostException {
            if (!id.equals("d0")) {
                throw new VirtioDeviceException("snapshot: device " + id + " has no running driver");
            }
            return new byte[] {'V', 'B', 'D', 'S', 0, 0, 0, 1};
        }

        @Override
        public String restore(String id, byte[] snapshot) throws VhostException {
            if (snapshot.length < 4 || snapshot[0] != 'V') {
                throw new VirtioDeviceException("restore: not a virtio-blk driver snapshot (magic 0x" + Integer.toHexString(snapshot[0]) + ")");
            }
            restored = snapshot;
            return id + " restored on a";
        }

        @Override
        public Map<String, Long> counters(String id) {
            if (!id.equals("d0")) {
                return Map.of();
            }
            Map<String, Long> m = new LinkedHashMap<>();
            m.put("requests", 1200L);
            m.put("bytes", 4_915_200L);
            m.put("swaps", 3L);
            m.put("last.pause.us", 2500L);
            m.put("last.switch.us", 1750L);
            m.put("outstanding", 0L);
            return m;
        }
    }

    private final FakeRegistry registry = new FakeRegistry();
    private final StringWriter sw = new StringWriter();
    private final PrintWriter out = new PrintWriter(sw);

    @Test
    void swapPrintsTheResultOrTheReason() {
        assertThat(RegistryCommands.swap(registry, "d0", "/tmp/b.sock", out)).isZero();
        assertThat(sw.toString()).isEqualTo("d0 now on /tmp/b.sock, switch 3 ms" + System.lineSeparator());
        sw.getBuffer().setLength(0);
        assertThat(RegistryCommands.swap(registry, "d1", "b", out)).isEqualTo(1);
        assertThat(sw.toString()).startsWith("swap d1 -> b failed: swap: device d1 has no running driver");
    }

    @Test
    void bindAcceptsOnlyActiveBackendNames() {
        assertThat(RegistryCommands.bind(registry, "d0", "b", out)).isZero();
        assertThat(registry.swaps).containsExactly("b");
        sw.getBuffer().setLength(0);
        assertThat(RegistryCommands.bind(registry, "d0", "zz", out)).isEqualTo(1);
        assertThat(sw.toString()).startsWith("bind d0 -> zz failed: no active backend named 'zz' (backends: [a, b])");
        assertThat(registry.swaps).containsExactly("b");
    }

    @Test
    void statsIsATableOfCounters() {
        assertThat(RegistryCommands.stats(registry, null, out)).isZero();
        assertThat(sw.toString().lines()).containsExactly(
                "ID  STATUS   BACKEND  REQUESTS  BYTES    SWAPS  LAST PAUSE ms  SWITCH ms  OUTSTANDING",
                "d0  BOUND    a        1200      4.7 MiB  3      2.50           1.75       0",
                "d1  WAITING  -        -         0 B      -      -              -          -");
        sw.getBuffer().setLength(0);
        assertThat(RegistryCommands.stats(registry, "nope", out)).isEqualTo(1);
        assertThat(sw.toString()).startsWith("no device 'nope'");
    }

    @Test
    void snapshotWritesAFileThatRestoreReadsBack(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
        java.nio.file.Path f = dir.resolve("d0.snap");
        assertThat(RegistryCommands.snapshot(registry, "d0", f, out)).isZero();
        assertThat(sw.toString()).contains("snapshot of d0: 8 bytes written to " + f.toAbsolutePath()).contains("sha256 ");
        assertThat(java.nio.file.Files.readAllBytes(f)).containsExactly('V', 'B', 'D', 'S', 0, 0, 0, 1);
        try (var files = java.nio.file.Files.list(dir)) {
            assertThat(files).as("no temporary file left").containsExactly(f);
        }
        assertThat(RegistryCommands.restore(registry, "d0", f, out)).isZero();
        assertThat(registry.restored).containsExactly('V', 'B', 'D', 'S', 0, 0, 0, 1);
        assertThat(sw.toString()).contains("d0 restored on a");
    }

    @Test
    void snapshotAndRestoreNameWhatWentWrong(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
        assertThat(RegistryCommands.snapshot(registry, "d1", dir.resolve("d1.snap"), out)).isEqualTo(1);
        assertThat(sw.toString()).contains("snapshot d1 -> ").contains("failed: snapshot: device d1 has no running driver");
        assertThat(java.nio.file.Files.exists(dir.resolve("d1.snap"))).isFalse();
        assertThat(RegistryCommands.restore(registry, "d0", dir.resolve("missing.snap"), out)).isEqualTo(1);
        assertThat(sw.toString()).contains("failed: no such file " + dir.resolve("missing.snap"));
        java.nio.file.Path garbage = java.nio.file.Files.write(dir.resolve("garbage.snap"), new byte[] {1, 2, 3, 4});
        assertThat(RegistryCommands.restore(registry, "d0", garbage, out)).isEqualTo(1);
        assertThat(sw.toString()).contains("restore d0 <- " + garbage + " failed: restore: not a virtio-blk driver snapshot");
        assertThat(registry.restored).isNull();
    }
}
