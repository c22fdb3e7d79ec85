package com.vhost.devices.blk.driver;

import com.vhost.api.VhostException;
import com.vhost.spi.vhost.GenericVhostDevice;
import com.vhost.spi.vhost.InflightTracking;
import java.util.Arrays;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The blk driver's use of vhost-user inflight I/O tracking (QEMU {@code docs/interop/vhost-user.rst},
 * "Inflight I/O tracking"; QEMU's vhost-user-blk reconnect does the same): with a back-end that
 * offers INFLIGHT_SHMFD the device's region ({@link InflightTracking}) is handed over before the
 * rings start. When that back-end is lost (its rings cannot be stopped: killed, crashed) the
 * requests it had taken stay on the rings as they are, and the back-end of the rebind is given
 * the same region and rings: it resubmits exactly the requests the region records in flight, in
 * the order it took them, whatever order its predecessor completed others in, and then serves the
 * rest of the avail ring. In every other case (a back-end stopped cleanly, a snapshot restore, a
 * new back-end without INFLIGHT_SHMFD) the driver takes its outstanding requests off the rings and
 * places them again itself, as without inflight tracking, and zeroes the region so no back-end
 * resubmits them a second time.
 *
 * <p>Called under the driver's swap lock.
 */
final class BlkInflight implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(BlkInflight.class);

    private final InflightTracking tracking = new InflightTracking();
    private final boolean packed;
    private final BlkQueues queues;
    private final int queueSize;
    /** Requests taken by a lost back-end were left on the rings for the next one to resubmit. */
    private boolean kept;

    /**
     * @param packed the rings are packed (VIRTIO_F_RING_PACKED): the region handed over is the
     *     one GET_INFLIGHT_FD answers for them (the back-end sizes it for the packed layout); a
     *     back-end that answers none tracks nothing, and the driver takes the requests off itself
     */
    BlkInflight(BlkQueues queues, int queueSize, boolean packed) {
        this.queues = queues;
        this.queueSize = queueSize;
        this.packed = packed;
    }

    /**
     * Hands the region to {@code vhost}'s back-end when it offers INFLIGHT_SHMFD (features set,
     * rings not started).
     *
     * @throws VhostException when GET or SET_INFLIGHT_FD fails
     */
    void start(GenericVhostDevice vhost) throws VhostException {
        if (tracking.attach(vhost, queues.count(), queueSize)) {
            LOG.debug("virtio-blk on {}: inflight I/O of its {} rings tracked in a shared region", vhost.backend().describe(),
                    packed ? "packed" : "split");
        }
    }

    /**
     * The rings stopped ({@code bases} the stopped back-end's next avail indices, -1 unknown):
     * leaves the requests on the rings when the lost back-end tracked them in the region, else
     * takes them off ({@link BlkQueues#takeOutstanding}) and zeroes the region.
     *
     * @return requests taken off the rings (0 when left for the next back-end to resubmit)
     */
    int takeOutstanding(int[] bases, String why) {
        if (tracking.active() && Arrays.stream(bases).allMatch(b -> b < 0)) {
            queues.reap(why);
            kept = true;
            LOG.info("virtio-blk: {}: the back-end is lost; {} request(s) stay on the rings for the next back-end to resubmit"
                    + " from the inflight region", why, queues.outstanding());
            return 0;
        }
        return take(bases, why);
    }

    private int take(int[] bases, String why) {
        kept = false;
        int n = queues.takeOutstanding(bases, why);
        clear(why);
        return n;
    }

    /**
     * Packed rings restarted fresh on the same back-end (a snapshot or a restore, VIRTIO 1.2 2.8):
     * the region still describes the rings as they were, and a packed ring over a region in use
     * takes its position from the region, not from SET_VRING_BASE; zeroed, it describes none.
     */
    void freshRings(String why) {
        if (packed) {
            kept = false;
            clear(why);
        }
    }

    private void clear(String why) {
        try {
            tracking.clear();
        } catch (VhostException e) {
            LOG.warn("virtio-blk: {}: zeroing the inflight region failed ({}); it is no longer handed over", why, e.getMessage());
            tracking.close();
        }
    }

    /**
     * A rebind negotiated with {@code next} (features and memory table sent), the old back-end
     * still serving: hands it the region ahead ({@link InflightTracking#prepare}), so that
     * {@link #beforeRestart} sends nothing inside the I/O pause.
     *
     * @throws VhostException when SET_INFLIGHT_FD was refused (the rebind is refused)
     */
    void prepare(GenericVhostDevice next) throws VhostException {
        tracking.prepare(next, queues.count(), queueSize);
    }

    /**
     * A rebind starts {@code next}: requests left on the rings are taken off when it cannot
     * resubmit them (no INFLIGHT_SHMFD), then the region is handed to it.
     *
     * @throws VhostException when GET or SET_INFLIGHT_FD fails
     */
    void beforeRestart(GenericVhostDevice next) throws VhostException {
        if (kept && !InflightTracking.offered(next)) {
            int[] unknown = new int[queues.count()];
            Arrays.fill(unknown, -1);
            take(unknown, "rebind to " + next.backend().describe() + ", which does not offer INFLIGHT_SHMFD");
        }
        start(next);
    }

    /** Releases the region. */
    @Override
    public void close() {
        tracking.close();
    }
}
