package com.vhost.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.vhost.api.registry.BackendInfo;
import com.vhost.api.registry.DeviceInfo;
import java.io.ByteArrayInputStream;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The vhost: Gogo commands return their result (text for the console, a value for scripts) and
 * throw when the registry refuses; the shell's own {@code exit [CODE]} ends the input.
 */
class GogoCommandsTest {
    private final RegistryCommandsTest.FakeRegistry registry = new RegistryCommandsTest.FakeRegistry();
    private final VhostGogoCommands cmds = new VhostGogoCommands(registry);

    @Test
    void listingsReturnTheirRowsAndPrintTheirTable() {
        GogoResult<List<DeviceInfo>> devices = cmds.devices();
        assertThat(devices.value()).extracting(DeviceInfo::id).containsExactly("d0", "d1");
        assertThat(devices.toString()).startsWith("ID").contains("d0", "BOUND", "/tmp/a.sock").doesNotEndWith("\n");
        GogoResult<List<BackendInfo>> backends = cmds.backends();
        assertThat(backends.value()).extracting(BackendInfo::name).containsExactly("a", "b");
        assertThat(backends.toString()).contains("NAME", "com.vhost.user");
        assertThat(backends.length()).isEqualTo(backends.toString().length());
        assertThat(backends.subSequence(0, 4).toString()).isEqualTo("NAME");
    }

    @Test
    void swapReturnsTheRegistrysAnswerAndThrowsWhenRefused() {
        GogoResult<String> r = cmds.swap("d0", "/tmp/b.sock");
        assertThat(r.value()).isEqualTo("d0 now on /tmp/b.sock, switch 3 ms");
        assertThat(registry.swaps).containsExactly("/tmp/b.sock");
        assertThatThrownBy(() -> cmds.swap("d1", "b")).isInstanceOf(IllegalStateException.class)
                .hasMessage("swap d1 -> b failed: swap: device d1 has no running driver");
        assertThatThrownBy(() -> cmds.bind("d0", "zz")).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("no active backend named 'zz'");
        assertThat(cmds.bind("d0", "b").value()).isEqualTo("d0 now on b, switch 3 ms");
    }

    @Test
    void statsReturnTheCounters() {
        GogoResult<Map<String, Long>> one = cmds.stats("d0");
        assertThat(one.value()).containsEntry("requests", 1200L).containsEntry("swaps", 3L);
        assertThat(one.toString()).contains("REQUESTS", "1200");
        assertThatThrownBy(() -> cmds.stats("nope")).isInstanceOf(IllegalStateException.class).hasMessage("no device 'nope'");
        GogoResult<Map<String, Map<String, Long>>> all = cmds.stats();
        assertThat(all.value()).containsOnlyKeys("d0", "d1");
        assertThat(all.value().get("d0")).containsEntry("bytes", 4_915_200L);
    }

    @Test
    void snapshotAndRestoreThrowWhenTheyFail(@TempDir Path dir) {
        Path f = dir.resolve("d0.snap");
        assertThat(cmds.snapshot("d0", f.toString()).value()).startsWith("snapshot of d0: 8 bytes written to");
        assertThat(cmds.restore("d0", f.toString()).value()).isEqualTo("d0 restored on a");
        assertThatThrownBy(() -> cmds.snapshot("d1", f.toString())).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("has no running driver");
        assertThatThrownBy(() -> cmds.restore("d0", dir.resolve("missing").toString())).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("no such file");
    }

    @Test
    void exitRecordsItsCodeAndEndsTheInput() throws Exception {
        GogoShell.Keyboard keyboard = new GogoShell.Keyboard(new ByteArrayInputStream("lb\nexit 3\nnever read\n".getBytes()));
        assertThat(keyboard.read()).isEqualTo('l');
        int[] code = {0};
        assertThat(GogoShell.exitFunction(keyboard, code).execute(null, List.of("3"))).isNull();
        assertThat(code[0]).isEqualTo(3);
        assertThat(keyboard.read()).as("end of input after exit").isEqualTo(-1);
        assertThat(keyboard.read(new byte[8], 0, 8)).isEqualTo(-1);
        assertThat(GogoShell.exitCode(List.of())).isZero();
        assertThat(GogoShell.exitCode(List.of(7L))).isEqualTo(7);
        assertThatThrownBy(() -> GogoShell.exitCode(List.of("soon"))).hasMessageContaining("usage: exit [CODE]");
        assertThatThrownBy(() -> GogoShell.exitCode(List.of("1", "2"))).hasMessageContaining("usage: exit [CODE]");
    }
}
