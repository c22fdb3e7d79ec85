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
}
