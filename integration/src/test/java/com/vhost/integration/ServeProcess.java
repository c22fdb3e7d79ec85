package com.vhost.integration;

import static org.junit.Assert.assertTrue;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * One of this project's vhost-user back-ends in its own JVM: {@code vhost.jar serve ...} from the
 * platform module's build, so that it keeps serving whatever happens to the bundles inside the
 * test's container. Stopped by PID (SIGTERM, SIGKILL after 5 s) on {@link #close()}.
 */
final class ServeProcess implements AutoCloseable {
    private final Process process;
    private final Path log;

    private ServeProcess(Process process, Path log) {
        this.process = process;
        this.log = log;
    }

    /**
     * Starts {@code vhost.jar serve <args>} and waits (30 s at most) until {@code socket} exists.
     *
     * @param workDir holds the process's output ({@code <name>.log}) and an empty FileInstall
     *     folder, so that it loads no configuration
     * @param name a short name for the log file
     * @param socket the socket the command listens on (given in {@code args} too)
     * @param args the words after {@code serve}, e.g. {@code net --loopback --socket S}
     * @throws AssertionError when vhost.jar is not built, or the process exits or takes longer
     *     than 30 s (its output is in the message)
     */
    static ServeProcess start(Path workDir, String name, Path socket, String... args) throws Exception {
        Path jar = Path.of(System.getProperty("vhost.reactor.dir", ".."), "platform", "target", "vhost.jar").toAbsolutePath();
        assertTrue("the platform module exported " + jar, Files.exists(jar));
        Path fileInstall = Files.createDirectories(workDir.resolve(name + "-fileinstall"));
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-Xmx96m", "-Dfelix.fileinstall.dir=" + fileInstall,
                "-jar", jar.toString(), "serve"));
        cmd.addAll(List.of(args));
        Path log = workDir.resolve(name + ".log");
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
        ServeProcess s = new ServeProcess(p, log);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!Files.exists(socket)) {
            if (!p.isAlive() || System.nanoTime() > deadline) {
                s.close();
                throw new AssertionError("vhost serve " + String.join(" ", args) + " did not create " + socket + ": "
                        + Files.readString(log));
            }
            Thread.sleep(50);
        }
        return s;
    }

    /** @return what the process printed so far */
    String output() throws java.io.IOException {
        return Files.readString(log);
    }

    @Override
    public void close() throws InterruptedException {
        process.toHandle().destroy();
        if (!process.waitFor(5, TimeUnit.SECONDS)) {
            process.toHandle().destroyForcibly();
            process.waitFor(5, TimeUnit.SECONDS);
        }
    }
}
