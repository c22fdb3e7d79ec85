package com.vhost.devices.blk.driver;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.vhost.api.VhostTarget;
import com.vhost.api.VirtioDeviceException;
import com.vhost.api.blk.BlockDeviceInfo;
import com.vhost.api.virtio.DeviceStatus;
import com.vhost.api.virtio.VirtqueueConfig;
import com.vhost.spi.testing.KGuest;
import com.vhost.spi.vhost.GenericVhostDevice;
import com.vhost.vdpa.VhostVdpaOps;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
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
    void aVdpaNetDeviceIsRefusedByNameAsABlockDevice() throws Exception {
        KGuest.require("vhost_vdpa + vdpa_sim_net with vdpa0 (scripts/kguest)", "/dev/vhost-vdpa-0");
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> BlockDevices.open(
                new VhostVdpaOps().open(VhostTarget.of("/dev/vhost-vdpa-0")), new BlkDriverOptions(1, 128, false, 1L << 20)))
                .isInstanceOf(com.vhost.api.VhostFeatureException.class)
                .hasMessageContaining("/dev/vhost-vdpa-0")
                .hasMessageContaining("is a virtio-net device (VirtIO device ID 1), not virtio-blk (ID 2)");
        // the node was released: it opens again (vhost-vdpa is exclusive)
        new VhostVdpaOps().open(VhostTarget.of("/dev/vhost-vdpa-0")).close();
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

    @Test
    void sleepSuspendsAndWakeResumesTheSameDeviceWithoutAResetKeepingItsData() throws Exception {
        try (VirtioBlkDriver blk = BlockDevices.open(new VhostVdpaOps().open(VhostTarget.of(BLK)),
                new BlkDriverOptions(1, 128, false, 8L << 20))) {
            GenericVhostDevice vhost = blk.vhost();
            assertThat(vhost.canResume()).as("vdpa_sim_blk offers SUSPEND and RESUME").isTrue();
            Random rnd = new Random(11);
            int n = 16;
            long[] offs = new long[n + 1];
            byte[][] data = new byte[n + 1][];
            for (int i = 0; i <= n; i++) {
                data[i] = new byte[(1 + rnd.nextInt(16)) * 512];
                rnd.nextBytes(data[i]);
                offs[i] = (long) i * (1 << 20) + (long) rnd.nextInt(1024) * 512; // one MiB apart: no overlap
            }
            for (int i = 0; i < n; i++) {
                MemorySegment w = blk.allocateBuffer(data[i].length);
                MemorySegment.copy(data[i], 0, w, ValueLayout.JAVA_BYTE, 0, data[i].length);
                blk.write(0, offs[i], w).get(30, TimeUnit.SECONDS);
                blk.freeBuffer(w);
            }
            assertThat(((com.vhost.api.DeviceStatusBackend) vhost.backend()).getStatus() & DeviceStatus.DRIVER_OK.bit()).as("running: DRIVER_OK").isNotZero();

            List<VirtqueueConfig> slept = blk.frontend().sleep();
            int base = slept.get(0).nextAvail();
            assertThat(base).as("next avail at sleep: at least one chain per request").isGreaterThanOrEqualTo(n);
            assertThat(vhost.isSuspended()).isTrue();
            assertThat(((com.vhost.api.DeviceStatusBackend) vhost.backend()).getStatus() & DeviceStatus.DRIVER_OK.bit()).as("asleep: suspended, not reset").isNotZero();
            // a request made while asleep waits in the ring until wake
            MemorySegment w = blk.allocateBuffer(data[n].length);
            MemorySegment.copy(data[n], 0, w, ValueLayout.JAVA_BYTE, 0, data[n].length);
            CompletableFuture<Void> pending = blk.write(0, offs[n], w);
            Thread.sleep(300);
            assertThat(pending).as("write submitted while suspended").isNotDone();

            blk.frontend().wake(List.of());
            assertThat(vhost.lastStartResumed()).as("wake resumed (VHOST_VDPA_RESUME), no reset and new setup").isTrue();
            assertThat(vhost.isSuspended()).isFalse();
            pending.get(30, TimeUnit.SECONDS);
            assertThat(((com.vhost.api.DeviceStatusBackend) vhost.backend()).getStatus() & DeviceStatus.DRIVER_OK.bit()).as("DRIVER_OK throughout").isNotZero();
            for (int i = 0; i <= n; i++) {
                MemorySegment r = blk.allocateBuffer(data[i].length);
                blk.read(0, offs[i], r).get(30, TimeUnit.SECONDS);
                assertThat(r.toArray(ValueLayout.JAVA_BYTE)).as("%d bytes at %d after wake", data[i].length, offs[i]).isEqualTo(data[i]);
                blk.freeBuffer(r);
            }

            // and again, after the ring moved on by n + 1 reads and the pending write
            List<VirtqueueConfig> again = blk.frontend().sleep();
            assertThat(again.get(0).nextAvail()).as("next avail after %d more requests", n + 2).isEqualTo(base + n + 2);
            blk.frontend().wake(again);
            assertThat(vhost.lastStartResumed()).as("second wake resumed too").isTrue();
            MemorySegment r = blk.allocateBuffer(data[0].length);
            blk.read(0, offs[0], r).get(30, TimeUnit.SECONDS);
            assertThat(r.toArray(ValueLayout.JAVA_BYTE)).isEqualTo(data[0]);
        }
    }
}
