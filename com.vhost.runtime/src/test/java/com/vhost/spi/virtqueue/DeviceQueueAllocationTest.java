package com.vhost.spi.virtqueue;

import static com.vhost.api.virtio.SplitVirtqueueLayout.VIRTQ_DESC_F_NEXT;
import static com.vhost.api.virtio.SplitVirtqueueLayout.VIRTQ_DESC_F_WRITE;
import static org.assertj.core.api.Assertions.assertThat;

import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.spi.testing.TestGuestMemory;
import com.vhost.spi.testing.TestPackedDriver;
import com.vhost.spi.testing.TestRingDriver;
import java.lang.management.ManagementFactory;
import org.junit.jupiter.api.Test;

/** The per-request path (pop, read header, write status, addUsed, needsNotification) allocates nothing. */
class DeviceQueueAllocationTest {
    private static final int ROUNDS = 20_000;

    @Test
    void popAndCompleteAllocateNothing() throws Exception {
        var mx = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        try (TestGuestMemory mem = new TestGuestMemory(0x10000, 0x40000)) {
            TestRingDriver drv = new TestRingDriver(mem, 0, 16, 0x10000, 0x40000);
            long hdr = drv.alloc(16);
            long data = drv.alloc(4096);
            long status = drv.alloc(1);
            drv.writeDescriptor(0, hdr, 16, VIRTQ_DESC_F_NEXT, 1);
            drv.writeDescriptor(1, data, 4096, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
            drv.writeDescriptor(2, status, 1, VIRTQ_DESC_F_WRITE, 0);
            DeviceQueue q = new DeviceQueue(mem, drv.config(-1, -1), VirtioFeatures.bit(VirtioFeatures.F_EVENT_IDX));
            DescriptorChain c = q.newChain();
            // Steady state: interpreted and C1 code may allocate (VarHandle adaptation); once the
            // JIT has compiled the path a whole round allocates nothing. The JIT runs in the
            // background on a shared machine, so allow several rounds to get there.
            long sink = 0;
            long allocated = Long.MAX_VALUE;
            for (int round = 0; round < 30 && allocated >= 1024; round++) {
                long before = mx.getCurrentThreadAllocatedBytes();
                sink += cycle(drv, q, c, ROUNDS);
                allocated = mx.getCurrentThreadAllocatedBytes() - before;
            }
            assertThat(sink).isNotZero();
            assertThat(allocated).as("bytes allocated by %d requests", ROUNDS).isLessThan(1024);
        }
    }

    /**
     * The same per-request path on a packed ring (VIRTIO 1.2, 2.8): the driver re-publishes the
     * chain's three descriptors at its avail position each round (laps of a ring of 16), the
     * device pops, completes and decides about notifying; only the device's part is measured.
     */
    @Test
    void packedPopAndCompleteAllocateNothing() throws Exception {
        var mx = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        try (TestGuestMemory mem = new TestGuestMemory(0x10000, 0x40000)) {
            TestPackedDriver drv = new TestPackedDriver(mem, 0, 16, 0x10000, 0x40000);
            long hdr = drv.alloc(16);
            long data = drv.alloc(4096);
            long status = drv.alloc(1);
            TestPackedDriver.Buf[] chain = {new TestPackedDriver.Buf(hdr, 16, false), new TestPackedDriver.Buf(data, 4096, true),
                new TestPackedDriver.Buf(status, 1, true)};
            DeviceQueue q = new DeviceQueue(mem, drv.config(-1, -1),
                    VirtioFeatures.bit(VirtioFeatures.F_EVENT_IDX) | VirtioFeatures.bit(VirtioFeatures.F_RING_PACKED));
            DescriptorChain c = q.newChain();
            long sink = 0;
            long allocated = Long.MAX_VALUE;
            for (int round = 0; round < 30 && allocated >= 1024; round++) {
                long deviceBytes = 0;
                for (int i = 0; i < ROUNDS; i++) {
                    drv.submit(chain); // the test driver allocates (ids, records): not counted
                    long before = mx.getCurrentThreadAllocatedBytes();
                    q.enableNotifications();
                    if (!q.pop(c)) {
                        throw new AssertionError("nothing popped at round " + i);
                    }
                    sink += c.readLong(8) + c.writableHostAddress(0) + 1;
                    c.writeByte(c.writableBytes() - 1, (byte) 0);
                    q.addUsed(c.head(), (int) c.writableBytes());
                    if (q.needsNotification()) {
                        sink++;
                    }
                    deviceBytes += mx.getCurrentThreadAllocatedBytes() - before;
                    drv.pollUsed();
                }
                allocated = deviceBytes;
            }
            assertThat(sink).isNotZero();
            assertThat(allocated).as("bytes allocated by the device side of %d packed requests", ROUNDS).isLessThan(1024);
        }
    }

    private static long cycle(TestRingDriver drv, DeviceQueue q, DescriptorChain c, int rounds) throws Exception {
        long sink = 0;
        for (int i = 0; i < rounds; i++) {
            drv.makeAvailable(0);
            q.enableNotifications();
            if (!q.pop(c)) {
                throw new AssertionError("nothing popped at round " + i);
            }
            sink += c.readLong(8) + c.readInt(0) + c.writableHostAddress(0) + 1;
            c.writeByte(c.writableBytes() - 1, (byte) 0);
            q.addUsed(c.head(), (int) c.writableBytes());
            if (q.needsNotification()) {
                sink++;
            }
        }
        return sink;
    }
}
