package com.vhost.devices.blk.driver;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.vhost.api.VhostTarget;
import com.vhost.api.VirtioDeviceException;
import com.vhost.api.blk.BlockDeviceInfo;
import com.vhost.api.blk.VirtioBlk;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.devices.blk.model.FileBlockModel;
import com.vhost.user.VhostUserOps;
import com.vhost.user.backend.VhostUserServer;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The project's own driver ({@link VirtioBlkDriver}) against the project's own vhost-user back-end
 * ({@link VhostUserServer} serving {@link FileBlockModel}) over a real socket: the embedded default
 * path of {@code vhost run}. The image file is checked with plain Java reads afterwards.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class DriverOverOwnBackendTest {
    private static final int MIB = 1 << 20;

    @TempDir
    Path dir;

    @Test
    void randomWritesOnTwoQueuesLandInTheImageFile() throws Exception {
        Path image = dir.resolve("disk.raw");
        byte[] expected = new byte[16 * MIB];
        new Random(1).nextBytes(expected);
        Files.write(image, expected);
        Path sock = dir.resolve("blk.sock");
        Random rnd = new Random(2);
        try (FileBlockModel model = FileBlockModel.open(image, false, 2, 128);
                VhostUserServer server = new VhostUserServer(sock, model)) {
            server.start();
            try (VirtioBlkDriver blk = BlockDevices.open(new VhostUserOps().open(VhostTarget.of(sock.toString())),
                    new BlkDriverOptions(2, 128, false, 8 * MIB))) {
                BlockDeviceInfo info = blk.info();
                assertThat(info.capacityBytes()).isEqualTo(16L * MIB);
                assertThat(info.numQueues()).isEqualTo(2);
                assertThat(VirtioFeatures.has(info.features(), VirtioFeatures.F_VERSION_1)).isTrue();
                assertThat(VirtioFeatures.has(info.features(), VirtioBlk.F_MQ)).isTrue();

                for (int i = 0; i < 64; i++) {
                    int len = (1 + rnd.nextInt(32)) * 512;
                    long off = (long) rnd.nextInt((16 * MIB - len) / 512) * 512;
                    byte[] data = new byte[len];
                    rnd.nextBytes(data);
                    System.arraycopy(data, 0, expected, (int) off, len);
                    MemorySegment buf = blk.allocateBuffer(len);
                    MemorySegment.copy(data, 0, buf, ValueLayout.JAVA_BYTE, 0, len);
                    // writes to overlapping ranges must be ordered: wait per write, alternate queues
                    blk.write(i % 2, off, buf).get(10, TimeUnit.SECONDS);
                }
                blk.flush(0).get(10, TimeUnit.SECONDS);
                try (Arena a = Arena.ofShared()) {
                    // not from allocateBuffer, and larger than the 8 MiB pool: bounced piece by piece
                    MemorySegment whole = a.allocate(16 * MIB);
                    blk.read(1, 0, whole).get(30, TimeUnit.SECONDS);
                    assertThat(Arrays.equals(whole.toArray(ValueLayout.JAVA_BYTE), expected)).isTrue();
                }
                assertThat(blk.getId(0).get(5, TimeUnit.SECONDS)).isNotEmpty();
                assertThatThrownBy(() -> blk.read(0, 16L * MIB, blk.allocateBuffer(512)).get(5, TimeUnit.SECONDS))
                        .isInstanceOf(ExecutionException.class)
                        .hasCauseInstanceOf(VirtioDeviceException.class)
                        .hasMessageContaining("capacity");
                assertThatThrownBy(() -> blk.write(0, 100, blk.allocateBuffer(512)).get(5, TimeUnit.SECONDS))
                        .isInstanceOf(ExecutionException.class)
                        .hasCauseInstanceOf(VirtioDeviceException.class);
                blk.writeZeroes(0, 4096, 8192, false).get(5, TimeUnit.SECONDS);
                Arrays.fill(expected, 4096, 4096 + 8192, (byte) 0);
            }
        }
        assertThat(Arrays.equals(Files.readAllBytes(image), expected)).isTrue();
    }

    @Test
    void aQueueLargerThanTheBackEndAllowsIsRefusedNamingTheRequest() throws Exception {
        Path sock = dir.resolve("small.sock");
        try (FileBlockModel model = FileBlockModel.inMemory(MIB, 1, 64);
                VhostUserServer server = new VhostUserServer(sock, model)) {
            server.start();
            assertThatThrownBy(() -> BlockDevices.open(new VhostUserOps().open(VhostTarget.of(sock.toString())),
                    new BlkDriverOptions(1, 256, false, MIB)))
                    .isInstanceOf(com.vhost.api.VhostRefusedException.class)
                    .hasMessage("SET_VRING_NUM refused by back-end (status 1): queue 0");
            // the server survives and serves the next front-end
            try (VirtioBlkDriver blk = BlockDevices.open(new VhostUserOps().open(VhostTarget.of(sock.toString())),
                    new BlkDriverOptions(1, 64, false, MIB))) {
                assertThat(blk.info().capacityBytes()).isEqualTo(MIB);
            }
        }
    }

    @Test
    void readOnlyImageRefusesWritesWithAClearError() throws Exception {
        Path image = dir.resolve("ro.raw");
        Files.write(image, new byte[MIB]);
        Path sock = dir.resolve("ro.sock");
        try (FileBlockModel model = FileBlockModel.open(image, true, 1, 64);
                VhostUserServer server = new VhostUserServer(sock, model)) {
            server.start();
            try (VirtioBlkDriver blk = BlockDevices.open(new VhostUserOps().open(VhostTarget.of(sock.toString())),
                    new BlkDriverOptions(1, 64, false, MIB))) {
                assertThat(blk.info().readOnly()).isTrue();
                assertThatThrownBy(() -> blk.write(0, 0, blk.allocateBuffer(512)).get(5, TimeUnit.SECONDS))
                        .isInstanceOf(ExecutionException.class)
                        .hasCauseInstanceOf(VirtioDeviceException.class)
                        .hasMessageContaining("read-only");
            }
        }
    }
}
