package com.vhost.spi.backend;

import com.vhost.api.VhostException;
import com.vhost.api.virtio.VirtioDevice;
import com.vhost.api.virtio.VirtioDeviceState;
import com.vhost.api.virtio.VirtqueueConfig;

/**
 * Optional for a back-end {@link VirtioDevice} model: stops and starts one queue while the device
 * stays {@link VirtioDeviceState#ACTIVE}, without putting the whole device to sleep (vhost-user
 * spec, "Ring states": a ring is started and stopped on its own, by SET_VRING_KICK /
 * SET_VRING_ENABLE and GET_VRING_BASE). The vhost-user back-end server uses it when a model
 * implements it and falls back to {@link VirtioDevice#sleep()} / {@link VirtioDevice#wake} with
 * the new set of queues otherwise. Not part of the API bundle: a transport detail of this runtime.
 *
 * <p>Both calls are made by the one thread that drives the device's life cycle, never
 * concurrently with {@code sleep}, {@code wake}, {@code reset}, {@code snapshot} or {@code
 * restore}.
 */
public interface PerQueueDevice {
    /**
     * Stops processing queue {@code index}; the other queues go on. Returns only once no request
     * of that queue is being processed: every chain taken from its available ring has been
     * completed into its used ring (a notification owed for them was sent), so the returned
     * {@code nextAvail} is what GET_VRING_BASE reports.
     *
     * @param index the queue index
     * @return the queue as it stopped ({@code nextAvail} = the next available entry to process,
     *     {@code enabled} as it ran, fds as given), or null when that queue was not running
     * @throws com.vhost.api.VirtioDeviceException when the device is not ACTIVE
     * @throws com.vhost.api.VhostTimeoutException when the request in flight did not finish in
     *     the model's stop timeout (the queue is still running then)
     */
    VirtqueueConfig stopQueue(int index) throws VhostException;

    /**
     * Starts processing {@code queue} (not running yet) over the memory the device was activated
     * (or rebound) with, beginning at its {@code nextAvail}; entries already available are
     * processed without waiting for a kick.
     *
     * @param queue the queue: index, size, ring addresses (guest-physical), nextAvail, kick fd
     *     (-1: polled), call fd, enabled
     * @throws com.vhost.api.VirtioDeviceException when the device is not ACTIVE or the queue is
     *     already running
     * @throws com.vhost.api.VirtqueueException when the queue does not fit the device (index,
     *     size) or its rings lie outside guest memory
     */
    void startQueue(VirtqueueConfig queue) throws VhostException;
}
