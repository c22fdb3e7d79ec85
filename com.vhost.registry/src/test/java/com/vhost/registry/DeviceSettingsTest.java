package com.vhost.registry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.vhost.api.VhostBackendType;
import com.vhost.api.virtio.VirtioDeviceType;
import java.util.Dictionary;
import java.util.HashMap;
import java.util.Hashtable;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Validation of device configurations and the derived DS reference targets. */
class DeviceSettingsTest {
    private static Map<String, Object> config(Object... kv) {
        Map<String, Object> m = new HashMap<>();
        m.put("service.pid", "com.vhost.device~disk0");
        m.put("target", "/tmp/vub.sock");
        for (int i = 0; i < kv.length; i += 2) {
            m.put((String) kv[i], kv[i + 1]);
        }
        return m;
    }

    @Test
    void defaultsAndNormalisedDriverConfig() {
        DeviceSettings s = DeviceSettings.parse(config("option.mode", "server", "component.id", 7L, "backend.target", "(a=b)"));
        assertThat(s.id()).isEqualTo("disk0");
        assertThat(s.deviceType()).isEqualTo(VirtioDeviceType.BLOCK);
        assertThat(s.backendType()).isEqualTo(VhostBackendType.USER);
        assertThat(s.queues()).isEqualTo(1);
        assertThat(s.queueSize()).isEqualTo(256);
        assertThat(s.vhostTarget().path()).isEqualTo("/tmp/vub.sock");
        assertThat(s.vhostTarget().option("mode", "client")).isEqualTo("server");
        assertThat(s.driverConfig()).containsEntry("queues", 1).containsEntry("queue.size", 256)
                .containsEntry("device.type", "blk").doesNotContainKeys("component.id", "backend.target");
    }

    @Test
    void numbersMayBeStringsOrNumbers() {
        DeviceSettings s = DeviceSettings.parse(config("queues", "4", "queue.size", 1024L, "backend.type", "KERNEL",
                "device.type", "net"));
        assertThat(s.queues()).isEqualTo(4);
        assertThat(s.queueSize()).isEqualTo(1024);
        assertThat(s.backendType()).isEqualTo(VhostBackendType.KERNEL);
        assertThat(s.deviceType()).isEqualTo(VirtioDeviceType.NET);
    }

    @Test
    void badValuesNameThePropertyAndTheValue() {
        assertThatThrownBy(() -> DeviceSettings.parse(config("queue.size", 100)))
                .hasMessage("queue.size: 100 is not a power of two");
        assertThatThrownBy(() -> DeviceSettings.parse(config("queues", "two")))
                .hasMessage("queues: 'two' is not a number");
        assertThatThrownBy(() -> DeviceSettings.parse(config("queues", 0)))
                .hasMessage("queues: 0 is out of range 1..65535");
        assertThatThrownBy(() -> DeviceSettings.parse(config("queues", 1.5)))
                .hasMessage("queues: '1.5' is not a whole number");
        assertThatThrownBy(() -> DeviceSettings.parse(config("backend.type", "floppy")))
                .hasMessageStartingWith("backend.type: unknown vhost backend type 'floppy'");
        assertThatThrownBy(() -> DeviceSettings.parse(config("device.type", "gpu")))
                .hasMessage("device.type: unknown device type 'gpu' (expected blk or net)");
        assertThatThrownBy(() -> DeviceSettings.parse(config("target", " ")))
                .hasMessageStartingWith("target: missing");
        assertThatThrownBy(() -> DeviceSettings.parse(config("backend.target", "(broken")))
                .hasMessageStartingWith("backend.target: malformed LDAP filter '(broken'");
        assertThatThrownBy(() -> DeviceSettings.parse(config("target", new String[] {"a", "b"})))
                .hasMessage("target: expected one value, got 2");
    }

    @Test
    void idComesFromTheFactoryConfigurationName() {
        assertThat(DeviceSettings.idOf(Map.of("service.pid", "com.vhost.device~a~b"))).isEqualTo("b");
        assertThat(DeviceSettings.idOf(Map.of("service.pid", "com.vhost.device.1234"))).isEqualTo("com.vhost.device.1234");
        assertThat(DeviceSettings.idOf(Map.of())).isEqualTo("unnamed");
    }

    @Test
    void filtersEscapeValues() {
        assertThat(DeviceSettings.backendFilter("user", null)).isEqualTo("(vhost.backend.type=user)");
        assertThat(DeviceSettings.backendFilter("user", "(vhost.backend.name=u2)"))
                .isEqualTo("(&(vhost.backend.type=user)(vhost.backend.name=u2))");
        assertThat(DeviceSettings.backendFilter("user", "(&(vhost.backend.type=user)(x=1))"))
                .isEqualTo("(&(vhost.backend.type=user)(x=1))");
        assertThat(DeviceSettings.factoryFilter("b(l)k*")).isEqualTo("(vhost.device.type=b\\(l\\)k\\*)");
    }

    @Test
    void pluginDerivesTargetsOnlyForDeviceConfigurations() {
        Dictionary<String, Object> d = new Hashtable<>();
        d.put("service.factoryPid", "com.vhost.device");
        d.put("backend.type", "kernel");
        d.put("device.type", "blk");
        new TargetFilterPlugin().modifyConfiguration(null, d);
        assertThat(d.get("backend.target")).isEqualTo("(vhost.backend.type=kernel)");
        assertThat(d.get("factory.target")).isEqualTo("(vhost.device.type=blk)");

        Dictionary<String, Object> user = new Hashtable<>();
        user.put("service.factoryPid", "com.vhost.device");
        user.put("backend.target", "(vhost.backend.name=user-2)");
        user.put("factory.target", "(x=y)");
        new TargetFilterPlugin().modifyConfiguration(null, user);
        assertThat(user.get("backend.target")).isEqualTo("(&(vhost.backend.type=user)(vhost.backend.name=user-2))");
        assertThat(user.get("factory.target")).isEqualTo("(x=y)");
        // Applying twice changes nothing.
        new TargetFilterPlugin().modifyConfiguration(null, user);
        assertThat(user.get("backend.target")).isEqualTo("(&(vhost.backend.type=user)(vhost.backend.name=user-2))");

        Dictionary<String, Object> broken = new Hashtable<>();
        broken.put("service.factoryPid", "com.vhost.device");
        broken.put("backend.target", "(oops");
        new TargetFilterPlugin().modifyConfiguration(null, broken);
        assertThat(broken.get("backend.target")).isEqualTo("(vhost.backend.type=user)");

        Dictionary<String, Object> other = new Hashtable<>();
        other.put("service.factoryPid", "something.else");
        new TargetFilterPlugin().modifyConfiguration(null, other);
        assertThat(other.get("backend.target")).isNull();
    }
}
