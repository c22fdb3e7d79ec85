package com.vhost.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.vhost.devices.net.model.LoopbackNetModel;
import com.vhost.spi.nativeio.Linux;
import com.vhost.spi.nativeio.UnixSocket;
import com.vhost.user.backend.VhostUserServer;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code vhost serve blk|net} with the real model factories and back-end server in this JVM: the
 * socket's mode and group ({@code --socket-mode}, {@code --socket-group}), and the refusals of
 * issue #10 (a live server's socket, a file at the socket path, images that are no disk).
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ServeCommandTest {
    @TempDir
    Path dir;

    /** What the socket file looked like while the command served (its "Ctrl-C" is at once). */
    private final List<String> seen = new ArrayList<>();

    private final CapturingServices services = new CapturingServices() {
        @Override
        public void awaitShutdown() {
            Path sock = dir.resolve("s.sock");
            try {
                seen.add(PosixFilePermissions.toString(Files.getPosixFilePermissions(sock, LinkOption.NOFOLLOW_LINKS)) + " "
                        + Files.getAttribute(sock, "posix:group", LinkOption.NOFOLLOW_LINKS));
                try (UnixSocket c = UnixSocket.connect(sock, 1000)) {
                    seen.add("connected");
                }
            } catch (Exception e) {
                seen.add(e.toString());
            }
        }
    };

    private int run(String... args) {
        return VhostCli.execute(services, args);
    }

    private String sock() {
        return dir.resolve("s.sock").toString();
    }

    private String err() {
        return services.errText.toString();
    }

    @Test
    void helpNamesTheSocketOptions() {
        assertThat(run("serve", "blk", "--help")).isZero();
        assertThat(run("serve", "net", "--help")).isZero();
        String out = services.outText.toString();
        assertThat(out).contains("Usage: vhost serve blk", "Usage: vhost serve net", "--socket-mode=MODE", "--socket-group=GROUP",
                "default 0600", "--image=FILE");
    }

    @Test
    void theSocketIsPrivateByDefaultEvenUnderUmask000() {
        int old = Linux.umask(0);
        try {
            assertThat(run("serve", "blk", "--memory", "1M", "--socket", sock())).as(err()).isZero();
        } finally {
            Linux.umask(old);
        }
        assertThat(seen).hasSize(2);
        assertThat(seen.get(0)).startsWith("rw------- ");
        assertThat(seen.get(1)).isEqualTo("connected");
        assertThat(services.outText.toString()).contains("serving virtio-blk memory, 1.0 MiB");
        assertThat(dir.resolve("s.sock")).doesNotExist();
    }

    @Test
    void aioEnginesAreNamedInTheAnnouncementAndBadOnesRefused() throws Exception {
        Path img = Files.write(dir.resolve("aio.img"), new byte[1 << 20]);
        boolean uring = com.vhost.spi.nativeio.IoUring.unavailableReason() == null;
        if (!uring && "true".equals(System.getenv("CI"))) {
            throw new AssertionError("io_uring is needed with CI=true: " + com.vhost.spi.nativeio.IoUring.unavailableReason());
        }
        assertThat(run("serve", "blk", "--image", img.toString(), "--socket", sock(), "--aio", "threads")).as(err()).isZero();
        assertThat(services.outText.toString()).contains("1 queue(s), aio threads, on ");
        assertThat(run("serve", "blk", "--image", img.toString(), "--socket", sock())).as(err()).isZero();
        assertThat(services.outText.toString()).contains(uring ? "aio io_uring, on " : "aio threads, on ");
        assertThat(run("serve", "blk", "--image", img.toString(), "--socket", sock(), "--aio", "posix")).isEqualTo(2); // usage
        assertThat(err()).contains("--aio posix is not one of io_uring, threads, auto");
        assertThat(run("serve", "blk", "--image", img.toString(), "--socket", sock(), "--aio", "threads", "--direct"))
                .isEqualTo(1);
        assertThat(err()).contains("direct I/O (O_DIRECT) needs aio io_uring");
        assertThat(run("serve", "blk", "--memory", "1M", "--socket", sock(), "--direct")).isEqualTo(1);
        assertThat(err()).contains("--memory disks use --aio threads");
        assertThat(seen).hasSize(4); // the two served ones: mode line and connection each
    }

    @Test
    void socketModeAndGroupWidenIt() {
        assertThat(run("serve", "blk", "--memory", "1M", "--socket", sock(), "--socket-mode", "0660", "--socket-group", "daemon"))
                .as(err()).isZero();
        assertThat(run("serve", "net", "--loopback", "--socket", sock(), "--socket-mode", "666")).as(err()).isZero();
        assertThat(seen).containsExactly("rw-rw---- daemon", "connected", "rw-rw-rw- root", "connected");
    }

    @Test
    void badModesAndUnknownGroupsAreNamed() {
        assertThat(run("serve", "blk", "--memory", "1M", "--socket", sock(), "--socket-mode", "rw")).isEqualTo(2);
        assertThat(err()).contains("socket mode 'rw' is not an octal mode such as 0660");
        assertThat(run("serve", "blk", "--memory", "1M", "--socket", sock(), "--socket-mode", "0400")).isEqualTo(1);
        assertThat(err()).contains("vhost serve blk: socket mode 0400 must be within 0777 and give the owner read and write (0600)");
        assertThat(run("serve", "net", "--loopback", "--socket", sock(), "--socket-group", "no-such-group-x")).isEqualTo(1);
        assertThat(err()).contains("vhost serve net: socket group 'no-such-group-x' does not exist");
        assertThat(seen).isEmpty();
        assertThat(dir.resolve("s.sock")).doesNotExist();
    }

    @Test
    void aLiveServersSocketIsRefusedAndItKeepsServing() throws Exception {
        Path sock = dir.resolve("s.sock");
        try (LoopbackNetModel model = LoopbackNetModel.withDefaults(1); VhostUserServer live = new VhostUserServer(sock, model)) {
            live.start();
            assertThat(run("serve", "blk", "--memory", "1M", "--socket", sock.toString())).isEqualTo(1);
            assertThat(err()).contains("vhost serve blk: ", "socket " + sock + " is in use by another server");
            assertThat(run("serve", "net", "--loopback", "--socket", sock.toString())).isEqualTo(1);
            assertThat(err()).contains("vhost serve net: ", "socket " + sock + " is in use by another server");
            assertThat(seen).isEmpty();
            // the refused serves' probes are accepted one after another too; the live server must
            // still accept a front-end after them (bounded wait for its accept count to grow)
            long before = live.acceptedConnections();
            try (UnixSocket c = UnixSocket.connect(sock, 1000)) {
                long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(5);
                while (live.acceptedConnections() <= before && System.nanoTime() < deadline) {
                    Thread.sleep(5);
                }
                assertThat(live.acceptedConnections()).as("the live server accepted the new front-end").isGreaterThan(before);
            }
        }
    }

    @Test
    void aFileAtTheSocketPathIsRefusedAndLeftIntact() throws Exception {
        Path file = Files.writeString(dir.resolve("s.sock"), "not a socket");
        assertThat(run("serve", "blk", "--memory", "1M", "--socket", file.toString())).isEqualTo(1);
        assertThat(err()).contains(file + " exists and is a regular file, not a socket");
        assertThat(file).hasContent("not a socket");
    }

    @Test
    @Timeout(value = 20, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD) // even when stuck in open(2)
    void imagesThatAreNoDiskAreRefusedAtOnce() throws Exception {
        Path fifo = dir.resolve("fifo");
        assertThat(new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor()).isZero();
        assertThat(run("serve", "blk", "--image", fifo.toString(), "--readonly", "--socket", sock())).isEqualTo(1);
        assertThat(err()).contains("vhost serve blk: image " + fifo + " is a FIFO, not a regular file or block device");
        assertThat(run("serve", "blk", "--image", "/dev/null", "--socket", sock())).isEqualTo(1);
        assertThat(err()).contains("image /dev/null is a character device, not a regular file or block device");
        Path empty = Files.createFile(dir.resolve("empty.img"));
        assertThat(run("serve", "blk", "--image", empty.toString(), "--socket", sock())).isEqualTo(1);
        assertThat(err()).contains("image " + empty + " is empty (0 bytes)");
        Path odd = Files.write(dir.resolve("odd.img"), new byte[1000]);
        assertThat(run("serve", "blk", "--image", odd.toString(), "--socket", sock())).isEqualTo(1);
        assertThat(err()).contains("image " + odd + " is 1000 bytes, not a multiple of 512");
        assertThat(seen).isEmpty();
        assertThat(dir.resolve("s.sock")).doesNotExist();
        Path good = Files.write(dir.resolve("good.img"), new byte[1 << 20]);
        assertThat(run("serve", "blk", "--image", good.toString(), "--socket", sock())).as(err()).isZero();
        assertThat(services.outText.toString()).contains("serving virtio-blk " + good + ", 1.0 MiB");
        assertThat(seen).hasSize(2);
    }
}
