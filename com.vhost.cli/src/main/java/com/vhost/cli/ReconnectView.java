package com.vhost.cli;

import com.vhost.api.VhostBackend;

/**
 * What {@link Reconnector} needs of a device that waits for a new back-end when it loses its own
 * (a driver opened with {@code detach.on.loss=true}, see {@link DriverServices#reconnectView}):
 * the blk and the net driver give the same view ({@link com.vhost.api.registry.VirtioDriver}'s
 * {@code detached} counter and {@code rebind}).
 */
interface ReconnectView {
    /** @return whether the device has lost its back-end and waits for {@link #rebind} */
    boolean detached();

    /**
     * Gives the detached device a new back-end; what it held resumes (the driver core's
     * {@code VirtioDriver#rebind} contract).
     *
     * @param newBackend open; owned from now on (closed on failure)
     * @throws Exception when the new back-end cannot be started; the device stays detached
     */
    void rebind(VhostBackend newBackend) throws Exception;
}
