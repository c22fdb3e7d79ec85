package com.vhost.devices.blk.model;

import static org.assertj.core.api.Assertions.assertThat;

import com.vhost.api.blk.VirtioBlk;
import com.vhost.api.virtio.GuestMemoryRegion;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.api.virtio.VirtqueueConfig;
import com.vhost.spi.memory.GuestMemoryMap;
import com.vhost.spi.nativeio.EventFd;
import com.vhost.spi.nativeio.SharedMemory;
import com.vhost.spi.testing.RecordingInterrupt;
import com.vhost.spi.testing.TestPackedDriver;
import com.vhost.spi.testing.TestPackedDriver.Buf;
import com.vhost.spi.testing.TestPackedDriver.Used;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The blk model with VIRTIO_F_RING_PACKED acked, in process ({@link TestPackedDriver}): writes
 * and reads over several laps of a ring of 64, then sleep → snapshot → restore into another
 * model over the same image → wake with the configs sleep reported (the position and wrap
 * counter in {@code nextAvail}): the ring goes on where it stopped and reads back what was
 * written before the move.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class PackedFileBlockModelTest {
    private static final long GUEST_BASE = 0x200000;
    private static final long FEATURES = VirtioFeatures.bit(VirtioFeatures.F_VERSION_1)
            | VirtioFeatures.bit(VirtioFeatures.F_RING_PACKED) | VirtioFeatures.bit(VirtioFeatures.F_EVENT_IDX)
            | VirtioFeatures.bit(VirtioFeatures.F_INDIRECT_DESC) | VirtioFeatures.bit(VirtioBlk.F_FLUSH);

    @TempDir
    Path tmp;

    @Test
    void requestsOverManyLapsSurviveASnapshotMoveToAnotherModel() throws Exception {
        Path img = tmp.resolve("packed.raw");
        Files.write(img, new byte[1 << 20]);
        RecordingInterrupt irq = new RecordingInterrupt();
        try (SharedMemory shm = SharedMemory.create("packed-blk-guest", 4 << 20);
                EventFd kick = EventFd.create()) {
            GuestMemoryMap memory = GuestMemoryMap.of(List.of(
                    new GuestMemoryRegion(GUEST_BASE, shm.size(), shm.address(), shm.fd(), 0, shm.segment())));
            TestPackedDriver drv = new TestPackedDriver(memory, 0, 64, GUEST_BASE, 4 << 20);
            long hdr = drv.alloc(16);
            long data = drv.alloc(4096);
            long status = drv.alloc(1);
            FileBlockModel dev = FileBlockModel.open(img, false, 1, 64, FileBlockModel.Aio.THREADS, false);
            FileBlockModel other = null;
            boolean devClosed = false;
            try {
                dev.ackFeatures(FEATURES);
                assertThat(dev.ackedFeatures()).isEqualTo(FEATURES);
                dev.activate(memory, irq, List.of(drv.config(kick.fd(), -1)));
                // 40 writes of 3 descriptors (header, data, status) and 40 indirect reads: 160 descriptors, 2.5 laps
                for (int s = 0; s < 40; s++) {
                    fill(drv.at(data, 4096), s);
                    assertThat(request(drv, kick, hdr, VirtioBlk.T_OUT, 8L * s, data, status, false, false)).isEqualTo(1);
                }
                for (int s = 0; s < 40; s++) {
                    drv.at(data, 4096).fill((byte) 0);
                    assertThat(request(drv, kick, hdr, VirtioBlk.T_IN, 8L * s, data, status, true, true)).isEqualTo(4097);
                    assertThat(drv.at(data, 4096).mismatch(fill(MemorySegment.ofArray(new byte[4096]), s))).isEqualTo(-1);
                }
                List<VirtqueueConfig> slept = dev.sleep();
                assertThat(slept.getFirst().nextAvail()).as("position 32, wrap counter 1 (flipped twice)")
                        .isEqualTo(0x8000 | 32).isEqualTo(drv.availPosition());
                byte[] snap = dev.snapshot();
                dev.close();
                devClosed = true;

                other = FileBlockModel.open(img, false, 1, 64, FileBlockModel.Aio.THREADS, false);
                other.sleep();
                other.restore(snap);
                assertThat(other.ackedFeatures()).isEqualTo(FEATURES);
                other.rebind(memory, irq);
                other.wake(slept);
                for (int s = 0; s < 40; s++) {
                    drv.at(data, 4096).fill((byte) 0);
                    assertThat(request(drv, kick, hdr, VirtioBlk.T_IN, 8L * s, data, status, true, s % 2 == 0)).isEqualTo(4097);
                    assertThat(drv.at(data, 4096).mismatch(fill(MemorySegment.ofArray(new byte[4096]), s))).isEqualTo(-1);
                }
            } finally {
                if (other != null) {
                    other.close();
                }
                if (!devClosed) {
                    dev.close();
                }
            }
        }
    }

    private static MemorySegment fill(MemorySegment m, int seed) {
        for (int i = 0; i < m.byteSize(); i++) {
            m.set(ValueLayout.JAVA_BYTE, i, (byte) (i * 7 + seed));
        }
        return m;
    }

    /** One request (header, 4 KiB of data, status), direct or in an indirect table; @return the used length, status checked OK. */
    private static int request(TestPackedDriver drv, EventFd kick, long hdr, int type, long sector, long data, long status,
            boolean in, boolean indirect) throws Exception {
        MemorySegment h = drv.at(hdr, 16);
        h.set(ValueLayout.JAVA_INT_UNALIGNED, 0, type);
        h.set(ValueLayout.JAVA_INT_UNALIGNED, 4, 0);
        h.set(ValueLayout.JAVA_LONG_UNALIGNED, 8, sector);
        drv.at(status, 1).set(ValueLayout.JAVA_BYTE, 0, (byte) 0xEE);
        Buf[] bufs = {new Buf(hdr, 16, false), new Buf(data, 4096, in), new Buf(status, 1, true)};
        int id = indirect ? drv.submitIndirect(bufs) : drv.submit(bufs);
        kick.signal();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        Used u;
        while ((u = drv.pollUsed()) == null) {
            assertThat(System.nanoTime()).as("request completed within 5 s").isLessThan(deadline);
            Thread.sleep(1);
        }
        assertThat(u.id()).isEqualTo(id);
        assertThat(drv.at(status, 1).get(ValueLayout.JAVA_BYTE, 0)).isEqualTo((byte) VirtioBlk.S_OK);
        return u.len();
    }
}
