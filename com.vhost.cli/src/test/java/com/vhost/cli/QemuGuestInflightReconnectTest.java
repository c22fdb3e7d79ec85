package com.vhost.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import com.vhost.user.interop.Peers;
import com.vhost.user.testing.ServerProcess;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Inflight I/O tracking with a real front-end (issue #11 item 4): a QEMU TCG guest (Debian 6.1
 * kernel, busybox initramfs of {@code scripts/guest/build-guest.sh}) whose own virtio-blk driver
 * writes a 4 MiB region in rounds (guest test {@code blkloop}: 4 parallel O_DIRECT writers, or a
 * buffered write and fsync, so requests are in flight) and reads each round back with O_DIRECT, over {@code -chardev socket,...,reconnect=1} to this platform's
 * back-end completing requests in random order ({@link SoakServe} {@code blk ... random}, what
 * {@code vhost serve blk --complete-order random} serves), which is SIGKILLed by PID and restarted
 * on the same socket and image several times meanwhile ({@code -Dvhost.guest.kills}, default 5).
 * QEMU 7.2 hands the restarted back-end the inflight region (GET/SET_INFLIGHT_FD) and restarts the
 * ring at its used index; the back-end resubmits what the killed one had taken. Passes when the
 * guest verified every round, and the image holds the last round's data.
 */
class QemuGuestInflightReconnectTest {
    private static final long IMAGE_BYTES = 16L << 20;
    private static final int MIB = 4;

    @TempDir
    Path dir;

    @Test
    @Timeout(value = 300, unit = TimeUnit.SECONDS)
    void aGuestKeepsEveryBlockWhileARandomOrderBackEndIsKilledAndRestarted() throws Exception {
        Path qemu = Peers.require("qemu-system-x86_64", "qemu-system-x86");
        Path[] guest = guestArtifacts();
        Path image = dir.resolve("disk.raw");
        try (RandomAccessFile f = new RandomAccessFile(image.toFile(), "rw")) {
            f.setLength(IMAGE_BYTES);
        }
        Path socket = dir.resolve("blk.sock");
        int kills = Integer.getInteger("vhost.guest.kills", 5);
        List<Path> logs = new ArrayList<>();
        ServerProcess server = start(socket, image, logs);
        Path serial = dir.resolve("serial.log");
        Process vm = null;
        try {
            vm = new ProcessBuilder(List.of(qemu.toString(), "-accel", "tcg", "-cpu", "max", "-smp", "1", "-m", "256M",
                    "-object", "memory-backend-memfd,id=mem,size=256M,share=on", "-numa", "node,memdev=mem",
                    "-kernel", guest[0].toString(), "-initrd", guest[1].toString(),
                    "-append", "console=ttyS0 quiet panic=-1 vtest=blkloop vtest_timeout=200 vtest_seconds=30 vtest_mib=" + MIB,
                    "-chardev", "socket,id=c0,path=" + socket + ",reconnect=1",
                    "-device", "vhost-user-blk-pci,chardev=c0,num-queues=1",
                    "-nographic", "-no-reboot", "-nodefaults", "-serial", "stdio"))
                    .redirectErrorStream(true).redirectOutput(serial.toFile()).start();
            awaitSerial(vm, serial, "VTEST-ROUND: 1", 60);
            int done = 0;
            while (done < kills && vm.isAlive()) {
                Thread.sleep(ThreadLocalRandom.current().nextLong(1500, 3000));
                if (!vm.isAlive() || Files.readString(serial, StandardCharsets.ISO_8859_1).contains("VTEST-RESULT")) {
                    break;
                }
                server.kill();
                done++;
                Files.deleteIfExists(socket);
                server = start(socket, image, logs);
            }
            if (!vm.waitFor(200, TimeUnit.SECONDS)) {
                fail("the guest did not finish within 200 s: " + tail(serial));
            }
            String out = Files.readString(serial, StandardCharsets.ISO_8859_1);
            assertThat(out).as("guest serial").contains("VTEST-RESULT: PASS");
            Matcher m = Pattern.compile("VTEST-ROUNDS: (\\d+)").matcher(out);
            assertThat(m.find()).as("rounds line in %s", tail(serial)).isTrue();
            int rounds = Integer.parseInt(m.group(1));
            server.kill();
            byte[] want = new byte[MIB << 20];
            byte[] line = ("round-" + rounds + "\n").getBytes(StandardCharsets.US_ASCII);
            for (int i = 0; i < want.length; i++) {
                want[i] = line[i % line.length];
            }
            byte[] got = new byte[want.length];
            try (RandomAccessFile f = new RandomAccessFile(image.toFile(), "r")) {
                f.readFully(got);
            }
            assertThat(got).as("image holds round %d", rounds).isEqualTo(want);
            long resubmitted = 0;
            int mapped = 0;
            for (Path l : logs) {
                String text = Files.readString(l);
                Matcher r = Pattern.compile("resubmits (\\d+) request").matcher(text);
                while (r.find()) {
                    resubmitted += Long.parseLong(r.group(1));
                }
                if (text.contains("inflight region of")) {
                    mapped++;
                }
                text.lines().filter(x -> x.contains("inflight") || x.contains("resubmits") || x.contains("ERROR"))
                        .forEach(x -> System.out.println(l.getFileName() + ": " + x.substring(x.indexOf(" - ") + 3)));
            }
            System.out.printf("guest inflight reconnect: %d kills, %d rounds verified, %d of %d back-ends given the region, %d request(s) resubmitted from it%n",
                    done, rounds, mapped, logs.size(), resubmitted);
            assertThat(done).as("kills while the guest ran").isPositive();
            assertThat(mapped).as("back-ends QEMU handed the inflight region (SET_INFLIGHT_FD)").isEqualTo(logs.size());
        } finally {
            if (vm != null) {
                ProcessHandle.of(vm.pid()).ifPresent(ProcessHandle::destroyForcibly);
                vm.waitFor(10, TimeUnit.SECONDS);
            }
            server.kill();
        }
    }

    private ServerProcess start(Path socket, Path image, List<Path> logs) throws Exception {
        Path log = dir.resolve("serve-" + logs.size() + ".log");
        logs.add(log);
        return ServerProcess.start(SoakServe.class, log, "blk", socket.toString(), image.toString(), "1", "random");
    }

    /** @return vmlinuz and initrd.gz, built (or found current) by scripts/guest/build-guest.sh */
    private Path[] guestArtifacts() throws Exception {
        Path repo = Path.of("").toAbsolutePath();
        while (repo != null && !Files.exists(repo.resolve("scripts/guest/build-guest.sh"))) {
            repo = repo.getParent();
        }
        if (repo == null) {
            fail("scripts/guest/build-guest.sh not found above " + Path.of("").toAbsolutePath());
        }
        Path cache = Path.of(System.getProperty("vhost.guest.cache", repo.resolve(".cache/guest").toString()));
        ProcessBuilder pb = new ProcessBuilder(repo.resolve("scripts/guest/build-guest.sh").toString());
        pb.environment().put("GUEST_CACHE_DIR", cache.toString());
        Path log = dir.resolve("build-guest.log");
        Process p = pb.redirectErrorStream(true).redirectOutput(log.toFile()).start();
        if (!p.waitFor(600, TimeUnit.SECONDS)) {
            p.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
            fail("build-guest.sh did not finish within 600 s: " + Files.readString(log));
        }
        if (p.exitValue() != 0) {
            String why = "build-guest.sh failed (exit " + p.exitValue() + "): " + Files.readString(log);
            if ("true".equals(System.getenv("CI"))) {
                fail(why);
            }
            Assumptions.abort(why);
        }
        return new Path[] {cache.resolve("vmlinuz"), cache.resolve("initrd.gz")};
    }

    private static void awaitSerial(Process vm, Path serial, String text, int seconds) throws Exception {
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (!Files.readString(serial, StandardCharsets.ISO_8859_1).contains(text)) {
            if (!vm.isAlive() || System.nanoTime() > until) {
                fail("no '" + text + "' from the guest within " + seconds + " s: " + tail(serial));
            }
            Thread.sleep(100);
        }
    }

    private static String tail(Path serial) throws Exception {
        String s = Files.readString(serial, StandardCharsets.ISO_8859_1);
        return s.substring(Math.max(0, s.length() - 3000));
    }
}
