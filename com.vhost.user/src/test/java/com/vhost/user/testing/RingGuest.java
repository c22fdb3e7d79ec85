package com.vhost.user.testing;

import static org.assertj.core.api.Assertions.assertThat;

import com.vhost.api.MemoryRegion;
import com.vhost.api.user.VhostUserBackend;
import com.vhost.api.VringAddr;
import com.vhost.api.blk.VirtioBlk;
import com.vhost.spi.nativeio.EventFd;
import com.vhost.spi.nativeio.SharedMemory;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A guest memory of 1 MiB with one split ring of 16 ({@link TestRing} layout) set up on a
 * vhost front-end by hand, and blk requests on it: for tests of the back-end server that drive
 * the vhost-user messages themselves (DEVICE_STATE, ring restarts).
 */
public final class RingGuest implements AutoCloseable {
    private final SharedMemory mem = SharedMemory.create("guest", 1 << 20);
    private final EventFd kick = EventFd.create();
    private final EventFd call = EventFd.create();
    private TestRing ring;

    public RingGuest() throws Exception {}

    public void startRing(VhostUserBackend fe, int index) throws Exception {
        long ua = mem.address();
        fe.setMemTable(List.of(new MemoryRegion(0, 1 << 20, ua, 0, mem.fd())));
        restartRing(fe, index, 0);
    }

    public void restartRing(VhostUserBackend fe, int index, int base) throws Exception {
        long ua = mem.address();
        ring = new TestRing(mem.segment(), 0, 16, base);
        fe.setVringNum(index, 16);
        fe.setVringBase(index, base);
        fe.setVringAddr(new VringAddr(index, 0, ua + ring.desc(), ua + ring.used(), ua + ring.avail(), 0));
        fe.setVringCall(index, call.fd());
        fe.setVringKick(index, kick.fd());
        fe.setVringEnable(index, true);
    }

    /** One 512-byte blk request at {@code sector}; @return its status */
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
        while (ring.usedIdx() == before) {
            long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
            assertThat(left).as("request completed in time").isPositive();
            call.await((int) Math.min(left, 1000));
        }
        return Byte.toUnsignedInt(g.get(ValueLayout.JAVA_BYTE, status));
    }

    @Override
    public void close() {
        kick.close();
        call.close();
        mem.close();
    }
}
