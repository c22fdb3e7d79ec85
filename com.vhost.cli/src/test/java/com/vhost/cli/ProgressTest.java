package com.vhost.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.vhost.api.backend.SocketOptions;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** Progress: one rewritten status line on a terminal, a line per interval elsewhere; the blk bench's rate lines. */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class ProgressTest {
    @Test
    void terminalRewritesOneLineAndClearsIt() {
        StringWriter text = new StringWriter();
        Progress p = new Progress(new PrintWriter(text), true);
        p.line("write 1 MiB / 4 MiB (25%)");
        p.line("write 4 MiB");
        p.done();
        assertThat(text.toString()).isEqualTo("\rwrite 1 MiB / 4 MiB (25%)\rwrite 4 MiB" + " ".repeat(14)
                + "\r" + " ".repeat(11) + "\r");
        assertThat(text.toString()).doesNotContain("\n");
    }

    @Test
    void elsewhereEachUpdateIsALineAtMostOncePerSecond() {
        StringWriter text = new StringWriter();
        Progress p = new Progress(new PrintWriter(text), false);
        p.update("a", false);
        p.update("b", false); // within a second of "a": dropped
        p.update("c", true); // the last one is always shown
        p.done();
        assertThat(text.toString()).isEqualTo("a" + System.lineSeparator() + "c" + System.lineSeparator());
    }

    @Test
    void awaitPrintsTheIntervalRateUntilTheEnd() throws Exception {
        StringWriter text = new StringWriter();
        Progress p = new Progress(new PrintWriter(text), false);
        AtomicLong counter = new AtomicLong();
        long start = System.nanoTime();
        long end = start + TimeUnit.MILLISECONDS.toNanos(2500);
        boolean finished = p.await(start, end, end + TimeUnit.SECONDS.toNanos(5), nanos -> {
            Thread.sleep(Math.min(TimeUnit.NANOSECONDS.toMillis(nanos) + 1, 50));
            counter.addAndGet(100);
            return System.nanoTime() >= end;
        }, counter::get, (delta, secs) -> delta + " in " + Math.round(secs) + " s");
        assertThat(finished).isTrue();
        assertThat(text.toString().lines().toList()).hasSize(2).allMatch(l -> l.matches("\\d s: \\d+ in 1 s"));
        assertThat(text.toString()).startsWith("1 s: ").contains("2 s: ");
    }

    @Test
    void blkBenchPrintsARateLinePerSecondOnStandardError(@TempDir Path dir) throws Exception {
        CapturingServices services = CapturingServices.overVhostUser();
        Path socket = dir.resolve("mem.sock");
        try (BlkTools.Served served = services.blkTools().serveMemory(socket, SocketOptions.PRIVATE, 8L << 20, 1, 256)) {
            for (String engine : new String[] {"raw", "api"}) {
                services.terminal = false;
                services.errText.getBuffer().setLength(0);
                assertThat(VhostCli.execute(services, "blk", "bench", "--socket", socket.toString(), "--seconds", "2", "--engine", engine))
                        .as(services.errText.toString()).isZero();
                assertThat(services.errText.toString()).as(engine).containsPattern("(?m)^1 s: \\d+ IOPS, \\d+\\.\\d MiB/s$");
                assertThat(services.outText.toString()).doesNotContain(" s: ");
                services.terminal = true;
                services.errText.getBuffer().setLength(0);
                assertThat(VhostCli.execute(services, "blk", "bench", "--socket", socket.toString(), "--seconds", "2", "--engine", engine))
                        .isZero();
                assertThat(services.errText.toString()).as(engine).contains("\r1 s: ").doesNotContain("\n");
            }
        }
    }
}
