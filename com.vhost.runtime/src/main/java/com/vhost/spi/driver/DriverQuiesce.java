package com.vhost.spi.driver;

import com.vhost.api.VhostDisconnectedException;
import com.vhost.api.VhostException;
import com.vhost.api.VirtioDeviceException;
import com.vhost.api.virtio.VirtioDeviceState;
import com.vhost.api.virtio.VirtqueueConfig;
import com.vhost.spi.vhost.GenericVhostDevice;
import com.vhost.spi.virtqueue.DriverQueue;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * The quiesce of a {@link VhostDriver}'s backend, in the order QEMU's {@code vhost_dev_stop} and
 * the vhost-user spec ("Stopping rings", "Migrating back-end state") give: stop the rings, reap
 * the chains the back-end had taken, carry its state, take what is outstanding, close it. The
 * caller holds the swap lock and has held the data path.
 */
final class DriverQuiesce {
    private DriverQuiesce() {}

    /**
     * The rings' stop.
     *
     * @param bases per queue index the base GET_VRING_BASE returned, -1 when unknown
     * @param slept the queues as {@link VhostFrontendDevice#sleep} returned them (empty when not stopped)
     * @param error why the rings were not stopped, or null when they were
     */
    record Stop(int[] bases, List<VirtqueueConfig> slept, VhostException error) {}

    /** When {@link #quiesce} closes the backend it stopped. */
    enum Close {
        /** At the end of the quiesce (detach, loss). */
        NOW,
        /**
         * By the caller once the next backend started (a rebind): a backend whose rings stopped
         * serves nothing and changes no state any more, so its teardown (on both sides of the
         * connection) is kept out of the I/O pause. One whose rings could not be stopped is
         * closed at once, as {@link #NOW}.
         */
        AFTER_START,
        /** Not at all: its front-end stays ASLEEP_ACTIVE when the rings stopped (snapshot, restore). */
        NEVER
    }

    /**
     * Stops the backend's rings, reaps stragglers, carries the back-end's state to {@code next}
     * (when both offer DEVICE_STATE), takes what is outstanding ({@link VhostDriver#takeOutstanding})
     * and closes the backend as {@code close} says. A backend that cannot stop its rings is not
     * waited for: everything not completed is taken.
     *
     * @return requests (chains) taken off the rings
     */
    static int quiesce(VhostDriver<?, ?> d, String why, GenericVhostDevice next, Close close) {
        long t0 = System.nanoTime();
        GenericVhostDevice v = d.vhost();
        Stop stop = stopRings(d, why);
        long t1 = System.nanoTime();
        if (stop.error() == null) {
            awaitStragglers(d, stop.bases(), why);
            if (next != null) {
                d.swap.carryState(v, next, d.profile().stateTransferMs());
            }
        }
        long t2 = System.nanoTime();
        int taken = d.takeOutstanding(stop.bases(), why);
        long t3 = System.nanoTime();
        if (close != Close.NEVER) {
            d.swap.leaving(v.backend().describe());
        }
        if (close == Close.NOW || (close == Close.AFTER_START && stop.error() != null)) {
            v.close();
        }
        d.log.debug("{}: stopped {} for {}: {} {} taken off the rings; rings {} us, reap {} us, take {} us, close {} us",
                d.profile().device(), v.backend().describe(), why, taken, d.profile().waiting(), (t1 - t0) / 1000,
                (t2 - t1) / 1000, (t3 - t2) / 1000, (System.nanoTime() - t3) / 1000);
        return taken;
    }

    /**
     * Stops the rings of a running, connected backend ({@link VhostDriver#beforeStop}, then
     * {@link VhostFrontendDevice#sleep}). A refusal is logged and returned, not thrown.
     */
    static Stop stopRings(VhostDriver<?, ?> d, String why) {
        int[] bases = new int[d.ringCount()];
        Arrays.fill(bases, -1);
        VhostFrontendDevice<?> f = d.frontend();
        GenericVhostDevice v = d.vhost();
        String name = v.backend().describe();
        if (f.state() != VirtioDeviceState.ACTIVE) {
            return new Stop(bases, List.of(), new VirtioDeviceException(why + ": the rings of " + name
                    + " are not running (device " + f.state() + ")"));
        }
        if (!v.backend().isConnected()) {
            return new Stop(bases, List.of(), new VhostDisconnectedException(why + ": " + d.profile().device() + " on "
                    + name + " is disconnected"));
        }
        VhostException error;
        try {
            d.beforeStop(v);
            List<VirtqueueConfig> slept = f.sleep();
            for (VirtqueueConfig c : slept) {
                if (c.index() >= 0 && c.index() < bases.length) {
                    bases[c.index()] = c.nextAvail();
                }
            }
            return new Stop(bases, slept, null);
        } catch (VhostException e) {
            error = e;
        } catch (RuntimeException e) {
            error = new VirtioDeviceException(why + ": stopping the rings of " + name + " failed: " + e, e);
        }
        d.log.warn("{} on {}: stopping the rings for {} failed ({}); {}", d.profile().device(), name, why,
                error.getMessage(), d.profile().notStopped());
        Arrays.fill(bases, -1);
        return new Stop(bases, List.of(), error);
    }

    /**
     * GET_VRING_BASE returns the back-end's next avail index, but a back-end may still be
     * executing chains it had taken (libvhost-user, hence qemu-storage-daemon, completes them
     * later into the used ring and the buffers). Before a ring is reset or handed to another
     * back-end they must have completed, or a late write lands in memory that was reused. Reaps
     * each ring until its used index reaches its base, bounded by
     * {@link VhostDriver.DriverProfile#stragglerWaitNanos()}; what is still missing after that is
     * taken as outstanding (logged). A base that is not between the used and the avail index is
     * not about this ring: it becomes -1 (unknown).
     */
    static void awaitStragglers(VhostDriver<?, ?> d, int[] bases, String why) {
        long wait = d.profile().stragglerWaitNanos();
        long deadline = System.nanoTime() + wait;
        String name = d.vhost().backend().describe();
        for (int i = 0; i < bases.length; i++) {
            DriverQueue q = d.ringQueue(i);
            if (bases[i] < 0 || q == null) {
                continue;
            }
            while (true) {
                try {
                    d.reap(i);
                } catch (VhostException | RuntimeException e) {
                    d.log.warn("queue {}: reaping after GET_VRING_BASE for {} failed: {}", i, why, e.toString());
                    break;
                }
                q = d.ringQueue(i);
                int missing = q.usedDistance(bases[i]);
                if (missing == 0) {
                    break;
                }
                if (missing < 0) {
                    d.log.warn("queue {}: base {} from {} is not between the used index {} and the avail index {}; restarting at {}",
                            i, bases[i], name, q.lastUsedIdx(), q.availIdx(), q.lastUsedIdx());
                    bases[i] = -1;
                    break;
                }
                if (System.nanoTime() - deadline > 0) {
                    d.log.warn("queue {}: {} chain(s) taken by {} not completed {} ms after GET_VRING_BASE; {}", i, missing,
                            name, TimeUnit.NANOSECONDS.toMillis(wait), d.profile().retaken());
                    break;
                }
                LockSupport.parkNanos(20_000);
            }
        }
    }
}
