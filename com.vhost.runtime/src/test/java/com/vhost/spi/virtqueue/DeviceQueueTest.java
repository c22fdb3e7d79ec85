package com.vhost.spi.virtqueue;

import static com.vhost.api.virtio.SplitVirtqueueLayout.VIRTQ_AVAIL_F_NO_INTERRUPT;
import static com.vhost.api.virtio.SplitVirtqueueLayout.VIRTQ_DESC_F_INDIRECT;
import static com.vhost.api.virtio.SplitVirtqueueLayout.VIRTQ_DESC_F_NEXT;
import static com.vhost.api.virtio.SplitVirtqueueLayout.VIRTQ_DESC_F_WRITE;
import static com.vhost.api.virtio.SplitVirtqueueLayout.VIRTQ_USED_F_NO_NOTIFY;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.vhost.api.VirtqueueException;
import com.vhost.api.virtio.GuestMemory;
import com.vhost.api.virtio.GuestMemoryRegion;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.api.virtio.VirtqueueConfig;
import com.vhost.spi.memory.GuestMemoryMap;
import com.vhost.spi.nativeio.SharedMemory;
import com.vhost.spi.testing.TestGuestMemory;
import com.vhost.spi.testing.TestRingDriver;
import com.vhost.spi.testing.TestRingDriver.Buf;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class DeviceQueueTest {
    private static final long BASE = 0x10000;
    private static final long SPAN = 0x40000;
    private static final long INDIRECT = VirtioFeatures.bit(VirtioFeatures.F_INDIRECT_DESC);
    private static final long EVENT_IDX = VirtioFeatures.bit(VirtioFeatures.F_EVENT_IDX);

    private final TestGuestMemory mem = new TestGuestMemory(BASE, SPAN, 0x100000, 0x10000);
    private final TestRingDriver driver = new TestRingDriver(mem, 3, 8, BASE, SPAN);

    @AfterEach
    void close() {
        mem.close();
    }

    private DeviceQueue queue(long features) throws VirtqueueException {
        return new DeviceQueue(mem, driver.config(-1, -1), features);
    }

    @Test
    void theTestDriverRefusesToRewriteDescriptorsOfAChainStillInFlight() throws Exception {
        long buf = driver.alloc(64);
        // 8 descriptors: two chains of 3 fit, a third would overwrite the first chain's head
        driver.submit(new Buf(buf, 16, false), new Buf(buf, 16, true), new Buf(buf, 1, true));
        driver.submit(new Buf(buf, 16, false), new Buf(buf, 16, true), new Buf(buf, 1, true));
        assertThatThrownBy(() -> driver.writeChain(new Buf(buf, 16, false), new Buf(buf, 16, true), new Buf(buf, 1, true)))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("descriptor 0 still belongs to chain 0");
        DeviceQueue q = queue(0);
        DescriptorChain c = q.newChain();
        assertThat(q.pop(c)).isTrue();
        q.addUsed(c.head(), 0); // the first chain is used: its descriptors may be written again
        driver.submit(new Buf(buf, 16, false), new Buf(buf, 16, true), new Buf(buf, 1, true));
        assertThat(q.pop(c)).isTrue();
        assertThat(q.pop(c)).isTrue();
        assertThat(c.head()).isEqualTo(6);
        assertThat(c.readableAddress(0)).isEqualTo(buf);
    }

    @Test
    void popsChainSplitIntoReadableAndWritableParts() throws Exception {
        long hdr = driver.alloc(16);
        long data = driver.alloc(100);
        long status = driver.alloc(1);
        driver.at(hdr, 16).set(ValueLayout.JAVA_LONG_UNALIGNED, 8, 0x1122334455667788L);
        int head = driver.submit(new Buf(hdr, 16, false), new Buf(data, 100, true), new Buf(status, 1, true));
        DeviceQueue q = queue(0);
        DescriptorChain c = q.newChain();

        assertThat(q.pop(c)).isTrue();
        assertThat(c.head()).isEqualTo(head);
        assertThat(c.queueIndex()).isEqualTo(3);
        assertThat(c.readableBytes()).isEqualTo(16);
        assertThat(c.writableBytes()).isEqualTo(101);
        assertThat(c.readableSegmentCount()).isEqualTo(1);
        assertThat(c.writableSegmentCount()).isEqualTo(2);
        assertThat(c.readableAddress(0)).isEqualTo(hdr);
        assertThat(c.writableAddress(1)).isEqualTo(status);
        assertThat(c.writableLength(0)).isEqualTo(100);
        assertThat(c.readLong(8)).isEqualTo(0x1122334455667788L);
        assertThat(c.writableHostAddress(0)).isEqualTo(driver.at(data, 1).address());

        c.writeByte(100, (byte) 7);
        assertThat(driver.at(status, 1).get(ValueLayout.JAVA_BYTE, 0)).isEqualTo((byte) 7);
        q.addUsed(c.head(), 101);
        assertThat(q.pop(c)).isFalse();
        assertThat(c.head()).isEqualTo(-1);

        assertThat(driver.usedIdx()).isEqualTo(1);
        assertThat(driver.usedId(0)).isEqualTo(head);
        assertThat(driver.usedLen(0)).isEqualTo(101);
        assertThat(q.nextAvail()).isEqualTo(1);
        assertThat(q.config().nextAvail()).isEqualTo(1);
    }

    @Test
    void readsAndWritesStraddlingSegments() throws Exception {
        long a = driver.alloc(3);
        long b = driver.alloc(13);
        long w1 = driver.alloc(5);
        long w2 = driver.alloc(11);
        MemorySegment src = Arena.ofAuto().allocate(16);
        for (int i = 0; i < 16; i++) {
            src.set(ValueLayout.JAVA_BYTE, i, (byte) (i + 1));
        }
        driver.at(a, 3).copyFrom(src.asSlice(0, 3));
        driver.at(b, 13).copyFrom(src.asSlice(3, 13));
        driver.submit(new Buf(a, 3, false), new Buf(b, 13, false), new Buf(w1, 5, true), new Buf(w2, 11, true));
        DeviceQueue q = queue(0);
        DescriptorChain c = q.newChain();
        assertThat(q.pop(c)).isTrue();

        assertThat(c.readInt(1)).isEqualTo(0x05040302);
        assertThat(c.readLong(0)).isEqualTo(0x0807060504030201L);
        MemorySegment dst = Arena.ofAuto().allocate(16);
        c.copyReadable(0, dst, 0, 16);
        assertThat(dst.mismatch(src)).isEqualTo(-1);

        c.copyToWritable(0, src, 0, 16);
        assertThat(driver.at(w1, 5).mismatch(src.asSlice(0, 5))).isEqualTo(-1);
        assertThat(driver.at(w2, 11).mismatch(src.asSlice(5, 11))).isEqualTo(-1);
        c.writeInt(3, 0xAABBCCDD);
        assertThat(driver.at(w1, 5).get(ValueLayout.JAVA_BYTE, 3)).isEqualTo((byte) 0xDD);
        assertThat(driver.at(w2, 11).get(ValueLayout.JAVA_BYTE, 1)).isEqualTo((byte) 0xAA);
        c.zeroWritable(0, 16);
        assertThat(driver.at(w2, 11).get(ValueLayout.JAVA_BYTE, 10)).isZero();

        assertThatThrownBy(() -> c.readInt(13)).isInstanceOf(VirtqueueException.class)
                .hasMessageContaining("queue 3").hasMessageContaining("readable offset 13");
        assertThatThrownBy(() -> c.writeByte(16, (byte) 0)).isInstanceOf(VirtqueueException.class)
                .hasMessageContaining("writable offset 16");
    }

    @Test
    void indicesWrapFrom65535ToZero() throws Exception {
        driver.startAt(65534);
        DeviceQueue q = queue(0);
        DescriptorChain c = q.newChain();
        long buf = driver.alloc(8);
        int[] heads = new int[4];
        for (int i = 0; i < 4; i++) {
            heads[i] = driver.submit(new Buf(buf, 8, true));
        }
        assertThat(driver.availIdx()).isEqualTo(2);
        for (int i = 0; i < 4; i++) {
            assertThat(q.pop(c)).isTrue();
            assertThat(c.head()).isEqualTo(heads[i]);
            assertThat(c.availIndex()).isEqualTo((65534 + i) & 0xFFFF);
            q.addUsed(c.head(), i);
        }
        assertThat(q.pop(c)).isFalse();
        assertThat(q.nextAvail()).isEqualTo(2);
        assertThat(q.nextUsed()).isEqualTo(2);
        assertThat(driver.usedIdx()).isEqualTo(2);
        assertThat(driver.usedId(65535)).isEqualTo(heads[1]);
        assertThat(driver.usedLen(1)).isEqualTo(3);
    }

    @Test
    void rejectsAvailIdxThatJumpsMoreThanQueueSize() throws Exception {
        DeviceQueue q = queue(0);
        driver.setAvailIdx(9); // queue size 8
        assertThatThrownBy(() -> q.pop(q.newChain())).isInstanceOf(VirtqueueException.class)
                .hasMessageContaining("queue 3").hasMessageContaining("avail idx 9")
                .hasMessageContaining("queue size 8");
        driver.setAvailIdx(8); // exactly size ahead is legal (ring full)
        assertThat(q.hasAvailable()).isTrue();
    }

    @Test
    void vringNeedEventHandlesWrapping() {
        // event inside [old, new) -> notify
        assertThat(DeviceQueue.vringNeedEvent(5, 6, 5)).isTrue();
        assertThat(DeviceQueue.vringNeedEvent(5, 10, 3)).isTrue();
        assertThat(DeviceQueue.vringNeedEvent(10, 10, 3)).isFalse(); // not reached yet
        assertThat(DeviceQueue.vringNeedEvent(2, 10, 3)).isFalse(); // already passed before old
        assertThat(DeviceQueue.vringNeedEvent(3, 3, 3)).isFalse(); // nothing published
        // across the 16-bit wrap: published 65534, 65535, 0, 1
        assertThat(DeviceQueue.vringNeedEvent(65535, 2, 65534)).isTrue();
        assertThat(DeviceQueue.vringNeedEvent(0, 2, 65534)).isTrue();
        assertThat(DeviceQueue.vringNeedEvent(1, 2, 65534)).isTrue();
        assertThat(DeviceQueue.vringNeedEvent(2, 2, 65534)).isFalse();
        assertThat(DeviceQueue.vringNeedEvent(65533, 2, 65534)).isFalse();
    }

    @Test
    void eventIdxNotificationFollowsUsedEvent() throws Exception {
        DeviceQueue q = queue(EVENT_IDX);
        DescriptorChain c = q.newChain();
        long buf = driver.alloc(8);
        driver.setUsedEvent(1); // driver wants to hear when entry 1 is used
        for (int i = 0; i < 3; i++) {
            driver.submit(new Buf(buf, 8, true));
        }
        assertThat(q.pop(c)).isTrue();
        q.addUsed(c.head(), 0); // used idx 1: entry 0 published
        assertThat(q.needsNotification()).isFalse();
        assertThat(q.pop(c)).isTrue();
        q.addUsed(c.head(), 0); // entry 1 published
        assertThat(q.needsNotification()).isTrue();
        assertThat(q.needsNotification()).isFalse(); // nothing new
        assertThat(q.pop(c)).isTrue();
        q.addUsed(c.head(), 0);
        assertThat(q.needsNotification()).isFalse(); // used_event 1 already passed

        // avail_event: re-arm asks for a kick at the next avail index
        assertThat(q.enableNotifications()).isFalse();
        assertThat(driver.availEvent()).isEqualTo(3);
        driver.submit(new Buf(buf, 8, true));
        assertThat(q.enableNotifications()).isTrue();
    }

    @Test
    void noInterruptFlagWithoutEventIdx() throws Exception {
        DeviceQueue q = queue(0);
        DescriptorChain c = q.newChain();
        long buf = driver.alloc(8);
        driver.submit(new Buf(buf, 8, true));
        driver.submit(new Buf(buf, 8, true));
        assertThat(q.needsNotification()).isFalse(); // nothing used yet
        q.pop(c);
        q.addUsed(c.head(), 8);
        assertThat(q.needsNotification()).isTrue();
        driver.setAvailFlags(VIRTQ_AVAIL_F_NO_INTERRUPT);
        q.pop(c);
        q.addUsed(c.head(), 8);
        assertThat(q.needsNotification()).isFalse();

        q.disableNotifications();
        assertThat(driver.usedFlags() & VIRTQ_USED_F_NO_NOTIFY).isEqualTo(VIRTQ_USED_F_NO_NOTIFY);
        assertThat(q.enableNotifications()).isFalse();
        assertThat(driver.usedFlags() & VIRTQ_USED_F_NO_NOTIFY).isZero();
    }

    @Test
    void indirectChain() throws Exception {
        long table = driver.alloc(48);
        long hdr = driver.alloc(16);
        long data = driver.alloc(512);
        long status = driver.alloc(1);
        MemorySegment t = driver.at(table, 48);
        TestRingDriver.writeDescriptor(t, 0, hdr, 16, VIRTQ_DESC_F_NEXT, 2);
        TestRingDriver.writeDescriptor(t, 2, data, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
        TestRingDriver.writeDescriptor(t, 1, status, 1, VIRTQ_DESC_F_WRITE, 0);
        driver.writeDescriptor(5, table, 48, VIRTQ_DESC_F_INDIRECT, 0);
        driver.makeAvailable(5);
        DeviceQueue q = queue(INDIRECT);
        DescriptorChain c = q.newChain();

        assertThat(q.pop(c)).isTrue();
        assertThat(c.head()).isEqualTo(5);
        assertThat(c.readableBytes()).isEqualTo(16);
        assertThat(c.writableBytes()).isEqualTo(513);
        assertThat(c.writableAddress(0)).isEqualTo(data);
        assertThat(c.writableAddress(1)).isEqualTo(status);
        assertThat(c.descriptorCount()).isEqualTo(4);
    }

    @Test
    void indirectRules() throws Exception {
        long table = driver.alloc(64);
        long buf = driver.alloc(16);
        MemorySegment t = driver.at(table, 64);
        TestRingDriver.writeDescriptor(t, 0, buf, 16, 0, 0);

        driver.writeDescriptor(0, table, 16, VIRTQ_DESC_F_INDIRECT, 0);
        driver.makeAvailable(0);
        assertThatThrownBy(() -> queue(0).pop(queue(0).newChain())).isInstanceOf(VirtqueueException.class)
                .hasMessageContaining("VIRTIO_F_INDIRECT_DESC");

        assertThatThrownBy(() -> popAt(1, table, 24, VIRTQ_DESC_F_INDIRECT))
                .hasMessageContaining("indirect table length 24");
        assertThatThrownBy(() -> popAt(2, table, 0, VIRTQ_DESC_F_INDIRECT))
                .hasMessageContaining("indirect table length 0");
        assertThatThrownBy(() -> popAt(3, table, 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT))
                .hasMessageContaining("INDIRECT and NEXT");
        TestRingDriver.writeDescriptor(t, 0, table, 16, VIRTQ_DESC_F_INDIRECT, 0);
        assertThatThrownBy(() -> popAt(4, table, 16, VIRTQ_DESC_F_INDIRECT))
                .hasMessageContaining("nested");
        TestRingDriver.writeDescriptor(t, 0, buf, 16, VIRTQ_DESC_F_NEXT, 4);
        assertThatThrownBy(() -> popAt(5, table, 64, VIRTQ_DESC_F_INDIRECT))
                .hasMessageContaining("descriptor 0").hasMessageContaining("next index 4")
                .hasMessageContaining("indirect table size 4");
        TestRingDriver.writeDescriptor(t, 0, buf, 16, VIRTQ_DESC_F_NEXT, 1);
        TestRingDriver.writeDescriptor(t, 1, buf, 16, VIRTQ_DESC_F_NEXT, 0);
        assertThatThrownBy(() -> popAt(6, table, 32, VIRTQ_DESC_F_INDIRECT))
                .hasMessageContaining("loop");
        assertThatThrownBy(() -> popAt(7, table, 16 * 9, VIRTQ_DESC_F_INDIRECT))
                .hasMessageContaining("exceeds queue size 8");
    }

    /** Fresh queue with one descriptor {@code d} made available and popped. */
    /** A device whose chains hold more than the ring has entries takes indirect tables up to that many. */
    @Test
    void indirectTablesUpToTheChainCapacityAboveTheQueueSize() throws Exception {
        long buf = driver.alloc(16);
        long table = driver.alloc(16 * 17);
        MemorySegment t = driver.at(table, 16 * 17);
        for (int i = 0; i < 17; i++) {
            TestRingDriver.writeDescriptor(t, i, buf, 16, i < 16 ? VIRTQ_DESC_F_NEXT : 0, i + 1);
        }
        TestRingDriver.writeDescriptor(t, 9, buf, 16, 0, 0); // the first 10 entries form the chain
        driver.writeDescriptor(0, table, 16 * 10, VIRTQ_DESC_F_INDIRECT, 0);
        driver.makeAvailable(0);
        DeviceQueue q = queue(INDIRECT);
        DescriptorChain c = new DescriptorChain(16);
        assertThat(q.pop(c)).isTrue();
        assertThat(c.readableSegmentCount()).isEqualTo(10);
        driver.writeDescriptor(1, table, 16 * 17, VIRTQ_DESC_F_INDIRECT, 0);
        driver.makeAvailable(1);
        assertThatThrownBy(() -> q.pop(c)).isInstanceOf(VirtqueueException.class)
                .hasMessageContaining("indirect table of 17 descriptors exceeds queue size 8 and chain capacity 16");
    }

    private void popAt(int d, long addr, int len, int flags) throws Exception {
        TestRingDriver drv = new TestRingDriver(mem, 3, 8, BASE, SPAN); // resets rings
        drv.writeDescriptor(d, addr, len, flags, 0);
        drv.makeAvailable(d);
        DeviceQueue q = new DeviceQueue(mem, drv.config(-1, -1), INDIRECT);
        q.pop(q.newChain());
    }

    @Test
    void detectsLoop() throws Exception {
        long buf = driver.alloc(16);
        driver.writeDescriptor(0, buf, 16, VIRTQ_DESC_F_NEXT, 1);
        driver.writeDescriptor(1, buf, 16, VIRTQ_DESC_F_NEXT, 2);
        driver.writeDescriptor(2, buf, 16, VIRTQ_DESC_F_NEXT, 0);
        driver.makeAvailable(0);
        DeviceQueue q = queue(0);
        assertThatThrownBy(() -> q.pop(q.newChain())).isInstanceOf(VirtqueueException.class)
                .hasMessageContaining("queue 3").hasMessageContaining("loop");
    }

    @Test
    void rejectsIndicesOutOfRange() throws Exception {
        long buf = driver.alloc(16);
        driver.makeAvailable(8);
        DeviceQueue q = queue(0);
        assertThatThrownBy(() -> q.pop(q.newChain())).hasMessageContaining("head index 8");
        driver.writeDescriptor(0, buf, 16, VIRTQ_DESC_F_NEXT, 9);
        driver.makeAvailable(0);
        DeviceQueue q2 = new DeviceQueue(mem, driver.config(-1, -1).withNextAvail(1), 0);
        assertThatThrownBy(() -> q2.pop(q2.newChain())).hasMessageContaining("descriptor 0")
                .hasMessageContaining("next index 9");
    }

    @Test
    void rejectsAddressOutsideGuestMemory() throws Exception {
        driver.writeDescriptor(0, BASE + SPAN - 8, 16, 0, 0); // straddles the end of the region
        driver.makeAvailable(0);
        DeviceQueue q = queue(0);
        assertThatThrownBy(() -> q.pop(q.newChain())).isInstanceOf(VirtqueueException.class)
                .hasMessageContaining("descriptor 0").hasMessageContaining("0x4fff8")
                .hasMessageContaining("not inside guest memory");
        driver.writeDescriptor(1, -16, 32, 0, 0); // wraps the address space
        driver.makeAvailable(1);
        DeviceQueue q2 = new DeviceQueue(mem, driver.config(-1, -1).withNextAvail(1), 0);
        assertThatThrownBy(() -> q2.pop(q2.newChain())).hasMessageContaining("not inside guest memory");
    }

    /**
     * Issue #10, lengths of 0xFFFFFFFF: in a guest of more than 4 GiB such a buffer is inside
     * memory; it is refused by length (the segment accessors' {@code int} lengths turned it
     * negative, so the blk model answered a short read), while a buffer of 2^31 - 1 bytes is taken.
     */
    @Test
    void rejectsABufferLongerThanIntMaxInsideAGuestOfMoreThan4GiB() throws Exception {
        long size = 5L << 30; // a sparse memfd: nothing of it is touched but the ring's pages
        try (SharedMemory big = SharedMemory.create("big-guest", size)) {
            GuestMemory m = GuestMemoryMap.of(List.of(new GuestMemoryRegion(0, size, big.address(), big.fd(), 0, big.segment())));
            TestRingDriver d = new TestRingDriver(m, 0, 8, BASE, SPAN);
            d.writeDescriptor(0, 1L << 30, 0xFFFF_FFFF, VIRTQ_DESC_F_WRITE, 0);
            d.writeDescriptor(1, 1L << 30, Integer.MAX_VALUE, VIRTQ_DESC_F_WRITE, 0);
            d.makeAvailable(0);
            d.makeAvailable(1);
            DeviceQueue q = new DeviceQueue(m, d.config(-1, -1), 0);
            DescriptorChain c = q.newChain();
            assertThatThrownBy(() -> q.pop(c)).isInstanceOf(VirtqueueException.class).hasMessageContaining("descriptor 0")
                    .hasMessageContaining("buffer of 4294967295 bytes is longer than the 2147483647 bytes");
            DeviceQueue q2 = new DeviceQueue(m, d.config(-1, -1).withNextAvail(1), 0);
            assertThat(q2.pop(c)).isTrue();
            assertThat(c.writableLength(0)).isEqualTo(Integer.MAX_VALUE);
            assertThat(c.writableBytes()).isEqualTo(Integer.MAX_VALUE);
        }
    }

    @Test
    void acceptsBufferInSecondRegion() throws Exception {
        driver.writeDescriptor(0, 0x100000 + 0x100, 64, VIRTQ_DESC_F_WRITE, 0);
        driver.makeAvailable(0);
        DeviceQueue q = queue(0);
        DescriptorChain c = q.newChain();
        assertThat(q.pop(c)).isTrue();
        assertThat(c.writableRegionOffset(0)).isEqualTo(0x100);
        assertThat(c.writableRegion(0).byteSize()).isEqualTo(0x10000);
    }

    @Test
    void rejectsReadableAfterWritableAndUnknownFlags() throws Exception {
        long buf = driver.alloc(16);
        driver.submit(new Buf(buf, 16, true), new Buf(buf, 16, false));
        DeviceQueue q = queue(0);
        assertThatThrownBy(() -> q.pop(q.newChain())).hasMessageContaining("descriptor 1")
                .hasMessageContaining("readable buffer").hasMessageContaining("after a device-writable");

        driver.writeDescriptor(4, buf, 16, 0x10, 0);
        driver.makeAvailable(4);
        DeviceQueue q2 = new DeviceQueue(mem, driver.config(-1, -1).withNextAvail(1), 0);
        assertThatThrownBy(() -> q2.pop(q2.newChain())).hasMessageContaining("descriptor 4")
                .hasMessageContaining("unknown flag bits 0x10");
    }

    @Test
    void rejectsRingsOutsideMemory() {
        VirtqueueConfig bad = new VirtqueueConfig(1, 256, 0x4_0000_0000L, BASE, BASE + 0x1000, 0, -1, -1, true);
        assertThatThrownBy(() -> new DeviceQueue(mem, bad, 0)).isInstanceOf(VirtqueueException.class)
                .hasMessageContaining("queue 1").hasMessageContaining("descriptor table at guest address 0x400000000");
    }
}
