package com.vhost.api.virtio;

import com.vhost.api.VhostException;
import java.util.List;
import org.osgi.annotation.versioning.ConsumerType;

/**
 * A VirtIO device as a transport drives it (crosvm {@code devices/src/virtio/virtio_device.rs},
 * second seed): the transport reads its type, queue sizes, features and config, acks the
 * driver's features, and {@link #activate}s it with memory, an interrupt and the queues.
 * Life cycle and the states allowed for each call: see {@link VirtioDeviceState}. A call in a
 * state that does not allow it throws {@link com.vhost.api.VirtioDeviceException}.
 *
 * <p>The same interface serves both sides: a back-end model (file-backed virtio-blk served over
 * vhost-user) processes the queues itself; a front-end device (virtio-blk over a vhost backend)
 * hands them to its {@link com.vhost.api.VhostDevice}.
 */
@ConsumerType
public interface VirtioDevice {
    /** @return the device type */
    VirtioDeviceType deviceType();

    /** @return the maximum size of each queue; the array's length is the number of queues */
    int[] queueMaxSizes();

    /** @return the feature bits the device offers (device-specific and transport bits) */
    long features();

    /** Acknowledges the features the driver accepted (a subset of {@link #features()}). */
    void ackFeatures(long features);

    /** @return the features acked so far */
    long ackedFeatures();

    /**
     * Reads config space.
     *
     * @param offset byte offset into the device-specific config space
     * @param data filled with {@code data.length} bytes; bytes past the config's end read as 0
     */
    void readConfig(long offset, byte[] data);

    /** Writes config space at byte {@code offset}; writes to read-only fields are ignored. */
    void writeConfig(long offset, byte[] data);

    /**
     * Activates the device: NEW or INACTIVE → ACTIVE.
     *
     * @param memory where rings and buffers live
     * @param interrupt how to notify the driver
     * @param queues the queues the driver set up (enabled ones only)
     * @throws VhostException when a queue is invalid or the back-end refused
     */
    void activate(GuestMemory memory, Interrupt interrupt, List<VirtqueueConfig> queues) throws VhostException;

    /** ACTIVE → INACTIVE: stops processing and releases the queues. */
    void reset() throws VhostException;

    /**
     * Pauses all processing: NEW/ACTIVE/INACTIVE → ASLEEP_*. No request is lost: requests in
     * flight complete first or are recorded in the snapshot.
     *
     * @return for an active device the queues with their current {@code nextAvail}; else empty
     */
    List<VirtqueueConfig> sleep() throws VhostException;

    /**
     * Resumes: ASLEEP_* → the state it slept from.
     *
     * @param queues for an active device, the queues to resume with (as {@link #sleep} returned
     *     them or as restored), else empty. An empty list for an active device differs by side:
     *     a back-end model resumes exactly the queues given, so none (the vhost-user server
     *     stopped every ring with GET_VRING_BASE and keeps the bases); a front-end device resumes
     *     the queues {@link #sleep} returned (or {@link #restore} set).
     */
    void wake(List<VirtqueueConfig> queues) throws VhostException;

    /** @return the device's state as bytes; only while asleep */
    byte[] snapshot() throws VhostException;

    /** Restores state taken by {@link #snapshot()}; only while asleep. */
    void restore(byte[] snapshot) throws VhostException;

    /** @return the current life-cycle state */
    VirtioDeviceState state();
}
