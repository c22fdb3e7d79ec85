package com.vhost.api;

import java.util.List;
import org.osgi.annotation.versioning.ProviderType;

/**
 * One open connection to a vhost back-end: the operation table shared by vhost-kernel,
 * vhost-user and vhost-vdpa (rust-vmm {@code VhostBackend}, QEMU {@code VhostOps}). Methods map
 * one-to-one onto the vhost-user request or ioctl of the same name. An operation the transport
 * does not have (protocol features on vhost-kernel, say) throws {@link VhostFeatureException}
 * naming it; a back-end's refusal throws {@link VhostRefusedException}. Calls are not
 * thread-safe: one thread drives a backend's control path at a time.
 */
@ProviderType
public interface VhostBackend extends AutoCloseable {
    /** @return the kind of back-end */
    VhostBackendType type();

    /** @return a human description, e.g. {@code "vhost-user:/tmp/vub.sock"} */
    String describe();

    /** @return false once the peer disconnected or {@link #close()} ran */
    boolean isConnected();

    /** GET_FEATURES. @return the back-end's virtio feature bits */
    long getFeatures() throws VhostException;

    /** SET_FEATURES: the feature bits the front-end acked. */
    void setFeatures(long features) throws VhostException;

    /** SET_OWNER: claims the back-end for this front-end. */
    void setOwner() throws VhostException;

    /** RESET_OWNER (deprecated in vhost-user; RESET_DEVICE is used where negotiated). */
    void resetOwner() throws VhostException;

    /** GET_PROTOCOL_FEATURES (vhost-user), or GET_BACKEND_FEATURES (kernel, vDPA). */
    long getProtocolFeatures() throws VhostException;

    /** SET_PROTOCOL_FEATURES (vhost-user), or SET_BACKEND_FEATURES (kernel, vDPA). */
    void setProtocolFeatures(long features) throws VhostException;

    /** GET_QUEUE_NUM (vhost-user with MQ). @return the back-end's maximum number of queues */
    int getQueueNum() throws VhostException;

    /** GET_MAX_MEM_SLOTS (vhost-user with CONFIGURE_MEM_SLOTS). @return memory slots supported */
    int getMaxMemSlots() throws VhostException;

    /** SET_MEM_TABLE: replaces the memory table with {@code regions} (at most 8 for vhost-user). */
    void setMemTable(List<MemoryRegion> regions) throws VhostException;

    /** ADD_MEM_REG (vhost-user with CONFIGURE_MEM_SLOTS). */
    void addMemRegion(MemoryRegion region) throws VhostException;

    /** REM_MEM_REG (vhost-user with CONFIGURE_MEM_SLOTS). */
    void removeMemRegion(MemoryRegion region) throws VhostException;

    /**
     * SET_LOG_BASE: the dirty log, one bit per 4 KiB page ({@code log[page / 8] |= 1 << (page % 8)}).
     *
     * @param fd vhost-user (LOG_SHMFD): the shared memory holding the log; vhost-kernel and
     *     vhost-vdpa: an eventfd the kernel signals after logging ({@code VHOST_SET_LOG_FD}), or -1
     * @param size log size in bytes
     * @param offset vhost-user: offset in bytes of the log within {@code fd}; kernel and vDPA: the
     *     log's user address ({@code VHOST_SET_LOG_BASE})
     */
    void setLogBase(int fd, long size, long offset) throws VhostException;

    /** SET_VRING_NUM: queue {@code index} has {@code num} descriptors (a power of two). */
    void setVringNum(int index, int num) throws VhostException;

    /** SET_VRING_ADDR. */
    void setVringAddr(VringAddr addr) throws VhostException;

    /** SET_VRING_BASE: the next avail index the back-end will read on queue {@code index}. */
    void setVringBase(int index, int base) throws VhostException;

    /** GET_VRING_BASE: stops queue {@code index}. @return its next avail index */
    int getVringBase(int index) throws VhostException;

    /** SET_VRING_KICK: eventfd the front-end writes to kick; -1 = no fd (back-end polls). */
    void setVringKick(int index, int fd) throws VhostException;

    /** SET_VRING_CALL: eventfd the back-end writes on used-buffer notification; -1 = none. */
    void setVringCall(int index, int fd) throws VhostException;

    /** SET_VRING_ERR: eventfd the back-end writes on a ring error; -1 = none. */
    void setVringErr(int index, int fd) throws VhostException;

    /** SET_VRING_ENABLE (vhost-user with PROTOCOL_FEATURES; VDPA_SET_VRING_ENABLE). */
    void setVringEnable(int index, boolean enable) throws VhostException;

    /**
     * GET_CONFIG: reads {@code size} bytes of device config space at {@code offset} bytes.
     *
     * @return exactly {@code size} bytes
     */
    byte[] getConfig(int offset, int size) throws VhostException;

    /** SET_CONFIG: writes {@code data} to device config space at {@code offset} bytes. */
    void setConfig(int offset, byte[] data) throws VhostException;

    /** GET_INFLIGHT_FD (vhost-user with INFLIGHT_SHMFD). @return the region; caller owns its fd */
    InflightRegion getInflightFd(int numQueues, int queueSize) throws VhostException;

    /** SET_INFLIGHT_FD (vhost-user with INFLIGHT_SHMFD). */
    void setInflightFd(InflightRegion region) throws VhostException;

    /**
     * SET_DEVICE_STATE_FD (vhost-user with DEVICE_STATE).
     *
     * @param direction 0 SAVE (back-end writes), 1 LOAD (back-end reads)
     * @param phase 0 STOPPED
     * @param fd the front-end's end of a pipe
     * @return the back-end's own fd to use instead (caller owns it), or -1 to use {@code fd}
     */
    int setDeviceStateFd(int direction, int phase, int fd) throws VhostException;

    /** CHECK_DEVICE_STATE: after a transfer, whether the back-end succeeded. */
    void checkDeviceState() throws VhostException;

    /** IOTLB_MSG (vhost-user) or a {@code vhost_msg_v2} written to the device fd (vDPA). */
    void iotlbMessage(IotlbMessage message) throws VhostException;

    /** SET_STATUS (vhost-user with STATUS; VHOST_VDPA_SET_STATUS). */
    void setStatus(int status) throws VhostException;

    /** GET_STATUS (vhost-user with STATUS; VHOST_VDPA_GET_STATUS). */
    int getStatus() throws VhostException;

    /** RESET_DEVICE (vhost-user with RESET_DEVICE); RESET_OWNER otherwise. */
    void resetDevice() throws VhostException;

    /**
     * The VirtIO device ID of the device behind this backend (VIRTIO 1.2 section 5: 1 net,
     * 2 block), where the backend can tell: vhost-vdpa asks the device
     * (VHOST_VDPA_GET_DEVICE_ID), vhost-net is always a net device. vhost-user has no such
     * request: 0. A driver checks it so that a node of another device type is refused by name
     * instead of being driven with the wrong config layout.
     *
     * @return the device ID, or 0 when unknown
     * @throws VhostException when asking the device failed (naming the request and errno)
     * @since 1.2
     */
    default int virtioDeviceId() throws VhostException {
        return 0;
    }

    /**
     * VHOST_VDPA_SUSPEND (backend feature SUSPEND): every ring stops where it is and the device
     * keeps its state, so GET_VRING_BASE afterwards is exact. Transports without it throw
     * {@link VhostFeatureException} naming themselves.
     *
     * @since 1.1
     */
    default void suspend() throws VhostException {
        throw new VhostFeatureException("SUSPEND: " + describe() + " cannot suspend its rings");
    }

    /**
     * VHOST_VDPA_RESUME (backend feature RESUME): undoes {@link #suspend()}.
     *
     * @since 1.1
     */
    default void resume() throws VhostException {
        throw new VhostFeatureException("RESUME: " + describe() + " cannot resume suspended rings");
    }

    /**
     * Registers the listener run when the back-end reports a config change (vhost-user
     * CONFIG_CHANGE_MSG on the backend request channel; vDPA config call eventfd).
     */
    void setConfigChangeListener(Runnable listener);

    /** Closes the connection and every fd it owns. Idempotent. */
    @Override
    void close();
}
