package com.vhost.user.testing;

import static org.assertj.core.api.Assertions.assertThat;

import com.vhost.api.VhostBackend;
import com.vhost.api.blk.VirtioBlk;
import com.vhost.api.virtio.GuestMemoryRegion;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.api.virtio.VirtqueueConfig;
import com.vhost.spi.memory.GuestMemoryMap;
import com.vhost.spi.nativeio.EventFd;
import com.vhost.spi.nativeio.SharedMemory;
import com.vhost.spi.vhost.GenericVhostDevice;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A 1 MiB guest (guest-physical 0..1 MiB, one memfd) whose one blk queue of 16 runs through a
 * {@link GenericVhostDevice} on any vhost-user back-end, with one request in flight at a time, laid
 * out so each part has its own 4 KiB page: descriptors page 0, avail ring page 1, used ring page
 * 2, request header page 3, data page 4, status byte page 5 ({@link TestRing}). For the dirty-log
 * tests, which check exactly which pages a back-end marked.
 */
public final class LoggedBlkGuest implements AutoCloseable {
    public static final int USED_PAGE = 2;
    public static final int HEADER_PAGE = 3;
    public static final int DATA_PAGE = 4;
    public static final int STATUS_PAGE = 5;

    private final SharedMemory mem = SharedMemory.create("guest", 1 << 20);
    private final EventFd kick = EventFd.create();
    private final EventFd call = EventFd.create();
    private final TestRing ring = new TestRing(mem.segment(), 0, 16, 0);
    private final GuestMemoryMap memory;
    private final List<VirtqueueConfig> queues;
    private final GenericVhostDevice device;

    /**
     * Claims {@code backend} (owned from here on, closed by {@link #close}), acks VERSION_1 and
     * starts queue 0.
     */
    public LoggedBlkGuest(VhostBackend backend) throws Exception {
        memory = GuestMemoryMap.of(List.of(new GuestMemoryRegion(0, mem.size(), mem.address(), mem.fd(), 0, mem.segment())));
        queues = List.of(new VirtqueueConfig(0, 16, ring.desc(), ring.avail(), ring.used(), 0, kick.fd(), call.fd(), true));
        device = new GenericVhostDevice(backend, 1);
        device.ackFeatures(VirtioFeatures.bit(VirtioFeatures.F_VERSION_1));
        device.start(memory, queues);
    }

    public GenericVhostDevice device() {
        return device;
    }

    public GuestMemoryMap memory() {
        return memory;
    }

    public List<VirtqueueConfig> queues() {
        return queues;
    }

    /** @return the guest's memory as this process sees it */
    public MemorySegment bytes() {
        return mem.segment();
    }

    /**
     * One 512-byte blk request ({@code VirtioBlk.T_IN} or {@code T_OUT}) at {@code sector}, waited
     * for (10 s at most, else the test fails).
     *
     * @return its status byte
     */
    public int request(int type, long sector) throws Exception {
        MemorySegment g = ring.memory();
        long hdr = ring.buffer(0);
        long status = ring.buffer(2);
        g.set(TestRing.LE32, hdr, type);
        g.set(TestRing.LE32, hdr + 4, 0);
        g.set(TestRing.LE64, hdr + 8, sector);
        g.set(ValueLayout.JAVA_BYTE, status, (byte) 0xFF);
        ring.descriptor(0, hdr, 16, 1, 1);
        ring.descriptor(1, ring.buffer(1), 512, 1 | (type == VirtioBlk.T_IN ? 2 : 0), 2);
        ring.descriptor(2, status, 1, 2, 0);
        int before = ring.usedIdx();
        ring.publish(0);
        kick.signal();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        // libvhost-user signals a call fd as soon as it gets it: wait for used.idx itself
        while (ring.usedIdx() == before) {
            long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
            assertThat(left).as("request completed in time").isPositive();
            call.await((int) Math.min(left, 1000));
        }
        return Byte.toUnsignedInt(g.get(ValueLayout.JAVA_BYTE, status));
    }

    /** Fills the data page's first 512 bytes with {@code b}. */
    public void fillData(byte b) {
        mem.segment().asSlice(ring.buffer(1), 512).fill(b);
    }

    /** @return the data page's first 512 bytes */
    public byte[] data() {
        return mem.segment().asSlice(ring.buffer(1), 512).toArray(ValueLayout.JAVA_BYTE);
    }

    /** Closes the device (and its backend), the eventfds and the memory. */
    @Override
    public void close() {
        device.close();
        kick.close();
        call.close();
        mem.close();
    }
}
