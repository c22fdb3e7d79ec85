package com.vhost.spi.vhost;

import com.vhost.api.VhostException;
import com.vhost.api.VhostProtocolException;
import com.vhost.api.user.InflightRegion;
import com.vhost.api.user.VhostUserBackend;
import com.vhost.api.user.VhostUserProtocolFeature;
import com.vhost.spi.nativeio.Linux;
import com.vhost.spi.nativeio.SharedMemory;

/**
 * The front-end side of vhost-user inflight I/O tracking (QEMU {@code docs/interop/vhost-user.rst},
 * "Inflight I/O tracking"; QEMU's {@code vhost_dev_get_inflight} / {@code vhost_dev_set_inflight}):
 * one region per device, asked of the first back-end that offers
 * {@code VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD} (GET_INFLIGHT_FD, after features and before the
 * rings start) and handed to it and to every back-end after it (SET_INFLIGHT_FD), so a back-end
 * restarted after a crash finds in it the requests its predecessor had taken and not completed
 * and resubmits them. The region outlives the back-ends; {@link #close()} releases it with the
 * device. Its size and layout are the back-end's (spec: "the mmap size is computed by the
 * back-end"): the split or, for packed rings, the packed layout; the front-end never reads it. A
 * back-end that answers {@code mmap_size} 0 tracks nothing for these rings (as QEMU's
 * {@code vhost_user_get_inflight_fd} takes it): the device runs without a region.
 *
 * <p>A driver that moves its outstanding requests to a new ring itself (a hot-swap between live
 * back-ends) {@link #clear()}s the region first, so no back-end resubmits what the driver placed
 * again. Thread-safe.
 */
public final class InflightTracking implements AutoCloseable {
    private InflightRegion region;
    private boolean active;
    /** The device {@link #prepare} handed the region to ahead of its {@link #attach}, or null. */
    private GenericVhostDevice prepared;

    /**
     * @return whether {@code vhost}'s back-end negotiated INFLIGHT_SHMFD (a vhost-user back-end
     *     that offered it)
     */
    public static boolean offered(GenericVhostDevice vhost) {
        return vhost.backend() instanceof VhostUserBackend && VhostUserProtocolFeature.INFLIGHT_SHMFD.in(vhost.protocolFeatures());
    }

    /**
     * Hands the region to {@code vhost}'s back-end when it negotiated INFLIGHT_SHMFD, asking it for
     * one first (GET_INFLIGHT_FD) when the device has none of this shape yet; call after the
     * features were acked and before the rings start. SET_FEATURES goes first (unless
     * {@link GenericVhostDevice#prepare} sent it), so the back-end knows the ring layout the region
     * serves.
     *
     * @param numQueues queues the device runs
     * @param queueSize entries per queue
     * @return whether the back-end tracks inflight I/O in the region now (false also when
     *     GET_INFLIGHT_FD answered {@code mmap_size} 0: no region for these rings)
     * @throws VhostProtocolException when GET_INFLIGHT_FD returned a size but no fd, or a region of
     *     another shape
     * @throws VhostException when the back-end refused GET or SET_INFLIGHT_FD
     */
    public synchronized boolean attach(GenericVhostDevice vhost, int numQueues, int queueSize) throws VhostException {
        active = false;
        if (!offered(vhost)) {
            return false;
        }
        if (prepared == vhost && region != null && region.numQueues() == numQueues && region.queueSize() == queueSize) {
            prepared = null; // handed over by prepare already
            active = true;
            return true;
        }
        prepared = null;
        VhostUserBackend ub = (VhostUserBackend) vhost.backend();
        vhost.sendFeaturesAhead(); // the region's layout follows the ring format (QEMU vhost_dev_prepare_inflight)
        if (region == null || region.numQueues() != numQueues || region.queueSize() != queueSize) {
            InflightRegion r = ub.getInflightFd(numQueues, queueSize);
            if (r.mmapSize() == 0) {
                if (r.fd() >= 0) {
                    Linux.closeQuietly(r.fd());
                }
                return false;
            }
            if (r.fd() < 0) {
                throw new VhostProtocolException("GET_INFLIGHT_FD: the back-end returned no fd");
            }
            if (r.numQueues() != numQueues || r.queueSize() != queueSize || r.mmapSize() <= 0) {
                Linux.closeQuietly(r.fd());
                throw new VhostProtocolException("GET_INFLIGHT_FD: asked for " + numQueues + " queues of " + queueSize
                        + ", the back-end returned " + r.numQueues() + " of " + r.queueSize() + " in " + r.mmapSize() + " bytes");
            }
            closeRegion();
            region = r;
        }
        ub.setInflightFd(region);
        active = true;
        return true;
    }

    /**
     * Hands the region the device has to {@code next}'s back-end ahead of its {@link #attach}
     * (SET_INFLIGHT_FD, every ring of {@code next} stopped): a hot-swap does this while the old
     * back-end still serves, so that the request is not part of the I/O pause. The back-end only
     * maps the region then (it reads it when its rings start, libvhost-user and this project's
     * alike), and the region keeps being the old back-end's until then; {@link #active()} does
     * not change. Nothing is sent when {@code next} did not negotiate INFLIGHT_SHMFD or the device
     * has no region of this shape yet (then {@link #attach} asks for one).
     *
     * @return whether the region was handed over
     * @throws VhostException when the back-end refused SET_INFLIGHT_FD
     */
    public synchronized boolean prepare(GenericVhostDevice next, int numQueues, int queueSize) throws VhostException {
        prepared = null;
        if (!offered(next) || region == null || region.numQueues() != numQueues || region.queueSize() != queueSize) {
            return false;
        }
        ((VhostUserBackend) next.backend()).setInflightFd(region);
        prepared = next;
        return true;
    }

    /** @return whether the back-end in use was given the region ({@link #attach} returned true) */
    public synchronized boolean active() {
        return active;
    }

    /**
     * Zeroes the region, so the next back-end starts it afresh and resubmits nothing (the driver
     * placed its outstanding requests again itself); call while no back-end runs the rings.
     *
     * @throws VhostException when the region cannot be mapped
     */
    public synchronized void clear() throws VhostException {
        if (region == null) {
            return;
        }
        try (SharedMemory m = SharedMemory.map(region.fd(), region.mmapOffset(), region.mmapSize())) {
            m.segment().fill((byte) 0);
        }
    }

    /** Closes the region's fd. Idempotent. */
    @Override
    public synchronized void close() {
        closeRegion();
        active = false;
    }

    private void closeRegion() {
        prepared = null;
        if (region != null) {
            Linux.closeQuietly(region.fd());
            region = null;
        }
    }
}
