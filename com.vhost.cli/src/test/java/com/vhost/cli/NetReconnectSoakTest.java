package com.vhost.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.vhost.api.VhostOps;
import com.vhost.api.VhostTarget;
import com.vhost.api.net.NetDevice;
import com.vhost.user.VhostUserOps;
import com.vhost.user.testing.ServerProcess;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The kill -9 soak of {@code vhost net echo --reconnect} (issue #10): the echo workload runs in
 * this JVM on a driver that detaches when its back-end dies ({@link NetEcho}, what the command
 * runs), while its back-end, {@code vhost serve net --loopback} in a process of its own
 * ({@link SoakServe}), is SIGKILLed by PID at random moments and restarted on the same socket.
 * Cycles: {@code -Dvhost.soak.net.cycles} (default 10), on 2 queue pairs of 256. Afterwards no
 * frame may have come back twice or changed, the frames lost stay within the bound (every frame
 * the rings hold at each reconnect), frames flowed after every restart and the driver reconnected
 * once per kill.
 */
class NetReconnectSoakTest {
    private static final int PAIRS = 2;
    private static final int QUEUE_SIZE = 256;
    private static final long WAIT_MS = 30_000;

    @TempDir
    Path dir;

    @Test
    @Timeout(value = 300, unit = TimeUnit.SECONDS)
    void loopbackKilledAndRestartedNeitherDuplicatesNorCorrupts() throws Exception {
        int cycles = Integer.getInteger("vhost.soak.net.cycles", 10);
        Path socket = dir.resolve("net.sock");
        int[] n = {0};
        SoakCycles.Backend backend = () -> ServerProcess.start(SoakServe.class, dir.resolve("serve-" + n[0]++ + ".log"), "net",
                socket.toString(), Integer.toString(PAIRS))::kill;
        StringWriter logText = new StringWriter();
        PrintWriter log = new PrintWriter(logText, true);
        NetDevice dev = null;
        NetEcho echo = null;
        long t0 = System.nanoTime();
        try (SoakCycles soak = new SoakCycles(backend)) {
            try {
                VhostOps ops = new VhostUserOps();
                NetTools tools = new CapturingServices() {}.netTools();
                dev = tools.openReconnectable(ops.open(ReconnectSoakTest.target(socket, 5_000)), PAIRS, QUEUE_SIZE, false, WAIT_MS);
                VhostTarget again = ReconnectSoakTest.target(socket, 500);
                echo = new NetEcho(dev, 60, 1514, 128, 32, Long.MAX_VALUE, tools.reconnectable(dev), () -> ops.open(again),
                        WAIT_MS, QUEUE_SIZE, -1, log);
                echo.start();
                for (int c = 1; c <= cycles; c++) {
                    soak.cycle(c, echo::received, echo::reconnects, logText::toString);
                }
                SoakCycles.awaitProgress(echo::received, echo.received(), "after the last restart");
                Thread.sleep(300);
                NetEcho.Outcome o = echo.stop(2_000);
                echo = null;
                System.out.printf("net soak: %d cycles in %d ms: %s (bound %d)%n", cycles,
                        TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0), o.counts(), o.maxLost());
                assertThat(o.firstError()).as("log: %s", logText).isNull();
                assertThat(o.reconnects()).isEqualTo(cycles);
                assertThat(o.tally().duplicated()).as(o.counts()).isZero();
                assertThat(o.tally().corrupted()).as(o.counts()).isZero();
                assertThat(o.maxLost()).isEqualTo(NetEcho.defaultMaxLost(QUEUE_SIZE, PAIRS, cycles));
                assertThat(o.tally().lost()).as(o.counts()).isLessThanOrEqualTo(o.maxLost());
                assertThat(o.tally().received()).isPositive();
                assertThat(o.clean()).isTrue();
            } finally {
                if (echo != null) {
                    echo.stop(0);
                }
                if (dev != null) {
                    dev.close();
                }
            }
        }
    }
}
