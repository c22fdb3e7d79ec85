package com.vhost.spi.driver;

import com.vhost.api.VhostDisconnectedException;
import com.vhost.api.VhostException;
import com.vhost.api.VirtioDeviceException;
import com.vhost.api.virtio.VirtioDeviceState;
import com.vhost.api.virtio.VirtqueueConfig;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The snapshot and restore templates of a {@link VhostDriver} (the second seed's sleep,
 * snapshot, wake done by the driver that owns the rings). The caller holds the swap lock and
 * checked the device is attached and usable.
 */
final class DriverSnapshots {
    private DriverSnapshots() {}

    /**
     * Holds the data path, stops the rings (GET_VRING_BASE per queue), reaps the stragglers,
     * records the device ({@link VhostDriver#record}) and wakes the rings on the same backend.
     * A failure is handled as a backend loss ({@link DriverSwaps#lostUnderCommand}) and thrown.
     */
    static <F extends VhostFrontendDevice<?>, S extends VhostDriver.Snapshot> byte[] snapshot(VhostDriver<F, S> d) throws VhostException {
        String device = d.profile().device();
        String name = d.backendName();
        F f = d.frontend();
        S rec = null;
        VhostException failed = null;
        d.holdDataPath();
        try {
            DriverQuiesce.Stop stop = DriverQuiesce.stopRings(d, "snapshot");
            if (stop.error() != null) {
                throw stop.error();
            }
            DriverQuiesce.awaitStragglers(d, stop.bases(), "snapshot");
            rec = d.record(f, stop.bases(), stop.slept());
            f.wake(d.wakeAfter(rec));
        } catch (VhostException e) {
            failed = e;
        } catch (RuntimeException e) {
            failed = new VirtioDeviceException("snapshot of " + device + " on " + name + ": " + e, e);
        }
        try {
            if (failed != null) {
                d.log.warn("{} on {}: snapshot failed: {}; handling it as a backend loss", device, name, failed.getMessage());
                DriverSwaps.lostUnderCommand(d, name, failed);
            }
        } finally {
            d.resumeDataPath(failed == null);
        }
        if (failed != null) {
            throw failed;
        }
        d.log.info("{} on {}: snapshot taken: {}", device, name, rec.describe());
        return rec.encode();
    }

    /**
     * Holds the data path, quiesces the backend without closing it, resets the rings at the
     * snapshot's indices ({@link VhostDriver#resetRings}), loads its device state and wakes the
     * rings there; then places the outstanding requests again. A failure is handled as a backend
     * loss and thrown.
     *
     * @return the driver's one-line result ({@link VhostDriver#restored})
     */
    static <F extends VhostFrontendDevice<?>, S extends VhostDriver.Snapshot> String restore(VhostDriver<F, S> d, S s) throws VhostException {
        String device = d.profile().device();
        String name = d.backendName();
        long t0 = System.nanoTime();
        F f = d.frontend();
        VhostException failed = null;
        int placed = 0;
        d.holdDataPath();
        try {
            try {
                DriverQuiesce.quiesce(d, "restore", null, DriverQuiesce.Close.NEVER);
                if (f.state() != VirtioDeviceState.ASLEEP_ACTIVE) {
                    throw new VhostDisconnectedException("restore: the rings of " + name + " could not be stopped (device "
                            + f.state() + ")");
                }
                List<VirtqueueConfig> configs = d.resetRings(s);
                d.loadState(f, s);
                f.wake(configs);
            } catch (VhostException e) {
                failed = e;
            } catch (RuntimeException e) {
                failed = new VirtioDeviceException("restore: restarting " + name + " failed: " + e, e);
            }
            if (failed != null) {
                d.log.warn("{} on {}: restore failed: {}; handling it as a backend loss", device, name, failed.getMessage());
                DriverSwaps.lostUnderCommand(d, name, failed);
            }
        } finally {
            placed = d.resumeDataPath(failed == null);
        }
        if (failed != null) {
            throw failed;
        }
        String result = d.restored(s, TimeUnit.NANOSECONDS.toMicros(System.nanoTime() - t0), placed);
        d.log.info("{} {}", device, result);
        return result;
    }
}
