package com.vhost.api.user;

import com.vhost.api.ConfigSpaceBackend;
import com.vhost.api.DeviceStateBackend;
import com.vhost.api.DeviceStatusBackend;
import com.vhost.api.MemoryRegion;
import com.vhost.api.VhostBackend;
import com.vhost.api.VhostException;
import com.vhost.api.VhostFeatureException;
import com.vhost.api.VringEnableBackend;
import org.osgi.annotation.versioning.ProviderType;

/**
 * A vhost-user front-end connection (QEMU {@code docs/interop/vhost-user.rst}; rust-vmm
 * {@code vhost_user/frontend.rs}, {@code VhostUserFrontend: VhostBackend}): the transport-neutral
 * {@link VhostBackend} plus the requests only vhost-user has, each needing the protocol feature
 * ({@link VhostUserProtocolFeature}) named on it. It also has ring enable, config space, device
 * status and device-state transfer, each usable once its protocol feature is negotiated.
 *
 * <p>Protocol features exist only when the back-end offers {@code VHOST_USER_F_PROTOCOL_FEATURES}
 * (virtio feature bit 30). A request whose protocol feature was not negotiated throws
 * {@link VhostFeatureException} without touching the socket.
 */
@ProviderType
public interface VhostUserBackend
        extends VhostBackend, VringEnableBackend, ConfigSpaceBackend, DeviceStatusBackend, DeviceStateBackend {
    /**
     * GET_PROTOCOL_FEATURES.
     *
     * @return the protocol feature bits the back-end offers ({@link VhostUserProtocolFeature})
     * @throws VhostFeatureException when the back-end does not offer {@code VHOST_USER_F_PROTOCOL_FEATURES}
     */
    long getProtocolFeatures() throws VhostException;

    /**
     * SET_PROTOCOL_FEATURES: the protocol features in force from now on. With BACKEND_REQ the
     * backend request channel is opened (SET_BACKEND_REQ_FD).
     *
     * @throws VhostFeatureException for bits the back-end did not offer
     */
    void setProtocolFeatures(long features) throws VhostException;

    /** @return the protocol features set by {@link #setProtocolFeatures} (0 before) */
    long negotiatedProtocolFeatures();

    /** GET_QUEUE_NUM (protocol feature MQ). @return the back-end's maximum number of queues */
    int getQueueNum() throws VhostException;

    /** GET_MAX_MEM_SLOTS (CONFIGURE_MEM_SLOTS). @return the memory slots the back-end supports */
    int getMaxMemSlots() throws VhostException;

    /** ADD_MEM_REG (CONFIGURE_MEM_SLOTS): one more region, its fd attached. */
    void addMemRegion(MemoryRegion region) throws VhostException;

    /** REM_MEM_REG (CONFIGURE_MEM_SLOTS): removes the region with these addresses. */
    void removeMemRegion(MemoryRegion region) throws VhostException;

    /**
     * GET_INFLIGHT_FD (INFLIGHT_SHMFD): the shared inflight-tracking region for
     * {@code numQueues} queues of {@code queueSize} entries.
     *
     * @return the region; the caller owns its fd (-1 when the back-end returned none)
     */
    InflightRegion getInflightFd(int numQueues, int queueSize) throws VhostException;

    /** SET_INFLIGHT_FD (INFLIGHT_SHMFD): hands the region (and its fd) back after a reconnect. */
    void setInflightFd(InflightRegion region) throws VhostException;

    /**
     * SET_DEVICE_STATE_FD (DEVICE_STATE): starts a state transfer through {@code fd}.
     *
     * @param direction {@link DeviceStateDirection#SAVE} (back-end writes) or
     *     {@link DeviceStateDirection#LOAD} (back-end reads)
     * @param phase {@link DeviceStatePhase#STOPPED}
     * @param fd the front-end's end of a pipe, sent with the message
     * @return the back-end's own fd to use instead (caller owns it), or -1 to use {@code fd}
     * @throws com.vhost.api.VhostRefusedException when the reply's error bits are set
     */
    int setDeviceStateFd(DeviceStateDirection direction, DeviceStatePhase phase, int fd) throws VhostException;

    /**
     * CHECK_DEVICE_STATE (DEVICE_STATE): after a transfer's pipe was closed, the back-end's verdict.
     *
     * @throws com.vhost.api.VhostRefusedException when the back-end reports the transfer failed
     */
    void checkDeviceState() throws VhostException;
}
