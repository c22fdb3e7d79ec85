package com.vhost.integration;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The exported executable {@code platform/target/vhost.jar} as a user runs it: a separate JVM
 * starting Felix, SCR, Gogo and the bundles, running one command and exiting with its code.
 * Each process is stopped by its PID when it overruns its time bound.
 */
class VhostJarTest {
    static final long TIMEOUT_S = 90;
    static final Path REACTOR = Path.of(System.getProperty("vhost.reactor.dir", ".."));
    static final Path JAR = REACTOR.resolve("platform/target/vhost.jar");

    record Run(int exit, String out, String err) {}

    static Run vhost(Path work, String... args) throws IOException, InterruptedException {
        assertThat(JAR).as("the platform module exported the jar").exists();
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED",
                // FileInstall would otherwise create ./load in the working directory
                "-Dfelix.fileinstall.dir=" + work.resolve("fileinstall"),
                "-jar", JAR.toString()));
        cmd.addAll(List.of(args));
        Path out = work.resolve("out.txt");
        Path err = work.resolve("err.txt");
        Process p = new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(err.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
        if (!p.waitFor(TIMEOUT_S, TimeUnit.SECONDS)) {
            ProcessHandle.of(p.pid()).ifPresent(ProcessHandle::destroyForcibly);
            p.waitFor(10, TimeUnit.SECONDS);
            throw new AssertionError("vhost " + String.join(" ", args) + " (pid " + p.pid() + ") overran " + TIMEOUT_S
                    + " s; stderr:\n" + Files.readString(err, StandardCharsets.UTF_8));
        }
        return new Run(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8), Files.readString(err, StandardCharsets.UTF_8));
    }

    @Test
    void versionAndUsage(@TempDir Path work) throws Exception {
        Run v = vhost(work, "--version");
        assertThat(v.exit()).as(v.err()).isZero();
        assertThat(v.out()).contains("vhost-platform 0.1.0");
        Run none = vhost(work);
        assertThat(none.exit()).isEqualTo(2);
        assertThat(none.err()).contains("Usage: vhost", "run", "serve", "blk");
    }

    @Test
    void aMissingBackEndIsAClearFailure(@TempDir Path work) throws Exception {
        Run r = vhost(work, "blk", "info", "--socket", work.resolve("nobody.sock").toString(), "--connect-timeout", "300ms");
        assertThat(r.exit()).as(r.out() + r.err()).isEqualTo(1);
        assertThat(r.err()).contains("vhost blk info: ", "nobody.sock");
    }

    @Test
    void runServesBindsAndVerifies(@TempDir Path work) throws Exception {
        assumeTrue(Files.exists(REACTOR.resolve("com.vhost.devices.blk/src/main/java/com/vhost/devices/blk/driver/BlockDevices.java")),
                "the virtio-blk driver is not merged yet");
        Path image = work.resolve("disk.img");
        Run r = vhost(work, "run", "--no-shell", "--image", image.toString(), "--size", "8M", "--socket",
                work.resolve("run.sock").toString());
        assertThat(r.exit()).as(r.out() + r.err()).isZero();
        assertThat(r.out()).contains("image     " + image + " (8.0 MiB, created)", "BOUND to backend user",
                "capacity  8388608 bytes", "VERSION_1", "verified  8.0 MiB written and read back",
                "device    net0 BOUND to backend user", "echo      sent 256 received 256 lost 0 reordered 0 corrupted 0");
        assertThat(Files.size(image)).isEqualTo(8L << 20);
        assertThat(work.resolve("run.sock")).doesNotExist();
    }
}
