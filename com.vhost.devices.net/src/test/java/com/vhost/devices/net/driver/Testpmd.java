package com.vhost.devices.net.driver;

import static org.assertj.core.api.Assertions.fail;

import com.vhost.user.interop.Peers;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One DPDK {@code dpdk-testpmd} process (package dpdk-dev with librte-net-vhost23,
 * librte-net-virtio23, librte-mempool-ring23), without hugepages or PCI: a vhost PMD port
 * ({@code net_vhost0}, the vhost-user back-end, listening on a socket) or a virtio_user port
 * ({@code net_virtio_user0}, the front-end, connecting to one). It forwards until stopped; stopping
 * (SIGINT to its PID, SIGKILL after 10 s) makes it print its port statistics, which
 * {@link #stats()} parses.
 */
final class Testpmd implements AutoCloseable {
    private final Process process;
    private final Path log;
    private final Path socket;
    private boolean stopped;

    private Testpmd(Process process, Path log, Path socket) {
        this.process = process;
        this.log = log;
        this.socket = socket;
    }

    /**
     * @param vdev the {@code --vdev} argument
     * @param mode forward mode (io, macswap, rxonly, txonly)
     * @param queues rx and tx queues of the port
     * @param extra more testpmd application arguments
     */
    static Testpmd start(Path dir, String prefix, String vdev, Path socket, String mode, int queues, List<String> extra)
            throws IOException {
        Path bin = Peers.require("dpdk-testpmd", "dpdk-dev");
        Path log = dir.resolve(prefix + ".log");
        List<String> cmd = new ArrayList<>(List.of(bin.toString(), "-l", "0,1", "--main-lcore", "0", "--no-huge", "-m", "512",
                "--no-pci", "--file-prefix=" + prefix + ProcessHandle.current().pid(), "--vdev", vdev, "--",
                "--forward-mode=" + mode, "--nb-cores=1", "--total-num-mbufs=32768", "--rxq=" + queues, "--txq=" + queues,
                // no link-status wait before forwarding: a vhost port's link is up only once a front-end
                // is ready (testpmd's check busy-waits up to 9 s on the main lcore); awaitVhostReady
                // checks readiness itself
                "--disable-link-check", "--stats-period=0"));
        cmd.removeIf(s -> s.equals("--stats-period=0"));
        cmd.addAll(extra);
        // testpmd prints with stdio: to a file its stdout is block-buffered, so "Press enter to
        // exit" (which awaitVhostReady waits for) reached the log only once 4 KiB more followed;
        // CI runs timed out after 60 s with testpmd forwarding. Line-buffered, each line is there
        // when printed (stdbuf execs testpmd: same PID, stopped by stop()).
        Path stdbuf = Path.of("/usr/bin/stdbuf");
        if (Files.isExecutable(stdbuf)) {
            cmd.addAll(0, List.of(stdbuf.toString(), "-oL"));
        }
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        return new Testpmd(p, log, socket);
    }

    /** Waits (bounded) for the vhost PMD's socket file. */
    Testpmd awaitSocket(long ms) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(ms);
        while (!Files.exists(socket)) {
            if (!process.isAlive()) {
                fail("dpdk-testpmd exited with " + process.exitValue() + ": " + log());
            }
            if (System.nanoTime() > deadline) {
                fail("dpdk-testpmd did not create " + socket + " within " + ms + " ms: " + log());
            }
            Thread.sleep(20);
        }
        return this;
    }

    /**
     * Waits (bounded) until testpmd's vhost PMD forwards on {@code pairs} queue pairs of a
     * front-end that has finished its setup: testpmd started forwarding ("Press enter to exit",
     * printed after it flushed its RX queues: frames sent before that flush are dropped by it), the
     * vhost library found the device ready ("virtio is now ready for processing", the port's link
     * up), and the last SET_VRING_ENABLE of each of the {@code 2 * pairs} vrings enabled it
     * (testpmd drops what it forwards to a vring still disabled). A front-end that sends before
     * this may lose its first frames to testpmd.
     */
    /**
     * Bound for {@link #awaitVhostReady}, ms: a CI run under load once needed more than 20 s for
     * testpmd's start (its link check, now off with {@code --disable-link-check}, waited up to 9 s
     * per port before forwarding).
     */
    static final long READY_MS = 60_000;

    Testpmd awaitVhostReady(int pairs, long ms) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(ms);
        while (!vhostReady(log(), pairs)) {
            if (!process.isAlive()) {
                fail("dpdk-testpmd exited with " + process.exitValue() + ": " + log());
            }
            if (System.nanoTime() > deadline) {
                fail("dpdk-testpmd did not forward on " + pairs + " ready queue pair(s) within " + ms + " ms: " + log());
            }
            Thread.sleep(20);
        }
        return this;
    }

    private static boolean vhostReady(String log, int pairs) {
        if (!log.contains("Press enter to exit") || !log.contains("virtio is now ready for processing")) {
            return false;
        }
        for (int vring = 0; vring < 2 * pairs; vring++) {
            Matcher m = Pattern.compile("set queue enable: (\\d+) to qp idx: " + vring + "\\b").matcher(log);
            String last = null;
            while (m.find()) {
                last = m.group(1);
            }
            if (!"1".equals(last)) {
                return false;
            }
        }
        return true;
    }

    /** Waits (bounded) until the log contains {@code text}. */
    boolean awaitLog(String text, long ms) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(ms);
        while (System.nanoTime() < deadline) {
            if (log().contains(text)) {
                return true;
            }
            if (!process.isAlive()) {
                return log().contains(text);
            }
            Thread.sleep(50);
        }
        return false;
    }

    String log() throws IOException {
        return Files.exists(log) ? Files.readString(log) : "";
    }

    boolean isAlive() {
        return process.isAlive();
    }

    /** Stops forwarding and exits: a newline on stdin (testpmd's "Press enter to exit"), SIGINT, then SIGKILL. */
    void stop() throws Exception {
        if (stopped) {
            return;
        }
        stopped = true;
        try (OutputStream in = process.getOutputStream()) {
            in.write('\n');
            in.flush();
        } catch (IOException e) {
            // already gone
        }
        if (!process.waitFor(10, TimeUnit.SECONDS)) {
            new ProcessBuilder("kill", "-INT", Long.toString(process.pid())).start().waitFor(5, TimeUnit.SECONDS);
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                process.toHandle().destroyForcibly();
                process.waitFor(5, TimeUnit.SECONDS);
            }
        }
    }

    /** Port statistics from the exit summary ("RX-packets: N ... TX-packets: M"), summed over ports. */
    long[] stats() throws IOException {
        String text = log();
        int at = text.lastIndexOf("Accumulated forward statistics for all ports");
        if (at < 0) {
            fail("no statistics in the testpmd log: " + text);
        }
        String tail = text.substring(at);
        Matcher rx = Pattern.compile("RX-packets:\\s*(\\d+)\\s+RX-dropped:\\s*(\\d+)").matcher(tail);
        Matcher tx = Pattern.compile("TX-packets:\\s*(\\d+)\\s+TX-dropped:\\s*(\\d+)").matcher(tail);
        if (!rx.find() || !tx.find()) {
            fail("cannot parse testpmd statistics: " + tail);
        }
        return new long[] {Long.parseLong(rx.group(1)), Long.parseLong(rx.group(2)), Long.parseLong(tx.group(1)),
                Long.parseLong(tx.group(2))};
    }

    @Override
    public void close() throws Exception {
        stop();
        if (socket != null) {
            Files.deleteIfExists(socket);
        }
    }
}
