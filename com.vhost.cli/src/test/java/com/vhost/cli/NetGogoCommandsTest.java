package com.vhost.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.vhost.api.VhostTarget;
import com.vhost.api.net.NetDevice;
import com.vhost.api.registry.BackendInfo;
import com.vhost.api.registry.DeviceInfo;
import com.vhost.api.registry.DeviceRegistry;
import com.vhost.devices.net.driver.NetDriverOptions;
import com.vhost.devices.net.driver.VirtioNetDriver;
import com.vhost.devices.net.model.LoopbackNetModel;
import com.vhost.user.VhostUserOps;
import com.vhost.user.backend.VhostUserServer;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** net:list, net:stats and net:link over a registry holding one running net device and one blk device. */
class NetGogoCommandsTest {
    @TempDir
    Path dir;

    @Test
    void listStatsLink() throws Exception {
        Path sock = dir.resolve("g.sock");
        try (LoopbackNetModel model = LoopbackNetModel.withDefaults(1); VhostUserServer server = new VhostUserServer(sock, model)) {
            server.start();
            try (VirtioNetDriver net = VirtioNetDriver.open(new VhostUserOps().open(VhostTarget.of(sock.toString())),
                    NetDriverOptions.defaults())) {
                DeviceRegistry reg = new DeviceRegistry() {
                    final List<DeviceInfo> devs = List.of(
                            new DeviceInfo("net0", "net", DeviceInfo.Status.BOUND, "user", sock.toString(), "running"),
                            new DeviceInfo("disk0", "blk", DeviceInfo.Status.WAITING, null, "/x", "no backend"));

                    @Override
                    public List<DeviceInfo> devices() {
                        return devs;
                    }

                    @Override
                    public List<BackendInfo> backends() {
                        return List.of();
                    }

                    @Override
                    public Optional<DeviceInfo> device(String id) {
                        return devs.stream().filter(d -> d.id().equals(id)).findFirst();
                    }

                    @Override
                    public <T> Optional<T> deviceApi(String id, Class<T> type) {
                        return id.equals("net0") && type == NetDevice.class ? Optional.of(type.cast(net)) : Optional.empty();
                    }
                };
                NetGogoCommands cmds = new NetGogoCommands(reg);
                StringWriter text = new StringWriter();
                PrintWriter out = new PrintWriter(text, true);
                cmds.list(out);
                assertThat(text.toString()).contains("net0", "BOUND", "52:54:00:12:34:56", "1500", "up").doesNotContain("disk0");
                cmds.stats("net0", out);
                assertThat(text.toString()).contains("TX-PKTS", "POSTED");
                cmds.link("net0", out);
                assertThat(text.toString()).contains("net0: link up, MAC 52:54:00:12:34:56, MTU 1500");
                assertThatThrownBy(() -> cmds.stats("disk0", out)).hasMessageContaining("of type blk, not net");
                // what the shell gets: the same text to print, and values for scripts
                GogoResult<List<DeviceInfo>> listed = cmds.list();
                assertThat(listed.toString()).contains("net0", "52:54:00:12:34:56").doesNotContain("disk0");
                assertThat(listed.value()).extracting(DeviceInfo::id).containsExactly("net0");
                assertThat(listed.value()).isInstanceOf(java.util.ArrayList.class);
                assertThat(cmds.stats("net0").value()).hasSize(1);
                assertThat(cmds.stats("net0").toString()).contains("TX-PKTS");
                assertThat(cmds.link("net0").value()).isTrue();
                assertThat(cmds.link("net0").toString()).isEqualTo("net0: link up, MAC 52:54:00:12:34:56, MTU 1500");
                assertThatThrownBy(() -> cmds.link("disk0")).hasMessageContaining("of type blk, not net");
                assertThatThrownBy(() -> cmds.link("nope", out)).hasMessageContaining("no device 'nope'");
            }
        }
    }
}
