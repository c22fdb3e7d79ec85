package com.vhost.user.testing;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A back-end in a JVM of its own, so that a test can make it die abruptly (SIGKILL): a main class
 * on this test's class path that prints {@code serving} on its standard output once it listens
 * (e.g. {@code ServeBlk}, {@code ServeNet} of the device modules). {@link #start} waits, bounded,
 * until it serves; {@link #kill} and {@link #close} stop it by its PID and wait, bounded, for it
 * to be gone.
 */
public final class ServerProcess implements AutoCloseable {
    private static final long START_SECONDS = 30;
    private static final long STOP_SECONDS = 10;

    private final Process process;
    private final Path log;

    private ServerProcess(Process process, Path log) {
        this.process = process;
        this.log = log;
    }

    /**
     * @param main the main class
     * @param log file for its standard output and error
     * @param args its arguments
     * @return the process, serving
     * @throws AssertionError when it exits or does not print {@code serving} within 30 s (it is
     *     then killed)
     */
    public static ServerProcess start(Class<?> main, Path log, String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"), main.getName()));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        ServerProcess s = new ServerProcess(p, log);
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(START_SECONDS);
        while (!(Files.exists(log) && Files.readString(log).contains("serving"))) {
            if (!p.isAlive() || System.nanoTime() > until) {
                s.kill();
                throw new AssertionError(main.getSimpleName() + " " + String.join(" ", args) + " did not start: "
                        + Files.readString(log));
            }
            Thread.sleep(20);
        }
        return s;
    }

    /** @return the process id */
    public long pid() {
        return process.pid();
    }

    /** @return whether it still runs */
    public boolean isAlive() {
        return process.isAlive();
    }

    /** @return what it printed so far */
    public String log() throws IOException {
        return Files.exists(log) ? Files.readString(log) : "";
    }

    /**
     * Kills it with SIGKILL (by PID) and waits up to 10 s for it to be gone.
     *
     * @throws AssertionError when it still runs after that
     */
    public void kill() throws InterruptedException {
        ProcessHandle.of(process.pid()).ifPresent(ProcessHandle::destroyForcibly);
        if (!process.waitFor(STOP_SECONDS, TimeUnit.SECONDS)) {
            throw new AssertionError("back-end process " + process.pid() + " still runs " + STOP_SECONDS + " s after SIGKILL");
        }
    }

    @Override
    public void close() throws InterruptedException {
        kill();
    }
}
