package com.vhost.api;

import com.vhost.api.virtio.GuestMemory;
import com.vhost.api.virtio.VirtqueueConfig;
import java.util.List;
import org.osgi.annotation.versioning.ProviderType;

/**
 * The generic vhost device of QEMU {@code include/hw/virtio/vhost.h} ({@code struct vhost_dev}):
 * a set of virtqueues whose data plane runs in a {@link VhostBackend}. It negotiates features,
 * programs the memory table and vrings in the right order and stops them again.
 *
 * <p>Start order (QEMU {@code vhost_dev_start}): SET_FEATURES, SET_MEM_TABLE, then per queue
 * SET_VRING_NUM, SET_VRING_BASE, SET_VRING_ADDR, SET_VRING_KICK, SET_VRING_CALL, and last
 * SET_VRING_ENABLE(1) when PROTOCOL_FEATURES was negotiated. Stop: SET_VRING_ENABLE(0) where
 * negotiated, then GET_VRING_BASE per queue.
 */
@ProviderType
public interface VhostDevice extends AutoCloseable {
    /** @return the backend this device talks to */
    VhostBackend backend();

    /** @return the number of virtqueues (vhost-user: at most GET_QUEUE_NUM) */
    int numQueues();

    /** @return the feature bits the back-end offered (GET_FEATURES) */
    long backendFeatures();

    /** @return the vhost-user protocol features (or backend features) in force */
    long protocolFeatures();

    /**
     * {@code vhost_ack_features}: keeps the driver's {@code features} the back-end also offers.
     *
     * @return the acked features, sent with SET_FEATURES at {@link #start}
     * @throws VhostFeatureException when VERSION_1 (bit 32) is not in the result
     */
    long ackFeatures(long features) throws VhostException;

    /** @return the features acked by {@link #ackFeatures} (0 before) */
    long ackedFeatures();

    /**
     * {@code vhost_dev_start}: programs memory and every queue and starts them.
     *
     * @param memory the memory the rings and buffers live in
     * @param queues one entry per queue to start, indices below {@link #numQueues()}
     * @throws VhostException naming the request and queue that failed; the device is then stopped
     */
    void start(GuestMemory memory, List<VirtqueueConfig> queues) throws VhostException;

    /**
     * {@code vhost_dev_stop}: disables and stops every started queue.
     *
     * @return per started queue (in {@link #start} order) its next avail index (GET_VRING_BASE)
     */
    int[] stop() throws VhostException;

    /** @return whether {@link #start} succeeded and {@link #stop} has not run since */
    boolean isStarted();

    /**
     * {@code vhost_virtqueue_mask}: while masked, the back-end's call notifications for queue
     * {@code index} are held (the pending state is kept and reported by {@link #virtqueuePending}).
     */
    void virtqueueMask(int index, boolean mask) throws VhostException;

    /** {@code vhost_virtqueue_pending}: whether a call for queue {@code index} arrived while masked. */
    boolean virtqueuePending(int index);

    /** {@code vhost_dev_get_config}: {@code length} bytes of config space at offset 0. */
    byte[] getConfig(int length) throws VhostException;

    /** {@code vhost_dev_set_config}: writes {@code data} at {@code offset} bytes. */
    void setConfig(int offset, byte[] data) throws VhostException;

    /**
     * Reads the device's config space for a driver whose config structure is {@code wanted} bytes
     * and which takes the first {@code needed} of them from the device. Where the device's config
     * has its own size (vhost-vdpa) only {@code needed} bytes are read and the rest is zero.
     *
     * @return {@code wanted} bytes, or null when the backend has no config space to give
     *     (vhost-net; vhost-user without protocol feature CONFIG)
     * @throws VhostException from GET_CONFIG, naming it
     * @since 2.0
     */
    byte[] readDeviceConfig(int wanted, int needed) throws VhostException;

    /**
     * @return whether started rings are switched one by one with {@link #setVringEnable}
     *     (vhost-user with PROTOCOL_FEATURES, vhost-net's TAP attach; not vhost-vdpa, whose rings
     *     are enabled once before DRIVER_OK)
     * @since 2.0
     */
    boolean switchesRings();

    /**
     * {@code vhost_set_vring_enable} for one started ring (a change of the active queues).
     *
     * @throws VhostFeatureException where rings are not {@link #switchesRings() switched one by one}
     * @throws VhostException from the backend, naming SET_VRING_ENABLE and the queue
     * @since 2.0
     */
    void setVringEnable(int index, boolean enable) throws VhostException;

    /**
     * Stops the rings for a sleep: as {@link #stop()}, but a device that can suspend (vhost-vdpa
     * with SUSPEND and RESUME) keeps its state, and the next {@link #start} with the same memory,
     * features and queues resumes it.
     *
     * @return per started queue (in {@link #start} order) its next avail index
     * @since 2.0
     */
    default int[] suspend() throws VhostException {
        return stop();
    }

    /** {@code vhost_dev_set_config_notifier}: run on a back-end config change. */
    void setConfigChangeNotifier(Runnable notifier);

    /** {@code vhost_dev_cleanup}: stops if started and closes the backend. */
    @Override
    void close();
}
