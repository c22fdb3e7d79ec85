package com.vhost.devices.blk.driver;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.vhost.api.VirtioDeviceException;
import com.vhost.devices.blk.model.FileBlockModel;
import java.io.RandomAccessFile;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The driver against the project's own, independently written device model
 * ({@link FileBlockModel}, the back-end side), joined in-process by {@link ModelVhostBackend}.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class VirtioBlkDriverOnModelTest {
    @TempDir
    Path dir;

    @Test
    void randomBlocksLandInTheImageFile() throws Exception {
        Path img = dir.resolve("disk.raw");
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
            f.setLength(16L << 20);
        }
        Random rnd = new Random(5);
        Map<Long, byte[]> written = new HashMap<>();
        try (FileBlockModel model = FileBlockModel.open(img, false, 2, 128);
                VirtioBlkDriver dev = BlockDevices.open(new ModelVhostBackend(model), new BlkDriverOptions(2, 128, false, 4L << 20))) {
            assertThat(dev.info().capacityBytes()).isEqualTo(16L << 20);
            assertThat(dev.info().numQueues()).isEqualTo(2);
            List<CompletableFuture<Void>> fs = new ArrayList<>();
            for (int i = 0; i < 48; i++) {
                long off = (long) rnd.nextInt(2048) * 8192;
                if (written.containsKey(off)) {
                    continue;
                }
                byte[] d = new byte[512 * (1 + rnd.nextInt(16))];
                rnd.nextBytes(d);
                written.put(off, d);
                MemorySegment src = i % 3 == 0 ? MemorySegment.ofArray(d.clone()) : dev.allocateBuffer(d.length).copyFrom(MemorySegment.ofArray(d));
                fs.add(dev.write(i % 2, off, src));
            }
            CompletableFuture.allOf(fs.toArray(CompletableFuture[]::new)).get(20, TimeUnit.SECONDS);
            dev.flush(0).get(5, TimeUnit.SECONDS);
            for (var e : written.entrySet()) {
                byte[] back = new byte[e.getValue().length];
                dev.read(1, e.getKey(), MemorySegment.ofArray(back)).get(5, TimeUnit.SECONDS);
                assertThat(back).isEqualTo(e.getValue());
            }
            assertThat(dev.getId(0).get(5, TimeUnit.SECONDS)).isNotEmpty();
        }
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "r")) {
            for (var e : written.entrySet()) {
                byte[] onDisk = new byte[e.getValue().length];
                f.seek(e.getKey());
                f.readFully(onDisk);
                assertThat(onDisk).as("image at %d", e.getKey()).isEqualTo(e.getValue());
            }
        }
    }

    @Test
    void discardWriteZeroesAndReadOnlyModel() throws Exception {
        try (FileBlockModel model = FileBlockModel.inMemory(4L << 20, 1, 64);
                VirtioBlkDriver dev = BlockDevices.open(new ModelVhostBackend(model), new BlkDriverOptions(1, 64, true, 1L << 20))) {
            MemorySegment buf = dev.allocateBuffer(8192);
            buf.fill((byte) 0x77);
            dev.write(0, 0, buf).get(5, TimeUnit.SECONDS);
            dev.writeZeroes(0, 4096, 4096, false).get(5, TimeUnit.SECONDS);
            dev.read(0, 0, buf).get(5, TimeUnit.SECONDS);
            assertThat(buf.get(java.lang.foreign.ValueLayout.JAVA_BYTE, 0)).isEqualTo((byte) 0x77);
            assertThat(buf.get(java.lang.foreign.ValueLayout.JAVA_BYTE, 4096)).isZero();
            dev.discard(0, 0, 4096).get(5, TimeUnit.SECONDS);
        }
        Path img = dir.resolve("ro.raw");
        Files.write(img, new byte[1 << 20]);
        try (FileBlockModel model = FileBlockModel.open(img, true, 1, 128);
                VirtioBlkDriver dev = BlockDevices.open(new ModelVhostBackend(model), BlkDriverOptions.defaults())) {
            assertThat(dev.info().readOnly()).isTrue();
            dev.read(0, dev.allocateBuffer(512)).get(5, TimeUnit.SECONDS);
            assertThatThrownBy(() -> dev.write(0, dev.allocateBuffer(512)).get()).cause()
                    .isInstanceOf(VirtioDeviceException.class).hasMessageContaining("read-only");
        }
    }

    @Test
    void sleepAndWakeThroughTheModel() throws Exception {
        try (FileBlockModel model = FileBlockModel.inMemory(1L << 20, 1, 128);
                VirtioBlkDriver dev = BlockDevices.open(new ModelVhostBackend(model), BlkDriverOptions.defaults())) {
            MemorySegment buf = dev.allocateBuffer(512);
            for (int i = 0; i < 4; i++) {
                buf.fill((byte) i);
                dev.write(0, i * 512L, buf).get(5, TimeUnit.SECONDS);
            }
            var slept = dev.frontend().sleep();
            assertThat(slept.get(0).nextAvail()).isEqualTo(4);
            dev.frontend().wake(slept);
            for (int i = 0; i < 4; i++) {
                dev.read(0, i * 512L, buf).get(5, TimeUnit.SECONDS);
                assertThat(buf.get(java.lang.foreign.ValueLayout.JAVA_BYTE, 100)).isEqualTo((byte) i);
            }
        }
    }
}
