package com.vhost.devices.blk.model;

import static org.assertj.core.api.Assertions.assertThat;

import com.vhost.api.VringAddr;
import com.vhost.api.blk.VirtioBlk;
import com.vhost.api.user.VhostUserBackend;
import com.vhost.api.virtio.GuestMemoryRegion;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.spi.memory.GuestMemoryMap;
import com.vhost.spi.nativeio.EventFd;
import com.vhost.spi.nativeio.SharedMemory;
import com.vhost.spi.testing.TestPackedDriver;
import com.vhost.spi.testing.TestPackedDriver.Buf;
import com.vhost.spi.testing.TestPackedDriver.Used;
import com.vhost.user.backend.VhostUserServer;
import com.vhost.user.testing.FaultyBackends;
import com.vhost.user.testing.ReasonRecordingDevice;
import com.vhost.user.testing.StatusFrontEnd;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The blk model over a real vhost-user socket with a packed ring (VIRTIO 1.2, 2.8) driven by hand
 * ({@link TestPackedDriver} in a memfd the session maps): reads of every sector of a random image
 * through a ring of 16 (chains of three descriptors, 16 laps), with io_uring completing them in
 * any order; GET_VRING_BASE answers the position with the wrap counter in both halves and the
 * ring restarts there; then a chain whose buffer id is not below the ring size makes the device
 * DEVICE_NEEDS_RESET, naming it.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class PackedRingOverVhostUserTest {
    private static final long MEM = 1 << 20;
    private static final int SIZE = 16;
    private static final int SECTORS = 86;
    private static final long FEATURES = VirtioFeatures.bit(VirtioFeatures.F_VERSION_1)
            | VirtioFeatures.bit(VirtioFeatures.F_RING_PACKED) | VirtioFeatures.bit(VirtioFeatures.F_EVENT_IDX);

    @TempDir
    Path dir;

    @Test
    void readsEverySectorThroughAPackedRingThenABadBufferIdNeedsReset() throws Exception {
        Path image = dir.resolve("disk.img");
        byte[] bytes = new byte[SECTORS * VirtioBlk.SECTOR_SIZE];
        new Random(34).nextBytes(bytes);
        Files.write(image, bytes);
        // io_uring completes in any order where the host has it, else the threads engine
        FileBlockModel.Aio aio = com.vhost.spi.nativeio.IoUring.unavailableReason() == null ? FileBlockModel.Aio.IO_URING
                : FileBlockModel.Aio.THREADS;
        try (FileBlockModel model = FileBlockModel.open(image, false, 1, 256, aio, false);
                SharedMemory mem = SharedMemory.create("packed-guest", MEM);
                EventFd kick = EventFd.create();
                EventFd call = EventFd.create();
                EventFd err = EventFd.create()) {
            ReasonRecordingDevice device = new ReasonRecordingDevice(model);
            VhostUserServer server = new VhostUserServer(dir.resolve("blk.sock"), device);
            server.start();
            VhostUserBackend fe = FaultyBackends.connect(dir.resolve("blk.sock"));
            try {
                GuestMemoryMap gm = GuestMemoryMap.of(List.of(new GuestMemoryRegion(0, MEM, mem.address(), mem.fd(), 0, mem.segment())));
                TestPackedDriver drv = new TestPackedDriver(gm, 0, SIZE, 0, MEM);
                StatusFrontEnd.negotiate(fe, mem, 0, FEATURES);
                long ua = mem.address();
                var cfg = drv.config(-1, -1);
                fe.setVringNum(0, SIZE);
                fe.setVringBase(0, 0x8000_8000); // QEMU's first base: position 0, both wrap counters 1
                fe.setVringAddr(new VringAddr(0, 0, ua + cfg.descAddr(), ua + cfg.usedAddr(), ua + cfg.availAddr(), 0));
                fe.setVringErr(0, err.fd());
                StatusFrontEnd.startQueue0(fe, kick.fd(), call.fd());
                StatusFrontEnd.driverOk(fe);

                long hdr = drv.alloc(16 * SIZE);
                long data = drv.alloc(512 * SIZE);
                long status = drv.alloc(SIZE);
                int done = 0;
                int sector = 0;
                int[] sectorOf = new int[SIZE];
                while (done < SECTORS) {
                    // up to five requests in flight (15 of the 16 descriptors), refilled as they complete
                    while (sector < SECTORS && sector - done < 5) {
                        int slot = sector % SIZE;
                        MemorySegment h = drv.at(hdr + 16L * slot, 16);
                        h.set(ValueLayout.JAVA_INT_UNALIGNED, 0, VirtioBlk.T_IN);
                        h.set(ValueLayout.JAVA_INT_UNALIGNED, 4, 0);
                        h.set(ValueLayout.JAVA_LONG_UNALIGNED, 8, sector);
                        drv.at(status + slot, 1).set(ValueLayout.JAVA_BYTE, 0, (byte) 0x7F);
                        int id = drv.submit(new Buf(hdr + 16L * slot, 16, false), new Buf(data + 512L * slot, 512, true),
                                new Buf(status + slot, 1, true));
                        sectorOf[id] = sector;
                        sector++;
                    }
                    kick.signal();
                    Used u = awaitUsed(drv, call);
                    int s = sectorOf[u.id()];
                    int slot = s % SIZE;
                    assertThat(u.len()).isEqualTo(513);
                    assertThat(drv.at(status + slot, 1).get(ValueLayout.JAVA_BYTE, 0)).isEqualTo((byte) VirtioBlk.S_OK);
                    byte[] got = drv.at(data + 512L * slot, 512).toArray(ValueLayout.JAVA_BYTE);
                    assertThat(got).as("sector %d", s).isEqualTo(java.util.Arrays.copyOfRange(bytes, 512 * s, 512 * (s + 1)));
                    done++;
                }
                // 86 chains of 3 = 258 descriptors = 16 laps + 2: position 2, wrap counter 1 (flipped 16 times)
                int base = fe.getVringBase(0);
                assertThat(base).isEqualTo(0x8002_8002).isEqualTo(drv.availPosition() | drv.availPosition() << 16);
                fe.setVringBase(0, base);
                fe.setVringKick(0, kick.fd());

                // a chain whose buffer id (in its last descriptor) is not below the ring size
                long h = hdr;
                drv.submitRaw(SIZE, 3, i -> i == 0 ? h : i == 1 ? data : status, i -> i == 0 ? 16 : i == 1 ? 512 : 1,
                        i -> i == 0 ? TestPackedDriver.F_NEXT : i == 1 ? TestPackedDriver.F_NEXT | TestPackedDriver.F_WRITE
                                : TestPackedDriver.F_WRITE);
                kick.signal();
                StatusFrontEnd.awaitNeedsReset(fe, 10);
                assertThat(err.await(5_000)).as("the ring's error eventfd").isTrue();
                assertThat(device.reasons()).anyMatch(r -> r.startsWith("[queue 0] ") && r.contains("buffer id 16 is not below queue size 16"));
            } finally {
                fe.close();
                server.close();
            }
        }
    }

    private static Used awaitUsed(TestPackedDriver drv, EventFd call) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (true) {
            Used u = drv.pollUsed();
            if (u != null) {
                return u;
            }
            assertThat(System.nanoTime()).as("a used descriptor within 10 s").isLessThan(deadline);
            call.await(100);
        }
    }
}
