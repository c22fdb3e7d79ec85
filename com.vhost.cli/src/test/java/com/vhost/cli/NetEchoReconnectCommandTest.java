package com.vhost.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.vhost.api.backend.SocketOptions;
import com.vhost.user.testing.ServerProcess;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code vhost net echo --reconnect} through picocli: its help, a clean run against the loopback
 * back-end in this JVM, a run whose back-end ({@code SoakServe net}, a process of its own) is
 * killed once and restarted on the same socket, and the option checks.
 */
class NetEchoReconnectCommandTest {
    private final CapturingServices services = CapturingServices.overVhostUser();

    @TempDir
    Path dir;

    @Test
    void helpNamesTheOptionsAndTheBound() {
        assertThat(VhostCli.execute(services, "net", "echo", "--help")).isZero();
        String help = services.outText.toString().replaceAll("\\s+", " "); // picocli wraps at 80 columns
        assertThat(help).contains("--reconnect", "--reconnect-wait", "--seconds", "--max-lost", "--window",
                "'sent S received R lost L duplicated D corrupted C reconnects K'", "reconnected after N ms",
                "default --queue-size x queue pairs x reconnects");
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void cleanRunPrintsTheCountsLastAndProgressOnStderr() throws Exception {
        Path socket = dir.resolve("net.sock");
        try (NetTools.Served served = services.netTools().serveLoopback(socket, SocketOptions.PRIVATE, 2, 256,
                "52:54:00:12:34:56", 1500, false)) {
            int rc = VhostCli.execute(services, "net", "echo", "--socket", socket.toString(), "--queues", "2", "--reconnect",
                    "--seconds", "2");
            assertThat(rc).as(services.errText.toString()).isZero();
        }
        assertThat(CapturingServices.lastLine(services.outText.toString()))
                .matches("sent (\\d+) received \\1 lost 0 duplicated 0 corrupted 0 reconnects 0");
        assertThat(services.outText.toString()).contains("2 queue pair(s)", "reconnecting");
        assertThat(services.errText.toString()).containsPattern("1 s: sent [1-9]\\d* received [1-9]\\d*, 0 reconnects")
                .contains("2 s: ");
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void countEndsTheStream() throws Exception {
        Path socket = dir.resolve("net.sock");
        try (NetTools.Served served = services.netTools().serveLoopback(socket, SocketOptions.PRIVATE, 1, 256,
                "52:54:00:12:34:56", 1500, false)) {
            int rc = VhostCli.execute(services, "net", "echo", "--socket", socket.toString(), "--reconnect", "--count", "5000",
                    "--sizes", "28-200");
            assertThat(rc).as(services.errText.toString()).isZero();
        }
        assertThat(CapturingServices.lastLine(services.outText.toString())).isEqualTo("sent 5000 received 5000 lost 0 duplicated 0 corrupted 0 reconnects 0");
    }

    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void reconnectSurvivesAKilledBackEnd() throws Exception {
        Path socket = dir.resolve("net.sock");
        ServerProcess server = ServerProcess.start(SoakServe.class, dir.resolve("a.log"), "net", socket.toString(), "1");
        try {
            CompletableFuture<Integer> rc = CompletableFuture.supplyAsync(() -> VhostCli.execute(services, "net", "echo",
                    "--socket", socket.toString(), "--seconds", "4", "--reconnect", "--wait", "3s"));
            services.awaitErr("1 s: ", rc); // the driver is up and echoing, however slow the machine
            server.kill();
            server = ServerProcess.start(SoakServe.class, dir.resolve("b.log"), "net", socket.toString(), "1");
            assertThat(rc.get(60, TimeUnit.SECONDS)).as(services.errText.toString()).isZero();
        } finally {
            server.kill();
        }
        String out = services.outText.toString();
        assertThat(out).containsPattern("reconnected after \\d+ ms");
        assertThat(CapturingServices.lastLine(out)).matches("sent \\d+ received \\d+ lost \\d+ duplicated 0 corrupted 0 reconnects 1");
        assertThat(services.errText.toString()).contains("1 reconnects");
    }

    @Test
    void optionsAreChecked() {
        assertThat(VhostCli.execute(services, "net", "echo", "--socket", "/nonexistent")).isEqualTo(2);
        assertThat(services.errText.toString()).contains("--count N", "is required without --reconnect");
        assertThat(VhostCli.execute(services, "net", "echo", "--socket", "/nonexistent", "--reconnect", "--seconds", "0"))
                .isEqualTo(2);
        assertThat(services.errText.toString()).contains("--seconds and --window must be positive");
    }
}
