package com.vhost.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.vhost.api.backend.SocketOptions;
import com.vhost.user.testing.ServerProcess;
import java.io.RandomAccessFile;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** {@code vhost blk verify} through picocli: its help, a clean run, and a run whose back-end is killed once. */
class BlkVerifyCommandTest {
    private final CapturingServices services = CapturingServices.overVhostUser();

    @TempDir
    Path dir;

    @Test
    void helpNamesTheOptions() {
        assertThat(VhostCli.execute(services, "blk", "verify", "--help")).isZero();
        assertThat(services.outText.toString()).contains("Usage: vhost blk verify", "--reconnect", "--reconnect-wait",
                "--seconds", "duplicated", "reconnected after");
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void cleanRunPrintsZeroCountsLast() throws Exception {
        Path socket = dir.resolve("mem.sock");
        try (BlkTools.Served served = services.blkTools().serveMemory(socket, SocketOptions.PRIVATE, 8L << 20, 2, 256)) {
            int rc = VhostCli.execute(services, "blk", "verify", "--socket", socket.toString(), "--queues", "2", "--seconds", "1",
                    "--region", "4M");
            assertThat(rc).as(services.errText.toString()).isZero();
        }
        assertThat(CapturingServices.lastLine(services.outText.toString())).isEqualTo("lost 0 duplicated 0 corrupted 0");
        assertThat(services.errText.toString()).contains("1 s: ");
    }

    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void reconnectSurvivesAKilledBackEnd() throws Exception {
        Path socket = dir.resolve("blk.sock");
        Path image = dir.resolve("disk.img");
        try (RandomAccessFile f = new RandomAccessFile(image.toFile(), "rw")) {
            f.setLength(8L << 20);
        }
        ServerProcess server = ServerProcess.start(SoakServe.class, dir.resolve("a.log"), "blk", socket.toString(), image.toString(), "1");
        try {
            CompletableFuture<Integer> rc = CompletableFuture.supplyAsync(() -> VhostCli.execute(services, "blk", "verify",
                    "--socket", socket.toString(), "--seconds", "4", "--region", "4M", "--reconnect"));
            // kill once the driver is up and writing (a back-end killed during the first handshake
            // fails the open, which --reconnect does not cover), however slow the machine
            services.awaitErr("1 s: ", rc);
            server.kill();
            server = ServerProcess.start(SoakServe.class, dir.resolve("b.log"), "blk", socket.toString(), image.toString(), "1");
            assertThat(rc.get(60, TimeUnit.SECONDS)).as(services.errText.toString()).isZero();
        } finally {
            server.kill();
        }
        String out = services.outText.toString();
        assertThat(out).containsPattern("reconnected after \\d+ ms").contains("reconnects 1");
        assertThat(CapturingServices.lastLine(out)).isEqualTo("lost 0 duplicated 0 corrupted 0");
    }
}
