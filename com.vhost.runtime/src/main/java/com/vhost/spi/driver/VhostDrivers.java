package com.vhost.spi.driver;

import com.vhost.api.VhostBackend;
import com.vhost.api.VhostException;
import com.vhost.api.virtio.VirtioDeviceType;
import com.vhost.spi.vhost.GenericVhostDevice;

/** How the device bundles' drivers (blk, net) open a backend: one ownership rule for all. */
public final class VhostDrivers {
    private VhostDrivers() {}

    /** Makes a driver on a vhost device; may fail with a {@link VhostException}. */
    @FunctionalInterface
    public interface Starter<D> {
        D start(GenericVhostDevice vhost) throws VhostException;
    }

    /**
     * Checks the backend's device type, puts a {@link GenericVhostDevice} with {@code queues}
     * virtqueues on it and starts the driver there. On failure everything opened so far is
     * released: {@code backend} when the device could not be made, the device (and with it the
     * backend) when the driver could not start.
     *
     * @param backend an open backend; owned by the result from now on (closed on failure)
     * @param type the virtio device type the backend must serve (virtio 1.2 section 5)
     * @param queues how many virtqueues the device has
     * @param start makes the driver on the device
     * @return the started driver
     * @throws VhostException (or a RuntimeException) from the type check, the device or the driver,
     *     as thrown, after releasing what was opened
     */
    public static <D> D open(VhostBackend backend, VirtioDeviceType type, int queues, Starter<D> start)
            throws VhostException {
        GenericVhostDevice vhost;
        try {
            GenericVhostDevice.requireDeviceType(backend, type);
            vhost = new GenericVhostDevice(backend, queues);
        } catch (VhostException | RuntimeException e) {
            backend.close();
            throw e;
        }
        try {
            return start.start(vhost);
        } catch (VhostException | RuntimeException e) {
            vhost.close();
            throw e;
        }
    }
}
