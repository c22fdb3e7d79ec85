package com.vhost.devices.blk.driver;

import com.vhost.api.VhostException;
import com.vhost.api.virtio.GuestMemory;
import com.vhost.api.virtio.GuestMemoryRegion;
import com.vhost.spi.memory.GuestMemoryMap;
import com.vhost.spi.nativeio.EventFd;
import com.vhost.spi.nativeio.SharedMemory;
import com.vhost.spi.virtqueue.DriverQueue;
import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * The memory of a {@link VirtioBlkDriver}: one {@link SharedMemory} region (memfd) the back-end
 * maps, whose guest-physical address equals its address in this process (as DPDK
 * {@code virtio_user} does). Layout, each part 4096-byte aligned: per queue two areas (a
 * {@link DriverQueue} ring layout, then {@code queueSize} request slots of
 * {@value BlkRequestQueue#SLOT_BYTES} bytes; one in use, a swap moves to the other so a back-end
 * that completes a chain after GET_VRING_BASE writes into memory nobody uses any more), then the
 * buffer pool.
 *
 * @param shm the shared memory
 * @param memory the one-region guest memory over it
 * @param pool the buffer pool ({@link BlkDriverOptions#bufferPoolBytes()})
 * @param queues the request queues with their kick and call eventfds
 */
record BlkMemory(SharedMemory shm, GuestMemory memory, BufferPool pool, BlkQueues queues) {
    private static final long PAGE = 4096;

    /**
     * Lays out the memory and makes the queues; on failure releases what it made.
     *
     * @param acked the acked feature bits (EVENT_IDX, INDIRECT_DESC shape the rings)
     */
    static BlkMemory create(VirtioBlkDriver driver, BlkGeometry geometry, BlkDriverOptions o, long acked) throws VhostException {
        int nq = geometry.numQueues();
        int qsize = o.queueSize();
        int indirectMax = geometry.indirectMax();
        long qBytes = alignUp(DriverQueue.layoutBytes(qsize, indirectMax));
        long slotBytes = alignUp((long) qsize * BlkRequestQueue.SLOT_BYTES);
        long poolBytes = alignUp(o.bufferPoolBytes());
        long perQueue = 2 * (qBytes + slotBytes);
        long total = nq * perQueue + poolBytes;
        SharedMemory shm = SharedMemory.create("vhost-blk-driver", total);
        BlkRequestQueue[] qs = new BlkRequestQueue[nq];
        try {
            long base = shm.address();
            MemorySegment all = shm.segment();
            GuestMemory memory = GuestMemoryMap.of(List.of(new GuestMemoryRegion(base, total, shm.address(), shm.fd(), 0, all)));
            BufferPool pool = new BufferPool(all.asSlice(nq * perQueue, poolBytes));
            for (int i = 0; i < nq; i++) {
                long off = i * perQueue;
                long offB = off + qBytes + slotBytes;
                DriverQueue dq = new DriverQueue(i, qsize, all.asSlice(off, qBytes), base + off, acked, indirectMax);
                DriverQueue dqB = new DriverQueue(i, qsize, all.asSlice(offB, qBytes), base + offB, acked, indirectMax);
                EventFd kick = EventFd.create();
                // Poll mode still hands the back-end a call eventfd: libvhost-user (QEMU 7.2) writes
                // the call fd on its first used buffer whatever the suppression state, and marks the
                // device broken when that fd is missing. Nobody waits on it in poll mode.
                EventFd call = EventFd.create();
                qs[i] = new BlkRequestQueue(driver, i, new DriverQueue[] {dq, dqB},
                        new MemorySegment[] {all.asSlice(off + qBytes, slotBytes), all.asSlice(offB + qBytes, slotBytes)},
                        new long[] {base + off + qBytes, base + offB + qBytes}, kick, call, o.poll(),
                        geometry.segmentsPerRequest());
                if (o.poll()) {
                    dq.disableNotifications();
                }
            }
            return new BlkMemory(shm, memory, pool, new BlkQueues(qs));
        } catch (VhostException | RuntimeException e) {
            new BlkQueues(qs).closeFds();
            shm.close();
            throw e;
        }
    }

    /** Closes the queues' eventfds and the shared memory. */
    void close() {
        queues.closeFds();
        shm.close();
    }

    private static long alignUp(long v) {
        return (v + PAGE - 1) & -PAGE;
    }
}
