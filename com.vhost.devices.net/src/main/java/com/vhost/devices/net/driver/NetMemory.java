package com.vhost.devices.net.driver;

import com.vhost.api.VhostException;
import com.vhost.api.net.VirtioNet;
import com.vhost.api.virtio.GuestMemory;
import com.vhost.api.virtio.GuestMemoryRegion;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.spi.driver.HotSwapState;
import com.vhost.spi.memory.GuestMemoryMap;
import com.vhost.spi.nativeio.EventFd;
import com.vhost.spi.nativeio.SharedMemory;
import com.vhost.spi.virtqueue.DriverQueue;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * The memory of a {@link VirtioNetDriver}: one {@link SharedMemory} region (memfd) the back-end
 * maps, whose guest-physical address equals its address in this process. Layout, each part
 * 4096-byte aligned: per pair the receive and transmit {@link DriverQueue} rings,
 * {@code queueSize} receive buffers of {@link NetDriverOptions#rxBufferBytes()} bytes and
 * {@code queueSize} transmit slots of {@code 12 + mtu + 18} bytes (rounded to 64); then the
 * control queue and its command buffer.
 *
 * @param shm the shared memory
 * @param memory the one-region guest memory over it
 * @param rings the queue pairs and the control queue, with their eventfds
 */
record NetMemory(SharedMemory shm, GuestMemory memory, NetRings rings) {
    private static final long PAGE = 4096;

    /**
     * Lays out the memory and makes the rings; on failure releases what it made.
     *
     * @param acked the acked feature bits (EVENT_IDX shapes the rings)
     * @param mrg whether VIRTIO_NET_F_MRG_RXBUF was acked
     * @param maxFrame the longest frame in bytes (MTU + 18)
     * @param swap the driver's swap state (the pairs end its pause measurement)
     */
    static NetMemory create(NetDriverOptions o, long acked, boolean mrg, int maxFrame, HotSwapState swap) throws VhostException {
        int qsize = o.queueSize();
        int np = o.queuePairs();
        int rxBufBytes = o.rxBufferBytes();
        int txSlot = (int) alignUp(VirtioNet.HDR_SIZE + maxFrame, 64);
        long qBytes = alignUp(DriverQueue.layoutBytes(qsize, 0), PAGE);
        long rxBytes = alignUp((long) qsize * rxBufBytes, PAGE);
        long txBytes = alignUp((long) qsize * txSlot, PAGE);
        long pairBytes = 2 * qBytes + rxBytes + txBytes;
        long ctrlQBytes = alignUp(DriverQueue.layoutBytes(VirtioNetFrontend.CTRL_QUEUE_SIZE, 0), PAGE);
        long ctrlBufBytes = alignUp(VirtioNetFrontend.CTRL_MAX_BYTES + 64, PAGE);
        long total = np * pairBytes + ctrlQBytes + ctrlBufBytes;
        SharedMemory shm = SharedMemory.create("vhost-net-driver", total);
        List<EventFd> opened = new ArrayList<>();
        try {
            long base = shm.address();
            MemorySegment all = shm.segment();
            GuestMemory memory = GuestMemoryMap.of(List.of(new GuestMemoryRegion(base, total, base, shm.fd(), 0, all)));
            NetQueuePair[] ps = new NetQueuePair[np];
            for (int p = 0; p < np; p++) {
                long off = p * pairBytes;
                DriverQueue rxq = new DriverQueue(VirtioNet.rxQueue(p), qsize, all.asSlice(off, qBytes), base + off, acked, 0);
                DriverQueue txq = new DriverQueue(VirtioNet.txQueue(p), qsize, all.asSlice(off + qBytes, qBytes), base + off + qBytes, acked, 0);
                long rxOff = off + 2 * qBytes;
                long txOff = rxOff + rxBytes;
                ps[p] = new NetQueuePair(p, rxq, txq, track(opened), track(opened), track(opened), track(opened),
                        all.asSlice(rxOff, rxBytes), base + rxOff, rxBufBytes, mrg, all.asSlice(txOff, txBytes), base + txOff,
                        txSlot, swap);
                // The transmit queue is reclaimed at each burst: never ask for its notifications.
                txq.disableNotifications();
                if (o.poll()) {
                    rxq.disableNotifications();
                }
            }
            long coff = np * pairBytes;
            // split always: the front-end serves the control queue in this process (VirtioNetFrontend)
            NetControlQueue ctrl = new NetControlQueue(new DriverQueue(VirtioNet.ctrlQueue(np), VirtioNetFrontend.CTRL_QUEUE_SIZE,
                    all.asSlice(coff, ctrlQBytes), base + coff, acked & ~VirtioFeatures.bit(VirtioFeatures.F_RING_PACKED), 0), track(opened), track(opened),
                    all.asSlice(coff + ctrlQBytes, ctrlBufBytes), base + coff + ctrlQBytes);
            return new NetMemory(shm, memory, new NetRings(ps, ctrl, qsize, o.poll()));
        } catch (VhostException | RuntimeException e) {
            for (EventFd f : opened) {
                f.close();
            }
            shm.close();
            throw e;
        }
    }

    /** Closes every eventfd and the shared memory. */
    void close() {
        rings.closeFds();
        shm.close();
    }

    private static EventFd track(List<EventFd> opened) throws VhostException {
        EventFd f = EventFd.create();
        opened.add(f);
        return f;
    }

    private static long alignUp(long v, long a) {
        return (v + a - 1) & -a;
    }
}
