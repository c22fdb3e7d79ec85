package com.vhost.api.user;

import com.vhost.api.ConfigSpaceBackend;
import com.vhost.api.DeviceStateBackend;
import com.vhost.api.DeviceStatusBackend;
import com.vhost.api.MemoryRegion;
import com.vhost.api.VhostBackend;
import com.vhost.api.VhostException;
import com.vhost.api.VhostFeatureException;
import com.vhost.api.VringEnableBackend;
import java.util.List;
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

    /**
     * Sends ring requests as one batch: all of them first, then every reply (REPLY_ACK's ack, or
     * GET_VRING_BASE's state) read in order (the vhost-user spec has a back-end handle requests
     * in the order sent and reply in that order), one wait for the whole batch instead of one per
     * request. Every request is sent whatever the outcome of an earlier one: put in one batch
     * only requests that may all take effect whichever of them the back-end refuses. Without
     * REPLY_ACK negotiated only GET_VRING_BASE has a reply. The default runs them one at a time
     * with {@link VringRequest#runOn}, going on after a failure as a batch does.
     *
     * @param requests the requests, in the order to send them
     * @return per request, in the same order: GET_VRING_BASE the next avail index, otherwise 0
     * @throws com.vhost.api.VhostRefusedException when the back-end refused a request (the first
     *     refused one, naming request and queue; later failures are suppressed on it)
     * @throws VhostFeatureException when a request needs a feature not negotiated (then nothing
     *     was sent)
     * @throws VhostException from the connection, naming the request whose reply did not come
     * @since 1.1
     */
    default long[] pipeline(List<VringRequest> requests) throws VhostException {
        long[] out = new long[requests.size()];
        VhostException first = null;
        for (int i = 0; i < out.length; i++) {
            try {
                out[i] = requests.get(i).runOn(this);
            } catch (VhostException e) {
                if (first == null) {
                    first = e;
                } else {
                    first.addSuppressed(e);
                }
            }
        }
        if (first != null) {
            throw first;
        }
        return out;
    }
}
