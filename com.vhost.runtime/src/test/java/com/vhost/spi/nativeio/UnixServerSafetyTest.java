package com.vhost.spi.nativeio;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.vhost.api.VhostNativeException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The listening socket is private whatever the umask, widened only on request, never takes a path
 * over from a live server and never replaces a file that is not a socket (issue #10, defects 6, 9).
 */
@Timeout(30)
class UnixServerSafetyTest {
    @TempDir
    Path dir;

    private static String perms(Path p) throws Exception {
        return PosixFilePermissions.toString(Files.getPosixFilePermissions(p, LinkOption.NOFOLLOW_LINKS));
    }

    @Test
    void socketIsOwnerOnlyEvenUnderUmask000() throws Exception {
        Path sock = dir.resolve("s.sock");
        int old = Linux.umask(0);
        try (UnixServer server = UnixServer.listen(sock)) {
            assertThat(Linux.lstat(sock.toString()).type()).isEqualTo(FileStat.S_IFSOCK);
            assertThat(perms(sock)).isEqualTo("rw-------");
        } finally {
            Linux.umask(old);
        }
        assertThat(sock).doesNotExist();
    }

    @Test
    void modeAndGroupWidenIt() throws Exception {
        Path sock = dir.resolve("s.sock");
        int old = Linux.umask(077);
        try (UnixServer server = UnixServer.listen(sock, 0660, "daemon")) {
            assertThat(perms(sock)).isEqualTo("rw-rw----");
            assertThat(Files.getAttribute(sock, "posix:group", LinkOption.NOFOLLOW_LINKS).toString()).isEqualTo("daemon");
            try (UnixSocket c = UnixSocket.connect(sock, 1000); UnixSocket s = server.accept(1000)) {
                assertThat(s).isNotNull();
            }
        } finally {
            Linux.umask(old);
        }
    }

    @Test
    void badModesAndUnknownGroupsAreRefusedBeforeBinding() {
        Path sock = dir.resolve("s.sock");
        assertThatThrownBy(() -> UnixServer.listen(sock, 0400, null)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("0400");
        assertThatThrownBy(() -> UnixServer.listen(sock, 01777, null)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> UnixServer.listen(sock, 0660, "no-such-group-x"))
                .isInstanceOf(IllegalArgumentException.class).hasMessage("socket group 'no-such-group-x' does not exist");
        assertThat(sock).doesNotExist();
    }

    @Test
    void aLiveServerKeepsItsPath() throws Exception {
        Path sock = dir.resolve("s.sock");
        try (UnixServer first = UnixServer.listen(sock)) {
            assertThatThrownBy(() -> UnixServer.listen(sock)).isInstanceOfSatisfying(VhostNativeException.class,
                    e -> assertThat(e.errno()).isEqualTo(UnixServer.EADDRINUSE))
                    .hasMessageContaining("socket " + sock + " is in use by another server");
            first.accept(1000).close(); // the probe's connection
            try (UnixSocket c = UnixSocket.connect(sock, 1000); UnixSocket s = first.accept(1000)) {
                assertThat(s).as("the first server still serves its path").isNotNull();
            }
        }
    }

    @Test
    void aStaleSocketIsReplaced() throws Exception {
        Path sock = dir.resolve("s.sock");
        try (ServerSocketChannel dead = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            dead.bind(UnixDomainSocketAddress.of(sock));
        } // closed without unlinking: a stale file as a killed process leaves
        assertThat(Linux.lstat(sock.toString()).type()).isEqualTo(FileStat.S_IFSOCK);
        try (UnixServer server = UnixServer.listen(sock); UnixSocket c = UnixSocket.connect(sock, 1000)) {
            assertThat(server.accept(1000)).isNotNull();
            assertThat(perms(sock)).isEqualTo("rw-------");
        }
    }

    @Test
    void aRegularFileOrFifoAtThePathIsRefusedAndLeftIntact() throws Exception {
        Path file = dir.resolve("precious.img");
        Files.writeString(file, "data");
        assertThatThrownBy(() -> UnixServer.listen(file)).isInstanceOfSatisfying(VhostNativeException.class,
                e -> assertThat(e.errno()).isEqualTo(UnixServer.EEXIST))
                .hasMessageContaining(file + " exists and is a regular file, not a socket");
        assertThat(file).hasContent("data");
        Path fifo = dir.resolve("fifo");
        assertThat(new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor()).isZero();
        assertThatThrownBy(() -> UnixServer.listen(fifo)).hasMessageContaining("is a FIFO, not a socket");
        assertThat(Linux.lstat(fifo.toString()).type()).isEqualTo(FileStat.S_IFIFO);
        Path sub = Files.createDirectory(dir.resolve("d"));
        assertThatThrownBy(() -> UnixServer.listen(sub)).hasMessageContaining("is a directory, not a socket");
    }

    @Test
    void statDescribesFileTypesAndSizes() throws Exception {
        Path file = dir.resolve("f");
        Files.write(file, new byte[1000]);
        FileStat st = Linux.stat(file.toString());
        assertThat(st.typeName()).isEqualTo("regular file");
        assertThat(st.size()).isEqualTo(1000);
        assertThat(Linux.stat("/dev/null").typeName()).isEqualTo("character device");
        int fd = Linux.open(file.toString(), Linux.O_RDWR);
        try {
            assertThat(Linux.fstat(fd)).isEqualTo(st);
        } finally {
            Linux.close(fd);
        }
        assertThatThrownBy(() -> Linux.stat(dir.resolve("missing").toString())).isInstanceOfSatisfying(
                VhostNativeException.class, e -> assertThat(e.errno()).isEqualTo(Linux.ENOENT));
    }
}
