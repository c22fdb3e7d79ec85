package com.vhost.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.vhost.api.VhostBackend;
import com.vhost.api.VhostOps;
import com.vhost.api.VhostTarget;
import com.vhost.api.blk.BlockDevice;
import com.vhost.user.VhostUserOps;
import com.vhost.user.interop.Peers;
import com.vhost.user.testing.ServerProcess;
import java.io.PrintWriter;
import java.io.RandomAccessFile;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The kill -9 soak of {@code vhost blk verify --reconnect} (issue #10): the verify workload runs
 * in this JVM on a driver that waits for a reconnect ({@link BlkVerify}, what the command runs),
 * while its back-end, a separate process on one socket over one image file, is SIGKILLed by PID at
 * random moments and restarted on the same socket and image. Cycles: {@code -Dvhost.soak.cycles}
 * (default 20) against this platform's back-end ({@link SoakServe}), {@code -Dvhost.soak.qsd.cycles}
 * (default 20) against qemu-storage-daemon. Afterwards nothing may be lost, duplicated or
 * corrupted, and the driver must have reconnected once per kill.
 */
class ReconnectSoakTest {
    private static final int QUEUES = 2;
    private static final long IMAGE_BYTES = 16L << 20;
    private static final long WAIT_MS = 30_000;

    @TempDir
    Path dir;

    @Test
    @Timeout(value = 300, unit = TimeUnit.SECONDS)
    void ourServerKilledAndRestartedLosesNothing() throws Exception {
        Path image = image();
        Path socket = dir.resolve("blk.sock");
        int[] n = {0};
        soak(Integer.getInteger("vhost.soak.cycles", 20), socket, () -> {
            Path log = dir.resolve("serve-" + n[0]++ + ".log");
            return ServerProcess.start(SoakServe.class, log, "blk", socket.toString(), image.toString(), Integer.toString(QUEUES))::kill;
        });
    }

    /**
     * The same with the back-end on io_uring ({@code -Dvhost.soak.uring.cycles}, default 10): a
     * SIGKILL finds requests in flight in the kernel's ring, which the restarted back-end gets again.
     */
    @Test
    @Timeout(value = 300, unit = TimeUnit.SECONDS)
    void ourIoUringServerKilledAndRestartedLosesNothing() throws Exception {
        String why = com.vhost.spi.nativeio.IoUring.unavailableReason();
        if (why != null && "true".equals(System.getenv("CI"))) {
            throw new AssertionError("io_uring is needed with CI=true: " + why);
        }
        org.junit.jupiter.api.Assumptions.assumeTrue(why == null, "io_uring unavailable: " + why);
        Path image = image();
        Path socket = dir.resolve("uring.sock");
        int[] n = {0};
        soak(Integer.getInteger("vhost.soak.uring.cycles", 10), socket, () -> {
            Path log = dir.resolve("uring-" + n[0]++ + ".log");
            return ServerProcess.start(SoakServe.class, log, "blk", socket.toString(), image.toString(), Integer.toString(QUEUES),
                    "io_uring")::kill;
        });
    }

    /**
     * Inflight I/O tracking (issue #11 item 4): the back-end completes requests in random order,
     * so at a kill the requests it took and did not complete are no prefix of the avail ring; the
     * driver leaves them on the rings and hands the restarted back-end the same inflight region,
     * from which it resubmits exactly those. Cycles: {@code -Dvhost.soak.inflight.cycles} (default 10).
     */
    @Test
    @Timeout(value = 300, unit = TimeUnit.SECONDS)
    void ourServerCompletingInRandomOrderResubmitsFromTheInflightRegion() throws Exception {
        Path image = image();
        Path socket = dir.resolve("blk-inflight.sock");
        int[] n = {0};
        soak(Integer.getInteger("vhost.soak.inflight.cycles", 10), socket, () -> {
            Path log = dir.resolve("inflight-" + n[0]++ + ".log");
            return ServerProcess.start(SoakServe.class, log, "blk", socket.toString(), image.toString(), Integer.toString(QUEUES),
                    "random")::kill;
        });
        long resubmitted = 0;
        int restarts = 0;
        for (int i = 0; i < n[0]; i++) {
            for (String line : Files.readAllLines(dir.resolve("inflight-" + i + ".log"))) {
                java.util.regex.Matcher m = java.util.regex.Pattern.compile("resubmits (\\d+) request").matcher(line);
                if (m.find()) {
                    resubmitted += Long.parseLong(m.group(1));
                    restarts++;
                }
                assertThat(line).as("server %d", i).doesNotContain("ERROR");
            }
        }
        System.out.printf("soak inflight: %d queue starts resubmitted %d request(s) from the region%n", restarts, resubmitted);
        assertThat(resubmitted).as("requests resubmitted from the inflight region over %d kills", n[0] - 1).isPositive();
    }

    @Test
    @Timeout(value = 300, unit = TimeUnit.SECONDS)
    void qemuStorageDaemonKilledAndRestartedLosesNothing() throws Exception {
        Path bin = Peers.require("qemu-storage-daemon", "qemu-system-common");
        Path image = image();
        Path socket = dir.resolve("qsd.sock");
        int[] n = {0};
        soak(Integer.getInteger("vhost.soak.qsd.cycles", 20), socket, () -> {
            Files.deleteIfExists(socket); // a SIGKILLed qsd leaves its socket file
            Path log = dir.resolve("qsd-" + n[0]++ + ".log");
            Process p = new ProcessBuilder(List.of(bin.toString(), "--blockdev",
                    "driver=file,node-name=file0,filename=" + image, "--blockdev", "driver=raw,node-name=fmt0,file=file0",
                    "--export", "type=vhost-user-blk,id=exp0,node-name=fmt0,addr.type=unix,addr.path=" + socket
                            + ",writable=on,num-queues=" + QUEUES))
                    .redirectErrorStream(true).redirectOutput(log.toFile()).start();
            long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (!Files.exists(socket)) {
                if (!p.isAlive() || System.nanoTime() > until) {
                    kill(p);
                    throw new AssertionError("qemu-storage-daemon did not listen on " + socket + ": " + Files.readString(log));
                }
                Thread.sleep(10);
            }
            return () -> kill(p);
        });
    }

    private Path image() throws Exception {
        Path image = dir.resolve("disk-" + System.nanoTime() + ".img");
        try (RandomAccessFile f = new RandomAccessFile(image.toFile(), "rw")) {
            f.setLength(IMAGE_BYTES);
        }
        return image;
    }

    private void soak(int cycles, Path socket, SoakCycles.Backend backend) throws Exception {
        StringWriter logText = new StringWriter();
        PrintWriter log = new PrintWriter(logText, true);
        BlockDevice dev = null;
        BlkVerify v = null;
        long t0 = System.nanoTime();
        try (SoakCycles soak = new SoakCycles(backend)) {
            try {
                VhostOps ops = new VhostUserOps();
                BlkTools tools = new CapturingServices() {}.blkTools();
                dev = tools.openReconnectable(ops.open(target(socket, 5_000)), QUEUES, 256, false, WAIT_MS);
                BlkTools.Reconnectable r = tools.reconnectable(dev);
                VhostTarget again = target(socket, 500);
                v = new BlkVerify(dev, IMAGE_BYTES, 4096, QUEUES, 8, r::completedRequests, r, () -> ops.open(again), WAIT_MS, log);
                v.start();
                for (int c = 1; c <= cycles; c++) {
                    soak.cycle(c, v::writes, v::reconnects, logText::toString);
                }
                Thread.sleep(300);
                BlkVerify.Outcome o = v.stop();
                v = null;
                System.out.printf("soak %s: %d cycles in %d ms: writes %d reads %d reconnects %d %s%n", socket.getFileName(),
                        cycles, TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0), o.writes(), o.reads(), o.reconnects(),
                        o.counts());
                assertThat(o.counts()).as("first error: %s", o.firstError()).isEqualTo("lost 0 duplicated 0 corrupted 0");
                assertThat(o.firstError()).isNull();
                assertThat(o.reconnects()).isEqualTo(cycles);
                assertThat(o.writes()).isPositive();
            } finally {
                if (v != null) {
                    v.stop();
                }
                if (dev != null) {
                    dev.close();
                }
            }
        }
    }

    /** @return a vhost-user target for {@code socket} that retries connecting for {@code connectTimeoutMs} */
    static VhostTarget target(Path socket, long connectTimeoutMs) {
        return DriverConnection.connectTarget(socket, connectTimeoutMs);
    }

    /** SIGKILL by PID, then wait (bounded) until it is gone. */
    private static void kill(Process p) throws InterruptedException {
        ProcessHandle.of(p.pid()).ifPresent(ProcessHandle::destroyForcibly);
        if (!p.waitFor(10, TimeUnit.SECONDS)) {
            throw new AssertionError("process " + p.pid() + " still runs 10 s after SIGKILL");
        }
    }
}
