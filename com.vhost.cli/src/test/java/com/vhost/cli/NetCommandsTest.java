package com.vhost.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.vhost.api.VhostOps;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.spi.backend.ForwardingVirtioDevice;
import com.vhost.devices.net.model.LoopbackNetModel;
import com.vhost.user.VhostUserOps;
import com.vhost.user.backend.VhostUserServer;
import java.io.StringWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** {@code vhost net ...} against the loopback back-end served in this JVM over a real socket. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class NetCommandsTest {
    @TempDir
    Path dir;

    private final CapturingServices services = new CapturingServices() {
        @Override
        public VhostOps backend(String type, Duration wait) {
            assertThat(type).isEqualTo("user");
            return new VhostUserOps();
        }
    };
    private final StringWriter outText = services.outText;
    private final StringWriter errText = services.errText;

    private int run(String... args) {
        return VhostCli.execute(services, args);
    }

    @Test
    void everyNetCommandHasHelp() {
        for (String[] cmd : new String[][] {{"net", "--help"}, {"net", "info", "--help"}, {"net", "send", "--help"},
            {"net", "recv", "--help"}, {"net", "echo", "--help"}, {"net", "bench", "--help"}, {"serve", "net", "--help"}}) {
            assertThat(run(cmd)).as(String.join(" ", cmd)).isZero();
        }
        assertThat(outText.toString()).contains("Usage: vhost net echo", "--sizes", "Usage: vhost net bench", "--pkt-size",
                "--mode", "Usage: vhost serve net", "--loopback");
    }

    @Test
    void packedAskedOfASplitOnlyBackEndFallsBackWithANotice() throws Exception {
        Path sock = dir.resolve("packed.sock");
        try (LoopbackNetModel model = LoopbackNetModel.withDefaults(1);
                VhostUserServer server = new VhostUserServer(sock, new ForwardingVirtioDevice(model) {
                    @Override
                    public long features() { // a back-end without packed rings, as qemu-storage-daemon 7.2
                        return super.features() & ~(1L << VirtioFeatures.F_RING_PACKED);
                    }
                })) {
            server.start();
            assertThat(run("net", "echo", "--socket", sock.toString(), "--count", "300", "--packed")).as(errText.toString()).isZero();
            assertThat(outText.toString()).contains("sent 300 received 300 lost 0 reordered 0 corrupted 0");
            assertThat(errText.toString()).contains("notice: vhost-user:" + sock + " does not offer VIRTIO_F_RING_PACKED;"
                    + " using split virtqueues");
            assertThat(run("net", "echo", "--socket", sock.toString(), "--reconnect", "--seconds", "1", "--packed")).isEqualTo(2);
            assertThat(errText.toString()).contains("--packed does not combine with --reconnect");
        }
    }

    @Test
    void packedRingsAgainstTheLoopbackBackEnd() throws Exception {
        Path sock = dir.resolve("packed-own.sock");
        try (LoopbackNetModel model = LoopbackNetModel.withDefaults(1); VhostUserServer server = new VhostUserServer(sock, model)) {
            server.start();
            assertThat(run("net", "echo", "--socket", sock.toString(), "--count", "300", "--packed")).as(errText.toString()).isZero();
            assertThat(outText.toString()).contains("sent 300 received 300 lost 0 reordered 0 corrupted 0");
            assertThat(errText.toString()).doesNotContain("notice:");
            // the session ends (and the model forgets its features) after the command: ask info instead
            assertThat(run("net", "info", "--socket", sock.toString(), "--packed")).as(errText.toString()).isZero();
            java.util.regex.Matcher f = java.util.regex.Pattern.compile("features +0x([0-9a-f]+)").matcher(outText.toString());
            assertThat(f.find()).as(outText.toString()).isTrue();
            assertThat(Long.parseLong(f.group(1), 16) & (1L << VirtioFeatures.F_RING_PACKED)).as("packed negotiated: %s", f.group()).isNotZero();
        }
    }

    /** IN_ORDER (VIRTIO 1.2 2.7.9) is negotiated by default with the loopback back-end; --no-in-order leaves it out. */
    @Test
    void inOrderByDefaultAndLeftOutWithNoInOrder() throws Exception {
        Path sock = dir.resolve("inorder.sock");
        try (LoopbackNetModel model = LoopbackNetModel.withDefaults(1); VhostUserServer server = new VhostUserServer(sock, model)) {
            server.start();
            assertThat(run("net", "info", "--socket", sock.toString())).as(errText.toString()).isZero();
            assertThat(infoFeatures() & (1L << VirtioFeatures.F_IN_ORDER)).as("IN_ORDER negotiated by default").isNotZero();
            outText.getBuffer().setLength(0);
            assertThat(run("net", "info", "--socket", sock.toString(), "--no-in-order")).as(errText.toString()).isZero();
            assertThat(infoFeatures() & (1L << VirtioFeatures.F_IN_ORDER)).as("IN_ORDER left out").isZero();
            assertThat(run("net", "echo", "--socket", sock.toString(), "--count", "300", "--no-in-order", "--packed"))
                    .as(errText.toString()).isZero();
            assertThat(outText.toString()).contains("sent 300 received 300 lost 0 reordered 0 corrupted 0");
        }
    }

    private long infoFeatures() {
        java.util.regex.Matcher f = java.util.regex.Pattern.compile("features +0x([0-9a-f]+)").matcher(outText.toString());
        assertThat(f.find()).as(outText.toString()).isTrue();
        return Long.parseLong(f.group(1), 16);
    }

    @Test
    void echoInfoAndBenchAgainstTheLoopbackBackEnd() throws Exception {
        Path sock = dir.resolve("net.sock");
        try (LoopbackNetModel model = LoopbackNetModel.withDefaults(2); VhostUserServer server = new VhostUserServer(sock, model)) {
            server.start();
            assertThat(run("net", "echo", "--socket", sock.toString(), "--count", "700", "--sizes", "60-1514", "--queues", "2"))
                    .as(errText.toString()).isZero();
            assertThat(outText.toString()).contains("sent 700 received 700 lost 0 reordered 0 corrupted 0");
            assertThat(model.counters(0).rxPackets() + model.counters(1).rxPackets()).isEqualTo(700);
            assertThat(model.counters(1).rxPackets()).isPositive();

            assertThat(run("net", "info", "--socket", sock.toString())).isZero();
            assertThat(outText.toString()).contains("mac         52:54:00:12:34:56", "mtu         1500", "link        up");

            assertThat(run("net", "bench", "--socket", sock.toString(), "--seconds", "0.3", "--mode", "echo")).isZero();
            assertThat(outText.toString()).containsPattern("mode echo, 64-byte frames, burst 32, eventfd, 0\\.\\d+ s: \\d+ packets, "
                    + "\\d+\\.\\d{3} Mpps, \\d+\\.\\d{3} Gbit/s, drops 0");

            assertThat(run("net", "echo", "--socket", sock.toString(), "--count", "10", "--sizes", "2000-3000")).isEqualTo(2);
            assertThat(errText.toString()).contains("--sizes max 3000 exceeds MTU 1500 + 18");
        }
    }

    @Test
    void benchSwapOfANetDeviceReportsPausesAndAStreamWithNothingDuplicatedCorruptedOrReordered() {
        assertThat(run("bench", "swap", "--device", "net", "--swaps", "6", "--interval-ms", "30")).as(errText.toString()).isZero();
        assertThat(outText.toString()).contains("bench swap: 6 swaps of a net device")
                .containsPattern("swap pause ms: p50 \\d+\\.\\d\\d p99 \\d+\\.\\d\\d max \\d+\\.\\d\\d")
                .containsPattern("lost \\d+ duplicated 0 corrupted 0 reordered 0")
                .containsPattern("\\((\\d+) frames sent, \\d+ received in");
        assertThat(run("bench", "swap", "--type", "scsi")).isEqualTo(2);
        assertThat(errText.toString()).contains("Invalid value for option '--type': expected one of [BLK, NET]", "'scsi'");
    }

    /** {@code bench swap --packed}: blk and net on packed virtqueues, restarted fresh at every swap, nothing lost or corrupted. */
    @Test
    void benchSwapOnPackedVirtqueues() {
        assertThat(run("bench", "swap", "--type", "blk", "--packed", "--swaps", "4", "--warmup", "1", "--size", "4m",
                "--queue-size", "64", "--interval", "20ms")).as(errText.toString()).isZero();
        assertThat(outText.toString()).contains("bench swap: 4 swaps between", "queue(s) of 64, packed)")
                .contains("lost 0 duplicated 0 corrupted 0");
        assertThat(errText.toString()).doesNotContain("does not offer VIRTIO_F_RING_PACKED");
        assertThat(run("bench", "swap", "--type", "net", "--packed", "--swaps", "4", "--warmup", "1", "--interval", "20ms"))
                .as(errText.toString()).isZero();
        assertThat(outText.toString()).contains("bench swap: 4 swaps of a net device", "queue size 128, packed)")
                .containsPattern("lost \\d+ duplicated 0 corrupted 0 reordered 0");
    }
}
