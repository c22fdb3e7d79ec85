package com.vhost.devices.blk.driver;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.vhost.api.VhostTarget;
import com.vhost.api.VirtioDeviceException;
import com.vhost.api.blk.BlockDeviceInfo;
import com.vhost.runtime.testing.KGuest;
import com.vhost.vdpa.VhostVdpaOps;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The application's {@link com.vhost.api.blk.BlockDevice} on the Linux vhost-vdpa driver with
 * vdpa_sim_blk ({@code /dev/vhost-vdpa-1}, a 128 MiB RAM disk): the same driver that runs over
 * vhost-user, here with the memory map sent as IOTLB messages and the VDPA status handshake. Runs
 * inside the 6.12 kernel guest ({@code scripts/kguest/kguest-test.sh}); elsewhere it is skipped,
 * unless {@code CI=true} and {@code KGUEST=1}, where a missing node is a failure.
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class VdpaBlkDriverIT {
    private static final String BLK = "/dev/vhost-vdpa-1";
    private static final long CAPACITY = 128L << 20;

    @BeforeEach
    void requireDevice() {
        KGuest.require("vhost_vdpa + vdpa_sim_blk with 'vdpa dev add mgmtdev vdpasim_blk name vdpa1'", BLK);
    }

    @Test
    void writeReadVerifyAtRandomOffsetsAndSizesThenFlushOnVdpaSimBlk() throws Exception {
        try (VirtioBlkDriver blk = BlockDevices.open(new VhostVdpaOps().open(VhostTarget.of(BLK)),
                new BlkDriverOptions(1, 128, false, 8L << 20))) {
            BlockDeviceInfo info = blk.info();
            assertThat(info.capacityBytes()).as("capacity from config space").isEqualTo(CAPACITY);
            assertThat(info.backend()).contains(BLK);
            Random rnd = new Random(5);
            for (int i = 0; i < 40; i++) {
                int len = (1 + rnd.nextInt(64)) * 512;
                long off = (long) rnd.nextInt((int) ((CAPACITY - len) / 512)) * 512;
                byte[] data = new byte[len];
                rnd.nextBytes(data);
                MemorySegment w = blk.allocateBuffer(len);
                MemorySegment.copy(data, 0, w, ValueLayout.JAVA_BYTE, 0, len);
                blk.write(0, off, w).get(30, TimeUnit.SECONDS);
                MemorySegment r = blk.allocateBuffer(len);
                blk.read(0, off, r).get(30, TimeUnit.SECONDS);
                assertThat(r.toArray(ValueLayout.JAVA_BYTE)).as("%d bytes at %d", len, off).isEqualTo(data);
                blk.freeBuffer(w);
                blk.freeBuffer(r);
            }
            blk.flush().get(30, TimeUnit.SECONDS);
            assertThatThrownBy(() -> blk.read(0, CAPACITY, blk.allocateBuffer(512)).get(10, TimeUnit.SECONDS))
                    .isInstanceOf(ExecutionException.class).hasCauseInstanceOf(VirtioDeviceException.class);
        }
    }
}
