package com.vhost.daemon;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.vhost.api.VhostBackendType;
import com.vhost.api.VhostException;
import com.vhost.api.VirtioDeviceException;
import com.vhost.api.daemon.DaemonView;
import com.vhost.api.daemon.HealthResult;
import com.vhost.api.registry.BackendInfo;
import com.vhost.api.registry.DeviceInfo;
import com.vhost.api.registry.DeviceRegistry;
import com.vhost.daemon.rpc.JsonRpc;
import com.vhost.daemon.rpc.RpcException;
import java.lang.reflect.Proxy;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.osgi.framework.Bundle;
import org.osgi.framework.BundleContext;
import org.osgi.service.cm.ConfigurationAdmin;

/**
 * The methods over a fake registry (no framework): device_list, device_get, device_stats,
 * device_swap (from, to, pause_ms), vhost_backends, health (worst check wins), and the errors of
 * unknown devices and served back-ends and of bad parameters.
 */
class PlatformMethodsTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** d0 BOUND on a.sock, d1 WAITING; a swap moves d0 and records a pause. */
    static final class FakeRegistry implements DeviceRegistry {
        final List<DeviceInfo> devices = new ArrayList<>(List.of(
                new DeviceInfo("d0", "blk", DeviceInfo.Status.BOUND, "user", "/tmp/a.sock", "blk 16 MiB"),
                new DeviceInfo("d1", "net", DeviceInfo.Status.WAITING, null, "/tmp/n.sock", "no user backend")));
        final Map<String, Long> counters = new HashMap<>(Map.of("swaps", 0L, "last.pause.us", -1L, "last.switch.us", -1L));

        @Override
        public List<DeviceInfo> devices() {
            return List.copyOf(devices);
        }

        @Override
        public List<BackendInfo> backends() {
            return List.of(new BackendInfo("user", VhostBackendType.USER, 0, 7, "com.vhost.user"));
        }

        @Override
        public Optional<DeviceInfo> device(String id) {
            return devices.stream().filter(d -> d.id().equals(id)).findFirst();
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
            devices.set(0, new DeviceInfo("d0", "blk", DeviceInfo.Status.BOUND, "user", to, "blk 16 MiB"));
            counters.put("swaps", 1L);
            counters.put("last.pause.us", 4200L);
            counters.put("last.switch.us", 5100L);
            return "d0 now on user (" + to + "), switch 5 ms";
        }

        @Override
        public Map<String, Long> counters(String id) {
            return device(id).isPresent() ? Map.copyOf(counters) : Map.of();
        }
    }

    final FakeRegistry registry = new FakeRegistry();
    final JsonRpc rpc;
    final DaemonView view;

    PlatformMethodsTest() {
        ConfigurationAdmin cm = (ConfigurationAdmin) Proxy.newProxyInstance(getClass().getClassLoader(),
                new Class<?>[] {ConfigurationAdmin.class}, (p, m, a) -> null); // no configurations
        BundleContext context = (BundleContext) Proxy.newProxyInstance(getClass().getClassLoader(), new Class<?>[] {BundleContext.class},
                (p, m, a) -> m.getName().equals("getBundles") ? new Bundle[0] : null);
        ServedBackends served = new ServedBackends(() -> null, type -> null);
        DeviceMethods devices = new DeviceMethods(registry, cm, null);
        Health health = new Health(registry, served, context);
        rpc = new JsonRpc(new PlatformMethods(registry, served, devices, context, health, new BundleUpdates(context, () -> null, served)).methods());
        view = new DaemonViewService(served, health, devices);
    }

    JsonNode call(String method, String params) throws Exception {
        return JSON.readTree(rpc.handle("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"" + method + "\",\"params\":" + params + "}"));
    }

    JsonNode result(String method, String params) throws Exception {
        JsonNode r = call(method, params);
        assertThat(r.has("error")).as(r.toString()).isFalse();
        return r.get("result");
    }

    static void assertError(JsonNode r, int code, String inMessage) {
        assertThat(r.get("error").get("code").asInt()).as(r.toString()).isEqualTo(code);
        assertThat(r.get("error").get("message").asText()).contains(inMessage);
    }

    @Test
    void bundleUpdateRefusesWhatIsNotABuildOfAnInstalledBundle(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
        assertError(call("bundle_update", "{\"symbolic_name\":\"com.vhost.devices.blk\"}"), RpcException.INVALID_PARAMS,
                "missing parameter 'path'");
        assertError(call("bundle_update", "{\"symbolic_name\":\"b\",\"path\":\"" + dir.resolve("none.jar") + "\"}"),
                RpcException.INVALID_PARAMS, "is not a file");
        java.nio.file.Path text = java.nio.file.Files.writeString(dir.resolve("text.jar"), "not a jar");
        assertError(call("bundle_update", "{\"symbolic_name\":\"b\",\"path\":\"" + text + "\"}"), RpcException.INVALID_PARAMS,
                "not a readable jar");
        java.util.jar.Manifest mf = new java.util.jar.Manifest();
        mf.getMainAttributes().putValue("Manifest-Version", "1.0");
        mf.getMainAttributes().putValue("Bundle-SymbolicName", "com.example.model;singleton:=true");
        java.nio.file.Path jar = dir.resolve("model.jar");
        new java.util.jar.JarOutputStream(java.nio.file.Files.newOutputStream(jar), mf).close();
        assertError(call("bundle_update", "{\"symbolic_name\":\"other\",\"path\":\"" + jar + "\"}"), RpcException.INVALID_PARAMS,
                "is a build of 'com.example.model', not of 'other'");
        assertError(call("bundle_update", "{\"symbolic_name\":\"com.example.model\",\"path\":\"" + jar + "\"}"), RpcException.NOT_FOUND,
                "no bundle 'com.example.model' is installed");
    }

    @Test
    void devicesAreListedAndGot() throws Exception {
        JsonNode l = result("device_list", "{}");
        assertThat(l).hasSize(2);
        assertThat(l.get(0).get("id").asText()).isEqualTo("d0");
        assertThat(l.get(0).get("status").asText()).isEqualTo("BOUND");
        assertThat(l.get(0).get("backend").asText()).isEqualTo("user");
        assertThat(l.get(1).get("backend").isNull()).isTrue();
        assertThat(result("device_get", "{\"id\":\"d0\"}").get("counters").get("swaps").asLong()).isZero();
        assertThat(result("device_stats", "{\"id\":\"d0\"}").has("last.pause.us")).isTrue();
        assertError(call("device_get", "{\"id\":\"zz\"}"), RpcException.NOT_FOUND, "no device 'zz'");
        assertError(call("device_get", "{\"id\":\"a b\"}"), RpcException.INVALID_PARAMS, "parameter 'id'");
        assertError(call("device_list", "{\"all\":true}"), RpcException.INVALID_PARAMS, "unknown parameter 'all'");
    }

    @Test
    void aSwapReportsFromToAndThePause() throws Exception {
        JsonNode s = result("device_swap", "{\"id\":\"d0\",\"target\":\"/tmp/b.sock\"}");
        assertThat(s.get("from").get("target").asText()).isEqualTo("/tmp/a.sock");
        assertThat(s.get("to").get("target").asText()).isEqualTo("/tmp/b.sock");
        assertThat(s.get("pause_ms").asDouble()).isEqualTo(4.2);
        assertThat(s.get("pause_measured").asBoolean()).isTrue();
        assertThat(s.get("switch_ms").asDouble()).isEqualTo(5.1);
        assertError(call("device_swap", "{\"id\":\"d1\",\"target\":\"/tmp/b.sock\"}"), RpcException.BACKEND_FAILED, "no running driver");
        assertError(call("device_swap", "{\"id\":\"d0\"}"), RpcException.INVALID_PARAMS, "missing parameter 'target'");
        assertError(call("device_swap", "{\"id\":\"d0\",\"target\":\"x\",\"backend_type\":\"floppy\"}"), RpcException.INVALID_PARAMS,
                "'backend_type'");
    }

    @Test
    void healthIsTheWorstCheck() throws Exception {
        JsonNode h = result("health", "{}");
        assertThat(h.get("status").asText()).isEqualTo("WARN");
        assertThat(h.get("checks")).hasSize(2);
        registry.devices.add(new DeviceInfo("d2", "blk", DeviceInfo.Status.FAILED, null, "/tmp/gone.sock", "connect refused"));
        h = result("health", "{}");
        assertThat(h.get("status").asText()).isEqualTo("CRITICAL");
        assertThat(h.get("checks").get(2).get("message").asText()).contains("FAILED", "/tmp/gone.sock", "connect refused");
        registry.devices.subList(1, 3).clear();
        assertThat(result("health", "{}").get("status").asText()).isEqualTo("OK");
    }

    @Test
    void backendsAndServedBackEnds() throws Exception {
        JsonNode b = result("vhost_backends", "{}");
        assertThat(b.get(0).get("name").asText()).isEqualTo("user");
        assertThat(b.get(0).get("type").asText()).isEqualTo("user");
        assertThat(b.get(0).get("bundle").asText()).isEqualTo("com.vhost.user");
        assertThat(result("backend_served_list", "{}")).isEmpty();
        assertError(call("backend_served_delete", "{\"name\":\"x\"}"), RpcException.NOT_FOUND, "no served back-end named 'x'");
        assertError(call("backend_serve_blk", "{\"name\":\"x\",\"socket\":\"/tmp/x.sock\"}"), RpcException.INVALID_PARAMS,
                "exactly one of parameters 'image' and 'memory_size'");
        assertError(call("backend_serve_blk", "{\"name\":\"x\",\"socket\":\"/tmp/x.sock\",\"memory_size\":1000}"), RpcException.INVALID_PARAMS,
                "not a multiple of 512");
        assertError(call("backend_serve_blk", "{\"name\":\"x\",\"socket\":\"/tmp/x.sock\",\"memory_size\":1048576}"),
                RpcException.OPERATION_FAILED, "no blk device model factory");
        assertThat(result("backend_served_list", "{}")).as("a failed serve leaves no entry").isEmpty();
        assertError(call("backend_serve_net", "{\"name\":\"n\",\"socket\":\"/tmp/n.sock\",\"tap\":\"t0\",\"queues\":2}"),
                RpcException.INVALID_PARAMS, "'queues'");
    }

    @Test
    void aDetachedDeviceIsCriticalAndALongSwapPauseWarns() throws Exception {
        registry.devices.remove(1);
        registry.counters.put("detached", 1L);
        registry.devices.set(0, new DeviceInfo("d0", "blk", DeviceInfo.Status.WAITING, null, "/tmp/a.sock", "detached from user"));
        assertThat(result("health", "{}").get("status").asText()).isEqualTo("CRITICAL");
        assertThat(view.deviceHealth("d0").orElseThrow().status()).isEqualTo(HealthResult.Status.CRITICAL);
        registry.counters.put("detached", 0L);
        registry.devices.set(0, new DeviceInfo("d0", "blk", DeviceInfo.Status.BOUND, "user", "/tmp/a.sock", "blk"));
        registry.counters.put("last.pause.us", (DaemonView.SWAP_PAUSE_LIMIT_MS + 1) * 1000);
        HealthResult h = view.deviceHealth("d0").orElseThrow();
        assertThat(h.status()).isEqualTo(HealthResult.Status.WARN);
        assertThat(h.message()).contains("the last swap paused I/O " + (DaemonView.SWAP_PAUSE_LIMIT_MS + 1) + " ms");
        assertThat(result("health", "{}").get("status").asText()).as("the method and the view agree").isEqualTo("WARN");
        assertThat(view.health()).hasSize(1);
        assertThat(view.deviceHealth("zz")).isEmpty();
        assertThat(view.servedHealth("x")).isEmpty();
    }

    @Test
    void theViewSwapsAsTheMethodDoes() throws Exception {
        Map<String, Object> r = view.swap("d0", "/tmp/b.sock", null);
        assertThat(r.get("to")).isEqualTo(Map.of("backend", "user", "target", "/tmp/b.sock"));
        assertThat(r.get("pause_ms")).isEqualTo(4.2);
        assertThatThrownBy(() -> view.swap("zz", "/tmp/b.sock", "")).isInstanceOf(java.util.NoSuchElementException.class)
                .hasMessageContaining("no device 'zz'");
        assertThatThrownBy(() -> view.swap("d0", "/tmp/b.sock", "floppy")).isInstanceOf(IllegalArgumentException.class);
        assertThat(view.servedBackends()).isEmpty();
    }

    /** A RESOLVED bundle at {@code level} with the given symbolic name; a framework (id 0) at start level 20. */
    static Bundle bundle(long id, String name, int state, int level) {
        return (Bundle) Proxy.newProxyInstance(Bundle.class.getClassLoader(), new Class<?>[] {Bundle.class}, (p, m, a) -> switch (m.getName()) {
            case "getBundleId" -> id;
            case "getSymbolicName" -> name;
            case "getState" -> state;
            case "getVersion" -> org.osgi.framework.Version.emptyVersion;
            case "getHeaders" -> new java.util.Hashtable<String, String>();
            case "adapt" -> a[0] == org.osgi.framework.startlevel.FrameworkStartLevel.class
                    ? Proxy.newProxyInstance(Bundle.class.getClassLoader(), new Class<?>[] {org.osgi.framework.startlevel.FrameworkStartLevel.class},
                            (p2, m2, a2) -> m2.getName().equals("getStartLevel") ? 20 : null)
                    : a[0] == org.osgi.framework.startlevel.BundleStartLevel.class
                            ? Proxy.newProxyInstance(Bundle.class.getClassLoader(), new Class<?>[] {org.osgi.framework.startlevel.BundleStartLevel.class},
                                    (p2, m2, a2) -> m2.getName().equals("getStartLevel") ? level : null)
                            : null;
            default -> null;
        });
    }

    @Test
    void aBundleNotActiveWarnsOnlyWhenItsStartLevelIsReached() {
        Bundle system = bundle(0, "org.apache.felix.framework", Bundle.ACTIVE, 0);
        Bundle stopped = bundle(5, "com.vhost.kernel", Bundle.RESOLVED, 10);
        Bundle web = bundle(9, "com.vhost.web", Bundle.RESOLVED, 30);
        BundleContext context = (BundleContext) Proxy.newProxyInstance(getClass().getClassLoader(), new Class<?>[] {BundleContext.class},
                (p, m, a) -> switch (m.getName()) {
                    case "getBundles" -> new Bundle[] {system, stopped, web};
                    case "getBundle" -> system;
                    default -> null;
                });
        registry.devices.clear();
        List<HealthResult> checks = new Health(registry, new ServedBackends(() -> null, type -> null), context).all();
        assertThat(checks).containsExactly(new HealthResult("bundle com.vhost.kernel", HealthResult.Status.WARN, "state RESOLVED"));
    }
}
