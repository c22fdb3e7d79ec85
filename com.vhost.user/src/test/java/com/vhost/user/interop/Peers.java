package com.vhost.user.interop;

import static org.assertj.core.api.Assertions.fail;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;

/**
 * Real peers for interop tests: finds their binaries (a missing one skips the test with the
 * package to install, or fails it when {@code CI=true}), starts qemu-storage-daemon as a child
 * process stopped by PID within a bound, and runs short commands such as {@code qemu-img}.
 */
public final class Peers {
    private Peers() {}

    /**
     * @param binary command name looked up on PATH
     * @param debianPackage the package that provides it, for the skip/failure message
     * @return its path
     */
    public static Path require(String binary, String debianPackage) {
        for (String d : System.getenv().getOrDefault("PATH", "/usr/bin:/bin").split(":")) {
            Path p = Path.of(d, binary);
            if (Files.isExecutable(p)) {
                return p;
            }
        }
        String why = binary + " is not installed (Debian package " + debianPackage + "; scripts/install-deps.sh installs it)";
        if ("true".equals(System.getenv("CI"))) {
            fail("CI=true and " + why);
        }
        Assumptions.abort(why);
        return null;
    }

    /**
     * Runs a short command to completion.
     *
     * @return its exit code
     * @throws AssertionError when it does not finish within {@code timeoutSeconds} (it is killed)
     */
    public static int run(List<String> cmd, Path log, int timeoutSeconds) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
            p.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
            fail(String.join(" ", cmd) + " did not finish within " + timeoutSeconds + " s");
        }
        return p.exitValue();
    }

    /** One qemu-storage-daemon process exporting a node as vhost-user-blk. */
    public static final class Qsd implements AutoCloseable {
        private final Process process;
        private final Path socket;
        private final Path log;

        private Qsd(Process process, Path socket, Path log) {
            this.process = process;
            this.socket = socket;
            this.log = log;
        }

        /**
         * Starts qemu-storage-daemon with {@code blockdevs} and exports {@code node} writable on a
         * socket in {@code dir} with {@code queues} queues; waits (10 s at most) for the socket.
         */
        public static Qsd start(Path dir, List<String> blockdevs, String node, int queues) throws Exception {
            Path bin = require("qemu-storage-daemon", "qemu-system-common");
            Path sock = dir.resolve("qsd-" + System.nanoTime() + ".sock");
            Path log = dir.resolve(sock.getFileName() + ".log");
            List<String> cmd = new ArrayList<>();
            cmd.add(bin.toString());
            for (String b : blockdevs) {
                cmd.add("--blockdev");
                cmd.add(b);
            }
            cmd.add("--export");
            cmd.add("type=vhost-user-blk,id=exp0,node-name=" + node + ",addr.type=unix,addr.path=" + sock
                    + ",writable=on,num-queues=" + queues);
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
            Qsd q = new Qsd(p, sock, log);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (!Files.exists(sock)) {
                if (!p.isAlive()) {
                    q.close();
                    fail("qemu-storage-daemon exited with " + p.exitValue() + ": " + Files.readString(log));
                }
                if (System.nanoTime() > deadline) {
                    q.close();
                    fail("qemu-storage-daemon did not create " + sock + " within 10 s: " + Files.readString(log));
                }
                Thread.sleep(20);
            }
            return q;
        }

        /** A raw file export: {@code driver=file} under {@code driver=raw}. */
        public static Qsd raw(Path dir, Path image, int queues) throws Exception {
            return start(dir, List.of("driver=file,node-name=file0,filename=" + image,
                    "driver=raw,node-name=fmt0,file=file0"), "fmt0", queues);
        }

        public Path socket() {
            return socket;
        }

        public Process process() {
            return process;
        }

        public String log() throws IOException {
            return Files.readString(log);
        }

        /** SIGTERM to this PID, SIGKILL after 5 s; removes the socket file it may leave. */
        @Override
        public void close() throws InterruptedException, IOException {
            ProcessHandle h = process.toHandle();
            h.destroy();
            if (!process.waitFor(5, TimeUnit.SECONDS)) {
                h.destroyForcibly();
                process.waitFor(5, TimeUnit.SECONDS);
            }
            Files.deleteIfExists(socket);
        }
    }
}
