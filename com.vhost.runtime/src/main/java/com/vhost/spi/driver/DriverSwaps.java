package com.vhost.spi.driver;

import com.vhost.api.VhostBackend;
import com.vhost.api.VhostDisconnectedException;
import com.vhost.api.VhostException;
import com.vhost.api.VhostFeatureException;
import com.vhost.api.VirtioDeviceException;
import com.vhost.spi.nativeio.Scheduling;
import com.vhost.spi.vhost.GenericVhostDevice;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * The rebind and detach templates of a {@link VhostDriver} (QEMU {@code vhost_dev_stop} /
 * {@code vhost_dev_start} across back-ends), and the handling of a backend that fails under a
 * command. The caller holds the swap lock and checked the driver may swap.
 */
final class DriverSwaps {
    private DriverSwaps() {}

    /**
     * Negotiates with {@code nb} while the old backend still serves, holds the data path,
     * quiesces the old backend, starts {@code nb} where the rings stopped and resumes. A refusal
     * changes nothing; a start that fails leaves the device detached (the one failure rule).
     */
    static <F extends VhostFrontendDevice<?>> void rebind(VhostDriver<F, ?> d, VhostBackend nb) throws VhostException {
        String from = d.backendName();
        String name = nb.describe();
        GenericVhostDevice nv;
        try {
            GenericVhostDevice.requireDeviceType(nb, d.profile().type());
            nv = new GenericVhostDevice(nb, d.vhostQueues());
        } catch (VhostFeatureException e) {
            nb.close();
            throw new VhostFeatureException("rebind to " + name + " refused, the device stays on " + from + ": " + e.getMessage());
        } catch (VhostException | RuntimeException e) {
            nb.close();
            throw e;
        }
        F nf;
        try {
            nf = d.newFrontend(nv);
            d.checkCompatible(nf, name, from);
            nf.ackFeatures(d.ackedFeatures());
            d.adopt(nf, d.frontend());
            nf.prepare(d.memory()); // features and memory table now, while the old backend still serves
            d.prepareNext(nv);
        } catch (VhostException | RuntimeException e) {
            nv.close();
            throw e;
        }
        long t0 = System.nanoTime();
        boolean wasDetached = d.swap.isDetached();
        GenericVhostDevice old = wasDetached ? null : d.vhost();
        boolean started = false;
        int taken = 0;
        int placed;
        Scheduling.Boost boost = Scheduling.boost(); // the pause is a chain of wake-ups of this thread
        hold(d, boost);
        try {
            if (!wasDetached) {
                taken = DriverQuiesce.quiesce(d, "rebind to " + name, nv, DriverQuiesce.Close.AFTER_START);
            }
            // From here on the device has no backend until the new one is started.
            long ta = System.nanoTime();
            try {
                d.beforeRestart(nv);
                nf.activate(d.memory(), d.interrupt(), d.restartConfigs(nf));
                d.log.debug("{}: {} started in {} us", d.profile().device(), name, (System.nanoTime() - ta) / 1000);
            } catch (VhostException | RuntimeException e) {
                nv.close();
                if (!wasDetached) {
                    markDetached(d, from);
                }
                VhostException v = e instanceof VhostException ve ? ve
                        : new VirtioDeviceException("rebind: starting " + name + " failed: " + e, e);
                d.log.warn("{}: starting {} failed ({}); the device is detached, {} wait up to {} ms for a backend",
                        d.profile().device(), name, v.getMessage(), d.profile().waiting(),
                        TimeUnit.NANOSECONDS.toMillis(d.swap.swapWaitNanos()));
                throw v;
            }
            d.attach(nv, nf);
            d.attachedTo(nv, name);
            long last = d.lastCompletionNanos();
            d.swap.attached(last != 0 ? last : t0);
            started = true;
        } finally {
            placed = d.resumeDataPath(started);
            boost.close();
            if (old != null) {
                old.close(); // its rings stopped in the quiesce: closed after the pause (DriverQuiesce.Close.AFTER_START)
            }
        }
        d.swap.swapped(t0);
        d.swapped(from, name, d.swap.lastSwitchNanos(), taken, placed);
    }

    /** {@link VhostDriver#holdDataPath}; a failure ends {@code boost}. */
    private static void hold(VhostDriver<?, ?> d, Scheduling.Boost boost) {
        try {
            d.holdDataPath();
        } catch (RuntimeException | Error e) {
            boost.close();
            throw e;
        }
    }

    /** Holds the data path, quiesces and closes the backend, and marks the device detached (requests wait). */
    static void detach(VhostDriver<?, ?> d) {
        String from = d.backendName();
        long t0 = System.nanoTime();
        Scheduling.Boost boost = Scheduling.boost();
        hold(d, boost);
        try {
            DriverQuiesce.quiesce(d, "detach", null, DriverQuiesce.Close.NOW);
            markDetached(d, from);
        } finally {
            d.resumeDataPath(false);
            boost.close();
        }
        d.log.info("{} unbind: from {} to (none), switch {} us; {} wait up to {} ms for a backend", d.profile().device(), from,
                TimeUnit.NANOSECONDS.toMicros(System.nanoTime() - t0), d.profile().waiting(),
                TimeUnit.NANOSECONDS.toMillis(d.swap.swapWaitNanos()));
    }

    /**
     * The backend failed under a snapshot or restore (data path held): handled as a backend
     * loss. Under detach-on-loss the device is quiesced and detached (requests wait for a
     * rebind), else the driver fails with "DEVICE on NAME: why".
     */
    static void lostUnderCommand(VhostDriver<?, ?> d, String name, VhostException why) {
        if (d.swap.detachOnLoss()) {
            DriverQuiesce.quiesce(d, "loss of " + name, null, DriverQuiesce.Close.NOW);
            markDetached(d, name);
        } else {
            d.lost("", new VhostDisconnectedException(d.profile().device() + " on " + name + ": " + why.getMessage()));
        }
    }

    /**
     * Detaches the device on a thread of its own (the caller, a data-path or completion thread,
     * may hold what detaching waits for); a detach that fails fails the driver.
     *
     * @param done run when the thread ends
     */
    static void detachOnLoss(VhostDriver<?, ?> d, String noticed, Runnable done) {
        String name = d.backendName();
        Thread.ofPlatform().daemon().name(d.profile().threads() + "-detach").start(() -> {
            try {
                d.log.warn("{} on {}: backend lost{}; detaching, {} wait for a new backend", d.profile().device(), name, noticed,
                        d.profile().waiting());
                d.detach();
            } catch (VhostException | RuntimeException e) {
                d.lost(noticed, new VhostDisconnectedException(d.profile().device() + ": backend " + name
                        + " lost and detaching failed: " + e.getMessage()));
            } finally {
                done.run();
            }
        });
    }

    /** See {@link VhostDriver#expireHeldAt}: a thread that fails what is held once the detached wait is over. */
    static void expireHeldAt(VhostDriver<?, ?> d, long deadline) {
        Thread.ofPlatform().daemon().name(d.profile().threads() + "-detached").start(() -> {
            while (d.swap.detachedDeadline() == deadline && !d.isClosed()) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    VhostException e = d.swap.expired();
                    if (e != null) {
                        d.failOutstanding(e);
                        d.log.warn("{}: {}", d.profile().device(), e.getMessage());
                    }
                    return;
                }
                LockSupport.parkNanos(Math.min(left, 50_000_000L));
            }
        });
    }

    /** Marks the device detached from {@code from} (the wait starts now) and tells the driver. */
    private static void markDetached(VhostDriver<?, ?> d, String from) {
        d.onDetached(d.swap.markDetached(from));
    }
}
