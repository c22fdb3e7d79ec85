package com.vhost.devices.blk.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.vhost.api.VhostNativeException;
import com.vhost.api.registry.DeviceConfigKeys;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * What may be served as a disk (issue #10, defects 7 and 8): a regular file (or block device) of a
 * positive multiple of 512 bytes; everything else is refused at once, naming the path and why.
 */
@Timeout(10)
class ImageChecksTest {
    @TempDir
    Path dir;

    private static void refused(Path image, boolean readOnly, String message) {
        assertThatThrownBy(() -> FileBlockModel.open(image, readOnly, 1, 64)).isInstanceOf(IllegalArgumentException.class)
                .hasMessage(message);
    }

    @Test
    @Timeout(value = 5, threadMode = Timeout.ThreadMode.SEPARATE_THREAD) // a thread blocked in open(2) fails the test
    void aFifoIsRefusedWithoutHanging() throws Exception {
        Path fifo = dir.resolve("fifo");
        assertThat(new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor()).isZero();
        refused(fifo, true, "image " + fifo + " is a FIFO, not a regular file or block device");
        refused(fifo, false, "image " + fifo + " is a FIFO, not a regular file or block device");
    }

    @Test
    void devNullADirectoryAndASocketAreRefused() throws Exception {
        refused(Path.of("/dev/null"), true, "image /dev/null is a character device, not a regular file or block device");
        refused(Path.of("/dev/null"), false, "image /dev/null is a character device, not a regular file or block device");
        refused(dir, true, "image " + dir + " is a directory, not a regular file or block device");
        Path sock = dir.resolve("s.sock");
        try (ServerSocketChannel s = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            s.bind(UnixDomainSocketAddress.of(sock));
            refused(sock, false, "image " + sock + " is a socket, not a regular file or block device");
        }
    }

    @Test
    void anEmptyFileIsRefused() throws Exception {
        Path empty = Files.createFile(dir.resolve("empty.img"));
        refused(empty, false, "image " + empty + " is empty (0 bytes): a disk needs at least one 512-byte sector");
    }

    @Test
    void aSizeNotAMultipleOf512IsRefused() throws Exception {
        Path odd = Files.write(dir.resolve("odd.img"), new byte[1000]);
        refused(odd, false, "image " + odd + " is 1000 bytes, not a multiple of 512");
        refused(odd, true, "image " + odd + " is 1000 bytes, not a multiple of 512");
        assertThat(Files.size(odd)).isEqualTo(1000);
    }

    @Test
    void aMissingImageNamesThePathAndErrno() {
        Path missing = dir.resolve("missing.img");
        assertThatThrownBy(() -> FileBlockModel.open(missing, false, 1, 64)).isInstanceOfSatisfying(
                VhostNativeException.class, e -> assertThat(e.errno()).isEqualTo(2)).hasMessageContaining(missing.toString());
    }

    @Test
    void aMebibyteFileIsServedWithItsWholeCapacity() throws Exception {
        Path image = Files.write(dir.resolve("disk.img"), new byte[1 << 20]);
        try (FileBlockModel model = FileBlockModel.open(image, false, 1, 64)) {
            assertThat(BlkModelFactory.capacityOf(model)).isEqualTo(1 << 20);
        }
        Path link = Files.createSymbolicLink(dir.resolve("link.img"), image);
        try (FileBlockModel model = FileBlockModel.open(link, true, 1, 64)) {
            assertThat(BlkModelFactory.capacityOf(model)).as("a symbolic link to an image is followed").isEqualTo(1 << 20);
        }
    }

    @Test
    void theFactoryPassesTheRefusalOn() throws Exception {
        Path odd = Files.write(dir.resolve("odd.img"), new byte[1000]);
        assertThatThrownBy(() -> new BlkModelFactory().create(Map.of(DeviceConfigKeys.IMAGE, odd.toString())))
                .isInstanceOf(IllegalArgumentException.class).hasMessage("image " + odd + " is 1000 bytes, not a multiple of 512");
    }

    @Test
    void theFactorysModelCountsPerQueueAndInTotal() throws Exception {
        try (var model = new BlkModelFactory().create(Map.of(DeviceConfigKeys.MEMORY_SIZE, 1L << 20, DeviceConfigKeys.QUEUES, 2))) {
            assertThat(model.counters()).containsOnlyKeys("requests", "bytes.read", "bytes.written", "queue.0.requests",
                    "queue.0.bytes.read", "queue.0.bytes.written", "queue.1.requests", "queue.1.bytes.read", "queue.1.bytes.written");
            assertThat(model.counters().values()).containsOnly(0L);
        }
    }
}
