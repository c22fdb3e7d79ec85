package com.vhost.api;

import java.util.List;
import org.osgi.annotation.versioning.ProviderType;

/**
 * One open connection to a vhost back-end: the operations every transport has (rust-vmm
 * {@code vhost/src/backend.rs} {@code VhostBackend}; QEMU {@code include/hw/virtio/vhost-backend.h}
 * {@code VhostOps}' mandatory hooks). Each maps one-to-one onto the vhost-user request (QEMU
 * {@code docs/interop/vhost-user.rst}) or the ioctl of Linux {@code include/uapi/linux/vhost.h}
 * of the same name.
 *
 * <p>What only some transports have is not here but in small capability interfaces, each
 * implemented only by a backend that has the operation: {@link VringEnableBackend},
 * {@link ConfigSpaceBackend}, {@link DeviceStatusBackend}, {@link SuspendableBackend},
 * {@link DeviceStateBackend}; and in one extension per transport that bundles its own requests
 * with the capabilities it has: {@link com.vhost.api.user.VhostUserBackend} (vhost-user, as
 * rust-vmm's {@code VhostUserFrontend: VhostBackend}) and {@link com.vhost.api.vdpa.VhostVdpaBackend}
 * (vhost-vdpa, as rust-vmm's {@code VhostVdpa: VhostBackend}). A caller asks for a capability
 * with {@code instanceof}; no transport throws "not supported" for a method it declares. A
 * request the transport has but the peer did not negotiate (a vhost-user protocol feature, a vDPA
 * backend feature) still throws {@link VhostFeatureException} naming the missing feature.
 *
 * <p>Errors: a back-end's refusal throws {@link VhostRefusedException}, an errno from an ioctl or
 * socket {@link VhostNativeException}, a malformed reply {@link VhostProtocolException}, a lost
 * peer {@link VhostDisconnectedException}; each names the request and queue. Calls are not
 * thread-safe: one thread drives a backend's control path at a time (locking is the caller's).
 */
@ProviderType
public interface VhostBackend extends AutoCloseable {
    /** @return a human description, e.g. {@code "vhost-user:/tmp/vub.sock"} or {@code "vdpa:/dev/vhost-vdpa-0"} */
    String describe();

    /** @return false once the peer disconnected or {@link #close()} ran */
    boolean isConnected();

    /** GET_FEATURES ({@code VHOST_GET_FEATURES}). @return the back-end's virtio feature bits */
    long getFeatures() throws VhostException;

    /** SET_FEATURES ({@code VHOST_SET_FEATURES}): the feature bits the front-end acked. */
    void setFeatures(long features) throws VhostException;

    /** SET_OWNER ({@code VHOST_SET_OWNER}): claims the back-end for this front-end. */
    void setOwner() throws VhostException;

    /** RESET_OWNER ({@code VHOST_RESET_OWNER}; deprecated in vhost-user, see {@link #resetDevice()}). */
    void resetOwner() throws VhostException;

    /**
     * SET_MEM_TABLE: replaces the memory table with {@code regions} (vhost-user: 1 to 8 regions,
     * each with its fd; vhost-kernel: {@code VHOST_SET_MEM_TABLE}; vhost-vdpa: IOTLB updates at
     * IOVA = guest-physical address).
     */
    void setMemTable(List<MemoryRegion> regions) throws VhostException;

    /**
     * SET_LOG_BASE: the dirty log, one bit per 4 KiB page ({@code log[page / 8] |= 1 << (page % 8)}).
     *
     * @param fd vhost-user (LOG_SHMFD): the shared memory holding the log; vhost-kernel and
     *     vhost-vdpa: an eventfd the kernel signals after logging ({@code VHOST_SET_LOG_FD}), or -1
     * @param size log size in bytes
     * @param offset vhost-user: offset in bytes of the log within {@code fd}; kernel and vDPA: the
     *     log's user address ({@code VHOST_SET_LOG_BASE})
     * @throws VhostFeatureException on vhost-user without LOG_SHMFD negotiated
     */
    void setLogBase(int fd, long size, long offset) throws VhostException;

    /** SET_VRING_NUM: queue {@code index} has {@code num} descriptors (a power of two). */
    void setVringNum(int index, int num) throws VhostException;

    /** SET_VRING_ADDR: the ring addresses (front-end virtual addresses; IOVAs on vhost-vdpa). */
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

    /**
     * IOTLB_MSG (vhost-user, needs VIRTIO_F_ACCESS_PLATFORM negotiated), or a
     * {@code struct vhost_msg_v2} written to the device fd (vhost-kernel, vhost-vdpa).
     */
    void iotlbMessage(IotlbMessage message) throws VhostException;

    /**
     * Resets the device: RESET_DEVICE (vhost-user with RESET_DEVICE, else RESET_OWNER),
     * {@code VHOST_RESET_OWNER} (vhost-kernel), status 0 (vhost-vdpa).
     */
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
     */
    default int virtioDeviceId() throws VhostException {
        return 0;
    }

    /** Closes the connection and every fd it owns. Idempotent. */
    @Override
    void close();
}
