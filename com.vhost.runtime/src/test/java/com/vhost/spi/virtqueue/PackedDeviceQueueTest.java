package com.vhost.spi.virtqueue;

import static com.vhost.spi.testing.TestPackedDriver.F_INDIRECT;
import static com.vhost.spi.testing.TestPackedDriver.F_NEXT;
import static com.vhost.spi.testing.TestPackedDriver.F_WRITE;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.vhost.api.VirtqueueException;
import com.vhost.api.virtio.GuestMemoryRegion;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.spi.memory.DirtyBitmap;
import com.vhost.spi.memory.GuestMemoryMap;
import com.vhost.spi.memory.InflightTable;
import com.vhost.spi.memory.WriteLog;
import com.vhost.spi.testing.TestGuestMemory;
import com.vhost.spi.testing.TestPackedDriver;
import com.vhost.spi.testing.TestPackedDriver.Buf;
import com.vhost.spi.testing.TestPackedDriver.Used;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The device side of packed virtqueues (VIRTIO 1.2, 2.8) against a hand-built ring ({@link TestPackedDriver}). */
class PackedDeviceQueueTest {
    private static final long BASE = 0x10000;
    private static final long SPAN = 0x40000;
    private static final long PACKED = VirtioFeatures.bit(VirtioFeatures.F_RING_PACKED);
    private static final long INDIRECT = VirtioFeatures.bit(VirtioFeatures.F_INDIRECT_DESC);
    private static final long EVENT_IDX = VirtioFeatures.bit(VirtioFeatures.F_EVENT_IDX);

    private final TestGuestMemory mem = new TestGuestMemory(BASE, SPAN, 0x100000, 0x10000);
    private final TestPackedDriver driver = new TestPackedDriver(mem, 3, 8, BASE, SPAN);

    @AfterEach
    void close() {
        mem.close();
    }

    private DeviceQueue queue(long features) throws VirtqueueException {
        return new DeviceQueue(mem, driver.config(-1, -1), PACKED | features);
    }

    @Test
    void popsChainAndReturnsOneUsedDescriptorWithItsBufferId() throws Exception {
        long hdr = driver.alloc(16);
        long data = driver.alloc(100);
        long status = driver.alloc(1);
        driver.at(hdr, 16).set(ValueLayout.JAVA_LONG_UNALIGNED, 8, 0x1122334455667788L);
        int id = driver.submit(new Buf(hdr, 16, false), new Buf(data, 100, true), new Buf(status, 1, true));
        DeviceQueue q = queue(0);
        DescriptorChain c = q.newChain();
        assertThat(q.nextAvail()).isEqualTo(0x8000);

        assertThat(q.hasAvailable()).isTrue();
        assertThat(q.pop(c)).isTrue();
        assertThat(c.head()).isEqualTo(id);
        assertThat(c.availIndex()).isEqualTo(0x8000);
        assertThat(c.descriptorCount()).isEqualTo(3);
        assertThat(c.readableBytes()).isEqualTo(16);
        assertThat(c.writableBytes()).isEqualTo(101);
        assertThat(c.readLong(8)).isEqualTo(0x1122334455667788L);
        c.writeByte(100, (byte) 7);
        assertThat(q.pop(c)).isFalse();
        assertThat(q.hasAvailable()).isFalse();
        assertThat(driver.pollUsed()).isNull();

        q.addUsed(id, 101);
        assertThat(driver.pollUsed()).isEqualTo(new Used(id, 101));
        assertThat(driver.at(status, 1).get(ValueLayout.JAVA_BYTE, 0)).isEqualTo((byte) 7);
        assertThat(q.nextAvail()).isEqualTo(0x8000 | 3);
        assertThat(q.nextUsed()).isEqualTo(0x8000 | 3);
        assertThat(q.config().nextAvail()).isEqualTo(0x8000 | 3);
        assertThat(q.toString()).contains("packed avail 3/1, used 3/1");
        assertThatThrownBy(q::availIdx).isInstanceOf(IllegalStateException.class).hasMessageContaining("packed");
    }

    /** Chains of 1..3 descriptors (some indirect) through a ring of 8 for 40 laps: both wrap counters flip every lap. */
    @Test
    void wrapsAroundManyTimesWithChainsCrossingTheRingEnd() throws Exception {
        DeviceQueue q = queue(INDIRECT);
        DescriptorChain c = q.newChain();
        long in = driver.alloc(64);
        long out = driver.alloc(64);
        int descriptors = 0;
        for (int round = 0; round < 160; round++) {
            int n = 1 + round % 3;
            driver.at(in, 8).set(ValueLayout.JAVA_LONG_UNALIGNED, 0, round);
            int id = round % 7 == 6 ? driver.submitIndirect(new Buf(in, 8, false), new Buf(out, 8, true))
                    : n == 1 ? driver.submit(new Buf(in, 8, false))
                    : n == 2 ? driver.submit(new Buf(in, 8, false), new Buf(out, 8, true))
                    : driver.submit(new Buf(in, 4, false), new Buf(in + 4, 4, false), new Buf(out, 8, true));
            descriptors += round % 7 == 6 ? 1 : n;
            assertThat(q.pop(c)).as("round %d", round).isTrue();
            assertThat(c.head()).isEqualTo(id);
            assertThat(c.readLong(0)).isEqualTo(round);
            if (c.writableBytes() > 0) {
                c.writeLong(0, ~(long) round);
            }
            q.addUsed(c.head(), (int) c.writableBytes());
            assertThat(driver.pollUsed()).isEqualTo(new Used(id, (int) c.writableBytes()));
            if (c.writableBytes() > 0) {
                assertThat(driver.at(out, 8).get(ValueLayout.JAVA_LONG_UNALIGNED, 0)).isEqualTo(~(long) round);
            }
            assertThat(q.nextAvail()).isEqualTo(driver.availPosition());
            assertThat(q.nextUsed()).isEqualTo(driver.usedPosition());
        }
        assertThat(descriptors / 8).as("laps").isGreaterThan(30);
    }

    /**
     * Completions in another order than the pops (io_uring, shuffled): used descriptors fill the
     * used slots in completion order, each moving the used position by its chain's descriptors,
     * and the driver gets every id back; over many rounds with random orders the ring stays in step.
     */
    @Test
    void completesOutOfOrderOverManyRounds() throws Exception {
        DeviceQueue q = queue(0);
        DescriptorChain c = q.newChain();
        Random rnd = new Random(42);
        long buf = driver.alloc(64);
        for (int round = 0; round < 200; round++) {
            List<Integer> ids = new ArrayList<>();
            int descs = 0;
            while (true) {
                int n = 1 + rnd.nextInt(3);
                if (descs + n > 8 || ids.size() == 4) {
                    break;
                }
                Buf[] bufs = new Buf[n];
                for (int i = 0; i < n; i++) {
                    bufs[i] = new Buf(buf + 8 * i, 8, i == n - 1);
                }
                ids.add(driver.submit(bufs));
                descs += n;
            }
            List<Integer> popped = new ArrayList<>();
            while (q.pop(c)) {
                popped.add(c.head());
            }
            assertThat(popped).isEqualTo(ids);
            java.util.Collections.shuffle(popped, rnd);
            for (int id : popped) {
                q.addUsed(id, id + 100);
            }
            List<Integer> back = new ArrayList<>();
            for (Used u; (u = driver.pollUsed()) != null; ) {
                assertThat(u.len()).isEqualTo(u.id() + 100);
                back.add(u.id());
            }
            assertThat(back).as("round %d", round).isEqualTo(popped);
            assertThat(q.nextUsed()).isEqualTo(driver.usedPosition());
        }
    }

    @Test
    void indirectTableHoldsTheChainAndNeedsIndirectDesc() throws Exception {
        long hdr = driver.alloc(16);
        long data = driver.alloc(512);
        long status = driver.alloc(1);
        int id = driver.submitIndirect(new Buf(hdr, 16, false), new Buf(data, 512, true), new Buf(status, 1, true));
        DeviceQueue q = queue(INDIRECT);
        DescriptorChain c = q.newChain();
        assertThat(q.pop(c)).isTrue();
        assertThat(c.head()).isEqualTo(id);
        assertThat(c.readableSegmentCount()).isEqualTo(1);
        assertThat(c.writableSegmentCount()).isEqualTo(2);
        assertThat(c.writableAddress(0)).isEqualTo(data);
        assertThat(c.descriptorCount()).isEqualTo(4);
        q.addUsed(id, 513);
        assertThat(driver.pollUsed()).isEqualTo(new Used(id, 513));
        assertThat(q.nextUsed()).isEqualTo(0x8000 | 1);

        driver.submitIndirect(new Buf(hdr, 16, false));
        DeviceQueue noIndirect = new DeviceQueue(mem, driver.config(-1, -1).withNextAvail(0x8001), PACKED);
        assertThatThrownBy(() -> noIndirect.pop(c)).isInstanceOf(VirtqueueException.class).hasMessageContaining("queue 3")
                .hasMessageContaining("VIRTIO_F_INDIRECT_DESC was not negotiated");
    }

    @Test
    void withoutEventIdxTheDriverFlagsDecide() throws Exception {
        DeviceQueue q = queue(0);
        DescriptorChain c = q.newChain();
        long b = driver.alloc(8);
        assertThat(q.needsNotification()).as("nothing used").isFalse();
        driver.submit(new Buf(b, 8, true));
        q.pop(c);
        q.addUsed(c.head(), 8);
        assertThat(q.needsNotification()).as("ENABLE").isTrue();
        assertThat(q.needsNotification()).as("nothing new").isFalse();
        driver.driverEvent(0, 1); // DISABLE
        driver.submit(new Buf(b, 8, true));
        q.pop(c);
        q.addUsed(c.head(), 8);
        assertThat(q.needsNotification()).as("DISABLE").isFalse();

        q.disableNotifications();
        assertThat(driver.deviceEventFlags()).isEqualTo(1);
        assertThat(q.enableNotifications()).as("nothing available").isFalse();
        assertThat(driver.deviceEventFlags()).isEqualTo(0);
        driver.submit(new Buf(b, 8, true));
        assertThat(q.enableNotifications()).as("a descriptor raced in").isTrue();
    }

    @Test
    void withEventIdxTheDriverAsksForOneUsedPosition() throws Exception {
        DeviceQueue q = queue(EVENT_IDX);
        DescriptorChain c = q.newChain();
        long b = driver.alloc(8);
        driver.driverEvent(0x8000 | 2, 2); // DESC: notify once the used descriptor at 2 (wrap 1) is written
        for (int i = 0; i < 3; i++) {
            driver.submit(new Buf(b, 8, true));
        }
        for (int i = 0; i < 3; i++) {
            q.pop(c);
            q.addUsed(c.head(), 8);
            assertThat(q.needsNotification()).as("after used position %d", i).isEqualTo(i == 2);
        }
        // an event in the next lap (wrap 0) is not due yet, however close its offset
        driver.driverEvent(1, 2);
        for (int i = 0; i < 5; i++) {
            driver.submit(new Buf(b, 8, true));
            q.pop(c);
            q.addUsed(c.head(), 8);
            assertThat(q.needsNotification()).as("used position %d of lap 1", 3 + i).isFalse();
            driver.pollUsed();
        }
        for (int i = 0; i < 3; i++) {
            driver.pollUsed();
        }
        driver.submit(new Buf(b, 8, true));
        driver.submit(new Buf(b, 8, true));
        q.pop(c);
        q.addUsed(c.head(), 8); // position 0 of lap 2 (wrap 0)
        assertThat(q.needsNotification()).isFalse();
        q.pop(c);
        q.addUsed(c.head(), 8); // position 1, wrap 0: the event
        assertThat(q.needsNotification()).isTrue();
        // several completions between two decisions cross an event inside the window
        driver.pollUsed();
        driver.pollUsed();
        driver.driverEvent(3, 2);
        for (int i = 0; i < 4; i++) {
            driver.submit(new Buf(b, 8, true));
        }
        for (int i = 0; i < 4; i++) {
            q.pop(c);
            q.addUsed(c.head(), 8);
        }
        assertThat(q.needsNotification()).isTrue();
        driver.driverEvent(3, 0); // ENABLE with EVENT_IDX: any completion
        driver.submit(new Buf(b, 8, true));
        for (int i = 0; i < 4; i++) {
            driver.pollUsed();
        }
        q.pop(c);
        q.addUsed(c.head(), 8);
        assertThat(q.needsNotification()).isTrue();

        q.disableNotifications();
        assertThat(driver.deviceEventFlags()).isEqualTo(1);
        assertThat(q.enableNotifications()).isFalse();
        assertThat(driver.deviceEventFlags()).isEqualTo(2);
        assertThat(driver.deviceEventOffWrap()).isEqualTo(q.nextAvail()).isEqualTo(driver.availPosition());
    }

    @Test
    void restartsWhereItStoppedFromTheEncodedBase() throws Exception {
        long b = driver.alloc(8);
        DeviceQueue q = queue(0);
        DescriptorChain c = q.newChain();
        for (int i = 0; i < 11; i++) {
            driver.submit(new Buf(b, 8, true));
            q.pop(c);
            q.addUsed(c.head(), 8);
            driver.pollUsed();
        }
        assertThat(q.nextAvail()).isEqualTo(3); // 11 = one lap (wrap now 0) + 3
        DeviceQueue again = new DeviceQueue(mem, q.config(), PACKED);
        int id = driver.submit(new Buf(b, 8, true));
        assertThat(again.pop(c)).isTrue();
        assertThat(c.head()).isEqualTo(id);
        again.addUsed(id, 8);
        assertThat(driver.pollUsed()).isEqualTo(new Used(id, 8));

        assertThatThrownBy(() -> new DeviceQueue(mem, driver.config(-1, -1).withNextAvail(0x8008), PACKED))
                .isInstanceOf(VirtqueueException.class).hasMessageContaining("packed ring base 0x8008")
                .hasMessageContaining("position 8 is not below queue size 8");
    }

    @Test
    void rejectsAChainWithNextAllAroundTheRing() throws Exception {
        long b = driver.alloc(8);
        driver.submitRaw(0, 8, i -> b, i -> 8, i -> F_NEXT);
        DeviceQueue q = queue(0);
        assertThatThrownBy(() -> q.pop(q.newChain())).isInstanceOf(VirtqueueException.class).hasMessageContaining("queue 3")
                .hasMessageContaining("more than 8 descriptors");
    }

    @Test
    void rejectsBadBufferIds() throws Exception {
        long b = driver.alloc(8);
        driver.submitRaw(8, 1, i -> b, i -> 8, i -> 0);
        DeviceQueue q = queue(0);
        assertThatThrownBy(() -> q.pop(q.newChain())).hasMessageContaining("buffer id 8 is not below queue size 8");

        TestPackedDriver d = new TestPackedDriver(mem, 3, 8, BASE, SPAN);
        d.submitRaw(5, 1, i -> b, i -> 8, i -> 0);
        d.submitRaw(5, 1, i -> b, i -> 8, i -> 0);
        DeviceQueue q2 = new DeviceQueue(mem, d.config(-1, -1), PACKED);
        DescriptorChain c = q2.newChain();
        assertThat(q2.pop(c)).isTrue();
        assertThatThrownBy(() -> q2.pop(c)).hasMessageContaining("buffer id 5 is already in flight");
        q2.addUsed(5, 0);
        assertThatThrownBy(() -> q2.addUsed(5, 0)).isInstanceOf(VirtqueueException.class)
                .hasMessageContaining("used buffer id 5 is not in flight");
        assertThatThrownBy(() -> q2.addUsed(8, 0)).hasMessageContaining("used buffer id 8 is not below queue size 8");
        assertThatThrownBy(() -> q2.addUsed(-1, 0)).hasMessageContaining("used buffer id -1");
    }

    @Test
    void rejectsMalformedDescriptors() throws Exception {
        long b = driver.alloc(64);
        long outside = BASE + SPAN - 8;
        expectFault(d -> d.submitRaw(0, 1, i -> outside, i -> 16, i -> 0), "descriptor 0", "not inside guest memory");
        expectFault(d -> d.submitRaw(0, 1, i -> -16, i -> 32, i -> 0), "not inside guest memory");
        expectFault(d -> d.submitRaw(0, 1, i -> b, i -> 16, i -> F_INDIRECT | F_NEXT), "INDIRECT and NEXT flags both set");
        expectFault(d -> d.submitRaw(0, 1, i -> b, i -> 24, i -> F_INDIRECT), "indirect table length 24");
        expectFault(d -> d.submitRaw(0, 1, i -> b, i -> 16 * 9, i -> F_INDIRECT), "indirect table of 9 descriptors");
        expectFault(d -> d.submitRaw(0, 1, i -> b, i -> 8, i -> 0x40), "unknown flag bits 0x40");
        expectFault(d -> d.submitRaw(0, 2, i -> b, i -> 8, i -> i == 0 ? F_WRITE | F_NEXT : 0), "descriptor 1",
                "readable buffer", "after a device-writable");
        // a nested INDIRECT in the table
        MemorySegment table = mem.slice(b, 16);
        table.fill((byte) 0);
        table.set(ValueLayout.JAVA_LONG_UNALIGNED, 0, b);
        table.set(ValueLayout.JAVA_INT_UNALIGNED, 8, 16);
        table.set(ValueLayout.JAVA_SHORT_UNALIGNED, 14, (short) F_INDIRECT);
        expectFault(d -> d.submitRaw(0, 1, i -> b, i -> 16, i -> F_INDIRECT), "indirect table entry 0 has the INDIRECT flag");
    }

    private interface Submit {
        void to(TestPackedDriver d);
    }

    private void expectFault(Submit s, String... parts) throws Exception {
        TestPackedDriver d = new TestPackedDriver(mem, 3, 8, BASE, SPAN); // resets the ring
        s.to(d);
        DeviceQueue q = new DeviceQueue(mem, d.config(-1, -1), PACKED | INDIRECT);
        var t = assertThatThrownBy(() -> q.pop(q.newChain())).isInstanceOf(VirtqueueException.class)
                .hasMessageStartingWith("queue 3: ");
        for (String p : parts) {
            t.hasMessageContaining(p);
        }
    }

    @Test
    void rejectsRingsOutsideMemoryAndAnInflightPart() throws Exception {
        var bad = driver.config(-1, -1);
        var outside = new com.vhost.api.virtio.VirtqueueConfig(3, 8, BASE + SPAN - 64, bad.availAddr(), bad.usedAddr(), 0x8000, -1,
                -1, true);
        assertThatThrownBy(() -> new DeviceQueue(mem, outside, PACKED)).isInstanceOf(VirtqueueException.class)
                .hasMessageContaining("packed descriptor ring at guest address");

        MemorySegment part = Arena.ofAuto().allocate(4096);
        part.set(ValueLayout.JAVA_SHORT_UNALIGNED, 8, (short) 7); // a packed region's version
        InflightTable table = new InflightTable(4);
        table.set(3, part);
        GuestMemoryMap m = GuestMemoryMap.of(mem.regions()).withInflight(table);
        assertThatThrownBy(() -> new DeviceQueue(m, driver.config(-1, -1), PACKED)).isInstanceOf(VirtqueueException.class)
                .hasMessageContaining("inflight region: version 7 is not 0 or 1");
    }

    /** Migration: with VHOST_VRING_F_LOG, the used descriptor's bytes and the device area are marked at their guest addresses. */
    @Test
    void logsUsedDescriptorAndDeviceAreaWrites() throws Exception {
        long bitmapBytes = DirtyBitmap.bytesFor(BASE + SPAN);
        MemorySegment words = Arena.ofAuto().allocate(DirtyBitmap.roundUp8(bitmapBytes), 8);
        DirtyBitmap bitmap = new DirtyBitmap(words, 0, bitmapBytes);
        WriteLog log = new WriteLog(4);
        log.setBitmap(bitmap);
        log.setLogAll(true);
        log.setUsedLog(3, driver.deviceAreaGpa());
        List<GuestMemoryRegion> regions = mem.regions();
        GuestMemoryMap m = GuestMemoryMap.of(regions).withWriteLog(log);
        long data = driver.alloc(8192);
        int id = driver.submit(new Buf(data, 8192, true));
        DeviceQueue q = new DeviceQueue(m, driver.config(-1, -1), PACKED | EVENT_IDX);
        DescriptorChain c = q.newChain();
        q.pop(c);
        bitmap.syncAndClear();
        q.addUsed(c, 5000); // 5000 bytes: the buffer's first two pages
        q.enableNotifications();
        BitSet dirty = bitmap.syncAndClear();
        assertThat(dirty.get((int) (driver.descGpa() >> 12))).as("descriptor ring page").isTrue();
        assertThat(dirty.get((int) (driver.deviceAreaGpa() >> 12))).as("device area page").isTrue();
        assertThat(dirty.get((int) (data >> 12))).isTrue();
        assertThat(dirty.get((int) ((data >> 12) + 1))).isTrue();
        assertThat(dirty.get((int) ((data >> 12) + 2))).as("beyond the bytes written").isFalse();
        assertThat(driver.pollUsed()).isEqualTo(new Used(id, 5000));
    }
}
