package com.vhost.devices.blk.driver;

import static org.assertj.core.api.Assertions.assertThat;

import com.vhost.api.VhostTarget;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.user.VhostUserOps;
import com.vhost.user.interop.Peers;
import java.io.RandomAccessFile;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link BlkDriverOptions#packed()} against qemu-storage-daemon 7.2, which does not offer
 * VIRTIO_F_RING_PACKED (features 0x175007e46): the driver falls back to split virtqueues, its rings
 * are split, and I/O works — blocks written through it are in the raw image, read back with plain
 * Java file reads after the daemon stopped. Skipped when qemu-storage-daemon is missing (a failure
 * when {@code CI=true}); the daemon is stopped by PID.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class QsdPackedFallbackTest {
    private static final long IMAGE_BYTES = 16L << 20;

    @TempDir
    Path dir;

    @Test
    void packedAskedOfQsdFallsBackToSplitAndWritesLandInTheImage() throws Exception {
        Path img = dir.resolve("disk.raw");
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
            f.setLength(IMAGE_BYTES);
        }
        Map<Long, byte[]> written = new LinkedHashMap<>();
        Random rnd = new Random(34);
        try (Peers.Qsd qsd = Peers.Qsd.raw(dir, img, 1)) {
            try (VirtioBlkDriver dev = BlockDevices.open(new VhostUserOps().open(VhostTarget.of(qsd.socket().toString())),
                    BlkDriverOptions.defaults().withPacked(true))) {
                long acked = dev.info().features();
                assertThat(VirtioFeatures.has(acked, VirtioFeatures.F_RING_PACKED)).as("acked 0x%x", acked).isFalse();
                assertThat(VirtioFeatures.has(acked, VirtioFeatures.F_VERSION_1)).isTrue();
                assertThat(dev.ringQueue(0).isPacked()).isFalse();
                for (int i = 0; i < 200; i++) {
                    long off = (long) i * 65536 + 512L * rnd.nextInt(64);
                    byte[] data = new byte[512 * (1 + rnd.nextInt(16))];
                    rnd.nextBytes(data);
                    MemorySegment buf = dev.allocateBuffer(data.length);
                    buf.copyFrom(MemorySegment.ofArray(data));
                    dev.write(0, off, buf).get(10, TimeUnit.SECONDS);
                    written.put(off, data);
                }
                dev.flush().get(10, TimeUnit.SECONDS);
                for (Map.Entry<Long, byte[]> e : written.entrySet()) {
                    byte[] back = new byte[e.getValue().length];
                    dev.read(0, e.getKey(), MemorySegment.ofArray(back)).get(10, TimeUnit.SECONDS);
                    assertThat(back).as("read back at %d", e.getKey()).isEqualTo(e.getValue());
                }
            }
        }
        assertThat(Files.size(img)).isEqualTo(IMAGE_BYTES);
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "r")) {
            for (Map.Entry<Long, byte[]> e : written.entrySet()) {
                byte[] onDisk = new byte[e.getValue().length];
                f.seek(e.getKey());
                f.readFully(onDisk);
                assertThat(onDisk).as("image bytes at %d", e.getKey()).isEqualTo(e.getValue());
            }
        }
    }
}
