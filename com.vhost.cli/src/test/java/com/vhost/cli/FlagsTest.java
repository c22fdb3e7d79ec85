package com.vhost.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import org.junit.jupiter.api.Test;

/**
 * One spelling per idea across the commands: durations with a unit (a number alone is seconds),
 * sizes with a suffix, {@code --iodepth} and {@code --type} in {@code bench swap} (the earlier
 * names kept as hidden aliases), {@code blk --backend} without {@code kernel}. Bad values are
 * usage errors: exit code 2 and a message naming the option and the value.
 */
class FlagsTest {
    private final FakeServices services = new FakeServices();

    private int run(String... args) {
        services.errText.getBuffer().setLength(0);
        return VhostCli.execute(services, args);
    }

    private String err() {
        return services.errText.toString();
    }

    @Test
    void durationsTakeAUnitAndANumberAloneIsSeconds() {
        assertThat(Durations.parse("30", false)).isEqualTo(Duration.ofSeconds(30));
        assertThat(Durations.parse("1.5", false)).isEqualTo(Duration.ofMillis(1500));
        assertThat(Durations.parse("500ms", false)).isEqualTo(Duration.ofMillis(500));
        assertThat(Durations.parse("5s", false)).isEqualTo(Duration.ofSeconds(5));
        assertThat(Durations.parse("2m", false)).isEqualTo(Duration.ofMinutes(2));
        assertThat(Durations.parse("1h", false)).isEqualTo(Duration.ofHours(1));
        assertThat(Durations.parse("250us", false)).isEqualTo(Duration.ofNanos(250_000));
        assertThat(Durations.parse("20", true)).as("the hidden -ms aliases").isEqualTo(Duration.ofMillis(20));
        assertThat(Durations.parse("2s", true)).isEqualTo(Duration.ofSeconds(2));
        assertThatThrownBy(() -> Durations.parse("-1", false)).hasMessageContaining("'-1' is not a duration");
        assertThatThrownBy(() -> Durations.parse("5 parsecs", false)).hasMessageContaining("is not a duration");
        assertThatThrownBy(() -> Durations.parse("9999h", false)).hasMessageContaining("longer than 100 days");
        assertThat(Durations.human(Duration.ofMillis(1500))).isEqualTo("1.5 s");
        assertThat(Durations.human(Duration.ofSeconds(5))).isEqualTo("5 s");
        assertThat(Durations.human(Duration.ofMillis(20))).isEqualTo("20 ms");
    }

    @Test
    void everyTimeOptionRefusesABadDurationWithExitCode2() {
        String[][] commands = {
            {"blk", "bench", "--socket", "/s", "--seconds", "soon"},
            {"blk", "verify", "--socket", "/s", "--seconds", "soon"},
            {"blk", "verify", "--socket", "/s", "--reconnect-wait", "soon"},
            {"blk", "info", "--socket", "/s", "--connect-timeout", "soon"},
            {"net", "bench", "--socket", "/s", "--seconds", "soon"},
            {"net", "recv", "--socket", "/s", "--timeout", "soon"},
            {"net", "echo", "--socket", "/s", "--count", "1", "--wait", "soon"},
            {"net", "echo", "--socket", "/s", "--reconnect", "--seconds", "soon"},
            {"bench", "swap", "--interval", "soon"},
        };
        for (String[] c : commands) {
            assertThat(run(c)).as(String.join(" ", c)).isEqualTo(2);
            String option = c[c.length - 2];
            assertThat(err()).as(String.join(" ", c)).contains("Invalid value for option '" + option + "'", "'soon' is not a duration",
                    "a number alone is seconds");
        }
    }

    @Test
    void blkBenchTakesADurationAndBoundsIt() {
        assertThat(run("blk", "bench", "--socket", "/s", "--seconds", "300ms", "--engine", "api")).isZero();
        assertThat(services.outText.toString()).contains("for 300 ms on");
        assertThat(run("blk", "bench", "--socket", "/s", "--seconds", "2h")).isEqualTo(2);
        assertThat(err()).contains("--seconds 7200 s is outside (0, 1 h]");
        assertThat(run("blk", "bench", "--socket", "/s", "--seconds", "0")).isEqualTo(2);
        assertThat(err()).contains("--seconds 0 us is outside (0, 1 h]");
    }

    @Test
    void connectTimeoutIsADuration() {
        assertThat(run("blk", "info", "--socket", "/s", "--connect-timeout", "1.5")).isZero();
        assertThat(run("blk", "info", "--socket", "/s", "--connect-timeout", "250ms")).isZero();
    }

    @Test
    void pktSizeTakesASizeSuffix() {
        assertThat(run("net", "bench", "--socket", "/s", "--pkt-size", "64q")).isEqualTo(2);
        assertThat(err()).contains("Invalid value for option '--pkt-size'", "'64q' is not a size");
        assertThat(run("net", "bench", "--socket", "/s", "--pkt-size", "17")).isEqualTo(2);
        assertThat(err()).contains("--pkt-size 17 is outside 18..65535");
        assertThat(run("net", "bench", "--socket", "/s", "--pkt-size", "1M")).isEqualTo(2);
        assertThat(err()).contains("--pkt-size 1048576 is outside 18..65535");
        assertThat(((NetBenchCommand) parsed("net", "bench", "--socket", "/s", "--pkt-size", "9k")).pktSize).isEqualTo(9216);
        assertThat(run("net", "send", "--socket", "/s", "--size", "1x")).isEqualTo(2);
        assertThat(err()).contains("Invalid value for option '--size'", "'1x' is not a size");
        assertThat(((NetCommand.Send) parsed("net", "send", "--socket", "/s", "--size", "1k")).size).isEqualTo(1024);
    }

    @Test
    void blkRefusesTheKernelBackendWhileParsing() {
        assertThat(run("blk", "info", "--device", "/dev/vhost-net", "--backend", "kernel")).isEqualTo(2);
        assertThat(err()).contains("Invalid value for option '--backend'", "the kernel's vhost back-end drives vhost-net only",
                "blk takes user or vdpa");
        assertThat(services.openedTargets).as("refused before connecting").isEmpty();
        assertThat(run("blk", "info", "--help")).isZero();
        assertThat(services.outText.toString().replaceAll("\\s+", " ")).contains("user or vdpa").doesNotContain("user, kernel or vdpa");
    }

    @Test
    void benchSwapSpellsItsOptionsLikeTheOtherCommands() {
        assertThat(run("bench", "swap", "--help")).isZero();
        String help = services.outText.toString();
        assertThat(help).contains("--type=TYPE", "--iodepth=D", "--interval=DURATION", "--packed")
                .doesNotContain("--device", "--depth", "--interval-ms");
        assertThat(run("bench", "swap", "--type", "floppy")).isEqualTo(2);
        assertThat(err()).contains("Invalid value for option '--type'", "'floppy'");
        assertThat(run("bench", "swap", "--device", "floppy")).as("the hidden alias is parsed too").isEqualTo(2);
        assertThat(err()).contains("Invalid value for option '--device'", "'floppy'");
        assertThat(run("bench", "swap", "--iodepth", "x")).isEqualTo(2);
        assertThat(run("bench", "swap", "--depth", "x")).isEqualTo(2);
        assertThat(err()).contains("Invalid value for option '--depth'");
    }

    /** @return the command object picocli filled for {@code args} (parsed, not run) */
    private Object parsed(String... args) {
        picocli.CommandLine.ParseResult r = VhostCli.commandLine(services).parseArgs(args);
        while (r.hasSubcommand()) {
            r = r.subcommand();
        }
        return r.commandSpec().userObject();
    }

    @Test
    void theHiddenAliasesSetTheSameValueAndTheDefaultsHold() {
        BenchCommand.Swap d = (BenchCommand.Swap) parsed("bench", "swap");
        assertThat(d.type).isEqualTo(BenchCommand.Swap.DeviceType.BLK);
        assertThat(d.depth).isEqualTo(4);
        assertThat(d.intervalMs).isEqualTo(20);
        BenchCommand.Swap old = (BenchCommand.Swap) parsed("bench", "swap", "--device", "net", "--depth", "2", "--interval-ms", "30");
        assertThat(old.type).isEqualTo(BenchCommand.Swap.DeviceType.NET);
        assertThat(old.depth).isEqualTo(2);
        assertThat(old.intervalMs).as("a number alone is milliseconds for --interval-ms").isEqualTo(30);
        BenchCommand.Swap now = (BenchCommand.Swap) parsed("bench", "swap", "--type", "NET", "--iodepth", "8", "--interval", "0.05");
        assertThat(now.type).isEqualTo(BenchCommand.Swap.DeviceType.NET);
        assertThat(now.depth).isEqualTo(8);
        assertThat(now.intervalMs).isEqualTo(50);
        assertThat(d.packed).as("split virtqueues unless --packed").isFalse();
        assertThat(((BenchCommand.Swap) parsed("bench", "swap", "--packed")).packed).isTrue();
        assertThat(((BenchCommand.Swap) parsed("bench", "swap", "--type", "net", "--packed")).packed).isTrue();

        assertThat(((BlkCommand.Verify) parsed("blk", "verify", "--socket", "/s")).reconnectWaitMs).isEqualTo(30_000);
        assertThat(((BlkCommand.Verify) parsed("blk", "verify", "--socket", "/s", "--reconnect-wait-ms", "500")).reconnectWaitMs)
                .isEqualTo(500);
        assertThat(((BlkCommand.Verify) parsed("blk", "verify", "--socket", "/s", "--reconnect-wait", "2m")).reconnectWaitMs)
                .isEqualTo(120_000);
        assertThat(((NetCommand.Echo) parsed("net", "echo", "--socket", "/s")).reconnect.waitMs).isEqualTo(30_000);
        assertThat(((NetCommand.Echo) parsed("net", "echo", "--socket", "/s", "--reconnect-wait-ms", "700")).reconnect.waitMs)
                .isEqualTo(700);
        assertThat(((NetCommand.Echo) parsed("net", "echo", "--socket", "/s", "--wait", "250ms")).waitMs).isEqualTo(250);
        assertThat(((NetCommand.Echo) parsed("net", "echo", "--socket", "/s")).waitMs).isEqualTo(1000);
        assertThat(((BlkCommand.Info) parsed("blk", "info", "--socket", "/s", "--connect-timeout", "2")).conn.connectTimeoutMs)
                .isEqualTo(2000);
    }
}
