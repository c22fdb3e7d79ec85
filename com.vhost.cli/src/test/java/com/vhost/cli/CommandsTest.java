package com.vhost.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The picocli commands over test doubles: parsing, output, exit codes, and data round trips. */
class CommandsTest {
    private final FakeServices services = new FakeServices();

    private int run(String... args) {
        return VhostCli.execute(services, args);
    }

    @Test
    void everyCommandHasHelp() {
        for (String[] cmd : new String[][] {{"--help"}, {"run", "--help"}, {"serve", "blk", "--help"}, {"blk", "--help"},
            {"blk", "info", "--help"}, {"blk", "read", "--help"}, {"blk", "write", "--help"}, {"blk", "bench", "--help"},
            {"shell", "--help"}}) {
            assertThat(run(cmd)).as(String.join(" ", cmd)).isZero();
        }
        assertThat(services.outText.toString()).contains("Usage: vhost blk bench", "--iodepth", "Usage: vhost serve blk",
                "--memory", "--no-shell", "--rw");
    }

    @Test
    void oneShotCommandsReadNoConfFolder() {
        assertThat(run("blk", "info", "--socket", "/tmp/vub.sock")).isZero();
        assertThat(run("blk", "info", "--device", "/dev/vhost-vdpa-1", "--backend", "vdpa")).isZero();
        assertThat(services.watchedFolders).as("FileInstall started by a one-shot command").isEmpty();
    }

    @Test
    void daemonAndRpcHaveHelpAndRpcRunsTheClient(@TempDir Path dir) {
        assertThat(run("daemon", "--help")).isZero();
        assertThat(run("rpc", "--help")).isZero();
        assertThat(services.outText.toString()).contains("Usage: vhost daemon", "--control", "--conf", "--deploy", "Usage: vhost rpc",
                "PARAMS_JSON");
        assertThat(run("rpc", "--control", dir.resolve("none.sock").toString(), "device_list")).isEqualTo(1);
        assertThat(services.errText.toString()).contains("vhost rpc: device_list: cannot reach the daemon", "none.sock");
        assertThat(services.watchedFolders).isEmpty();
    }

    @Test
    void backendTypeIsValidatedAndUsed() {
        assertThat(run("blk", "info", "--device", "/dev/vhost-vdpa-1", "--backend", "vdpa")).isZero();
        assertThat(services.backendTypes).containsExactly("vdpa");
        assertThat(services.openedTargets).containsExactly("/dev/vhost-vdpa-1");
        assertThat(run("blk", "info", "--socket", "/s", "--backend", "floppy")).isEqualTo(2);
        assertThat(services.errText.toString()).contains("unknown vhost backend type 'floppy': blk takes user or vdpa");
    }

    @Test
    void noSubcommandPrintsUsageWithExitCode2() {
        assertThat(run()).isEqualTo(2);
        assertThat(run("blk")).isEqualTo(2);
        assertThat(services.errText.toString()).contains("Usage: vhost");
    }

    @Test
    void usageErrorsNameTheOption() {
        assertThat(run("blk", "info")).isEqualTo(2);
        assertThat(services.errText.toString()).contains("--socket");
        assertThat(run("serve", "blk", "--socket", "/tmp/x.sock")).isEqualTo(2);
        assertThat(run("serve", "blk", "--socket", "/tmp/x.sock", "--image", "a", "--memory", "1M")).isEqualTo(2);
        assertThat(run("blk", "read", "--socket", "/s", "--length", "12q")).isEqualTo(2);
        assertThat(services.errText.toString()).contains("'12q' is not a size");
    }

    @Test
    void infoPrintsCapacityQueuesAndFeatures() {
        assertThat(run("blk", "info", "--socket", "/tmp/vub.sock", "--queues", "2")).isZero();
        String out = services.outText.toString();
        assertThat(out).contains("capacity    1048576 bytes (1.0 MiB, 2048 sectors of 512)", "block size  512 bytes",
                "queues      2 x 256 descriptors", "features    0x100000240 BLK_SIZE FLUSH VERSION_1", "id          \"memdisk\"");
        assertThat(services.openedTargets).containsExactly("/tmp/vub.sock");
        assertThat(services.driverQueues.get(0)).containsExactly(2, 256);
        assertThat(services.devices.get(0).closed).isTrue();
    }

    @Test
    void writeThenReadRoundTripsAFile(@TempDir Path dir) throws Exception {
        byte[] data = new byte[8192];
        new Random(7).nextBytes(data);
        Path in = dir.resolve("in.bin");
        Files.write(in, data);
        assertThat(run("blk", "write", "--socket", "/s", "--offset", "4k", "--in", in.toString())).isZero();
        assertThat(services.outText.toString()).contains("wrote 8192 bytes", "at offset 4096 and flushed");
        Path out = dir.resolve("out.bin");
        assertThat(run("blk", "read", "--socket", "/s", "--offset", "4096", "--length", "8k", "--out", out.toString())).isZero();
        assertThat(Files.readAllBytes(out)).isEqualTo(data);
        assertThat(services.disk.get(ValueLayout.JAVA_BYTE, 4096)).isEqualTo(data[0]);
    }

    @Test
    void readWithoutOutIsAHexDump() {
        services.disk.set(ValueLayout.JAVA_BYTE, 512, (byte) 'v');
        services.disk.set(ValueLayout.JAVA_BYTE, 513, (byte) 'h');
        assertThat(run("blk", "read", "--socket", "/s", "--offset", "512", "--length", "512")).isZero();
        assertThat(services.outText.toString()).contains("00000200  76 68 00 00", "|vh..............|");
    }

    /** Values the command cannot use are usage errors (exit 2, a --help hint); a file it cannot read is not. */
    @Test
    void rangeErrorsAreUsageErrorsWithExitCode2(@TempDir Path dir) throws Exception {
        assertThat(run("blk", "read", "--socket", "/s", "--offset", "100", "--length", "512")).isEqualTo(2);
        assertThat(services.errText.toString()).contains("vhost blk read: --offset 100 is not a non-negative multiple of the block size 512",
                "Try 'vhost blk read --help' for more information.");
        assertThat(run("blk", "read", "--socket", "/s", "--offset", "1M", "--length", "512")).isEqualTo(2);
        assertThat(services.errText.toString()).contains("past the capacity 1048576");
        Path odd = dir.resolve("odd.bin");
        Files.write(odd, new byte[100]);
        assertThat(run("blk", "write", "--socket", "/s", "--in", odd.toString())).isEqualTo(2);
        assertThat(services.errText.toString()).contains("length 100 is not a multiple of the block size 512");
        assertThat(run("blk", "write", "--socket", "/s", "--in", dir.resolve("missing").toString())).isEqualTo(2);
        assertThat(services.errText.toString()).contains("--in " + dir.resolve("missing"));
        assertThat(run("blk", "info", "--socket", "/s", "--queues", "0")).isEqualTo(2);
        assertThat(services.errText.toString()).contains("--queues 0 is outside 1..64");
    }

    @Test
    void benchPrintsIopsThroughputAndLatency() {
        assertThat(run("blk", "bench", "--socket", "/s", "--rw", "randwrite", "--bs", "4k", "--iodepth", "4", "--queues", "2",
                "--seconds", "1")).isZero();
        assertThat(services.outText.toString()).contains("bench randwrite bs=4096 iodepth=4 queues=2 engine=raw",
                "no low-level queue path; using the BlockDevice API", "IOPS ", "MiB/s",
                "latency p50 ", "p99 ", "max ");
        // rejected while parsing, before connecting or printing the bench header
        int before = services.outText.getBuffer().length();
        assertThat(run("blk", "bench", "--socket", "/s", "--rw", "sideways", "--seconds", "1")).isEqualTo(2);
        assertThat(services.errText.toString()).contains("Invalid value for option '--rw'", "sideways");
        assertThat(run("blk", "bench", "--socket", "/s", "--engine", "turbo")).isEqualTo(2);
        assertThat(services.errText.toString()).contains("Invalid value for option '--engine'", "turbo");
        assertThat(run("blk", "bench", "--socket", "/s", "--iodepth", "0")).isEqualTo(2);
        assertThat(services.errText.toString()).contains("--iodepth 0 is outside 1..1024");
        assertThat(services.outText.getBuffer().length()).as("no bench header for a refused command").isEqualTo(before);
        assertThat(run("blk", "bench", "--socket", "/s", "--rw", "READ", "--engine", "Api", "--seconds", "1")).isZero();
    }
}
