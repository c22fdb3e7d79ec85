package com.vhost.devices.blk.driver;

import com.vhost.api.VhostException;
import com.vhost.api.VirtioDeviceException;
import com.vhost.api.virtio.VirtqueueConfig;
import com.vhost.spi.virtqueue.DriverQueue;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The request queues of a {@link VirtioBlkDriver} as a set (queue index = virtqueue index,
 * VIRTIO 1.2 5.2.2): what a swap, snapshot, restore or close does to all of them. The caller holds
 * the driver's swap lock (or is closing it).
 */
final class BlkQueues {
    private static final Logger LOG = LoggerFactory.getLogger(BlkQueues.class);

    private final BlkRequestQueue[] queues;

    BlkQueues(BlkRequestQueue[] queues) {
        this.queues = queues;
    }

    /** @return the queues */
    int count() {
        return queues.length;
    }

    /** @return queue {@code i} */
    BlkRequestQueue get(int i) {
        return queues[i];
    }

    /** @return the queues, for iteration (not to be changed) */
    BlkRequestQueue[] all() {
        return queues;
    }

    /** @return why {@code what} is refused: a queue handed over to the low-level path (its caller owns the ring), or null */
    VirtioDeviceException lowLevelRefusal(String what) {
        for (BlkRequestQueue q : queues) {
            if (q.isLowLevel()) {
                return new VirtioDeviceException(what + ": queue " + q.index()
                        + " is in low-level mode (VirtioBlkDriver.queue); only the BlockDevice path can be moved");
            }
        }
        return null;
    }

    /** Makes submissions park (the driver set its holding flag) and parks the completion threads. */
    void hold() {
        for (BlkRequestQueue q : queues) {
            q.hold();
        }
        for (BlkRequestQueue q : queues) {
            q.completer().awaitPaused();
        }
    }

    /**
     * Places the parked requests (those taken off the ring first), kicks each queue and lets the
     * completion threads go on.
     *
     * @return requests placed
     */
    int resume() {
        int placed = 0;
        for (BlkRequestQueue q : queues) {
            placed += q.resume();
        }
        for (BlkRequestQueue q : queues) {
            if (!q.isLowLevel()) {
                q.completer().unpause();
            }
        }
        return placed;
    }

    /**
     * After a stop: reaps each used ring, moves every request still on it back to the parked
     * ones in submission order and resets the ring, in its other area, at its base (the used
     * index when the base is unknown). A packed ring (VIRTIO 1.2 2.8) restarts fresh instead, at
     * 0x8000 (position 0, both wrap counters 1) with its descriptor ring and event suppression
     * areas zeroed: a used element written out of order may have overwritten descriptors of a
     * request the stopped back-end still held, so no index on the old ring says what is left; the
     * requests taken off are all placed again on the fresh ring.
     *
     * @return requests taken off the rings
     */
    int takeOutstanding(int[] bases, String why) {
        int taken = 0;
        for (BlkRequestQueue q : queues) {
            try {
                q.drain();
            } catch (VhostException | RuntimeException e) {
                LOG.warn("queue {}: reaping the used ring for {} failed: {}", q.index(), why, e.toString());
            }
            DriverQueue ring = q.ring();
            int base = ring.isPacked() ? ring.freshIdx() : bases[q.index()] < 0 ? ring.lastUsedIdx() : bases[q.index()];
            taken += q.takeOutstanding(base);
        }
        if (taken > 0 && packed()) {
            LOG.debug("packed rings restart fresh for {}: {} request(s) placed again", why, taken);
        }
        return taken;
    }

    /** @return whether the rings are packed (VIRTIO_F_RING_PACKED negotiated; all queues alike) */
    boolean packed() {
        return queues.length > 0 && queues[0].ring().isPacked();
    }

    /** Reaps each used ring (a lost back-end's completions), leaving what is outstanding on the rings. */
    void reap(String why) {
        for (BlkRequestQueue q : queues) {
            try {
                q.drain();
            } catch (VhostException | RuntimeException e) {
                LOG.warn("queue {}: reaping the used ring for {} failed: {}", q.index(), why, e.toString());
            }
        }
    }

    /** @return the configs that start a backend on the rings in use at their avail index */
    List<VirtqueueConfig> configs() {
        List<VirtqueueConfig> configs = new ArrayList<>(queues.length);
        for (BlkRequestQueue q : queues) {
            configs.add(q.restartConfig());
        }
        return configs;
    }

    /**
     * Restore: makes each queue's ring the one in area {@code areas[i]}, reset at the snapshot's
     * {@code last_avail} index; a packed ring is reset fresh there (0x8000, VIRTIO 1.2 2.8), as
     * a packed snapshot records what was outstanding, not where the ring stood.
     *
     * @return the configs that wake the backend there
     */
    List<VirtqueueConfig> resetTo(int[] areas, List<VirtqueueConfig> snapshotQueues) {
        for (BlkRequestQueue q : queues) {
            DriverQueue ring = q.ring();
            q.resetRing(areas[q.index()], ring.isPacked() ? ring.freshIdx() : snapshotQueues.get(q.index()).nextAvail());
        }
        return configs();
    }

    /** Fails every high-level request outstanding or parked with {@code e}. */
    void failAll(VhostException e) {
        for (BlkRequestQueue q : queues) {
            q.failAll(e);
        }
    }

    /** Stops every completion thread for good (driver closing). */
    void stopCompleters() {
        for (BlkRequestQueue q : queues) {
            q.completer().requestStop();
        }
        for (BlkRequestQueue q : queues) {
            q.completer().stop();
        }
    }

    /** @return high-level requests in flight or parked over the queues not handed over */
    int outstanding() {
        int n = 0;
        for (BlkRequestQueue q : queues) {
            n += q.isLowLevel() ? 0 : q.highLevelOutstanding();
        }
        return n;
    }

    /** Closes every queue's kick and call eventfds. */
    void closeFds() {
        for (BlkRequestQueue q : queues) {
            if (q != null) {
                q.closeFds();
            }
        }
    }
}
