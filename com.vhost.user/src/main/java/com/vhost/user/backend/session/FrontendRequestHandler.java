package com.vhost.user.backend.session;

import com.vhost.api.VhostException;
import com.vhost.api.VringAddr;
import com.vhost.api.user.DeviceStateDirection;
import com.vhost.spi.nativeio.OwnedFd;
import com.vhost.user.message.InflightPayload;
import com.vhost.user.message.MemRegionPayload;
import java.util.List;

/**
 * What a vhost-user back-end does with each front-end request, one method per request (QEMU
 * {@code docs/interop/vhost-user.rst}, "Front-end message types"; rust-vmm
 * {@code VhostUserBackendReqHandlerMut}). The {@link RequestDispatcher} calls these after it has
 * decoded and validated the message: the payload had the right size and layout, the right number
 * of fds came with it, and the protocol feature the request needs was negotiated. The methods see
 * no bytes, headers or sockets; they check meaning (queue indices, sizes against the device's
 * maximum, ring state) and return what the reply carries.
 *
 * <p>Fds: an {@link OwnedFd} passed to a method is owned by the handler from the call on, even when
 * the method throws (it closes it then).
 *
 * <p>Errors: {@link Refusal} when a well-formed request cannot be carried out (the dispatcher
 * answers it with a non-zero ack, or ends the session); {@link VhostException} when the device or
 * the system failed (the session ends). Queue indices are 0-based and arrive unchecked (an
 * out-of-range index is a refusal naming it); addresses are in bytes.
 */
public interface FrontendRequestHandler {
    /** GET_FEATURES (1). @return the virtio feature bits offered, with VHOST_USER_F_PROTOCOL_FEATURES (bit 30) */
    long getFeatures() throws VhostException, Refusal;

    /** SET_FEATURES (2): acks virtio feature bits; a fatal refusal for a legacy (no VERSION_1) front-end. */
    void setFeatures(long features) throws VhostException, Refusal;

    /** SET_OWNER (3). */
    void setOwner() throws VhostException, Refusal;

    /** RESET_OWNER (4, deprecated): resets the device as RESET_DEVICE does. */
    void resetOwner() throws VhostException, Refusal;

    /** GET_PROTOCOL_FEATURES (15). @return the {@code VHOST_USER_PROTOCOL_F_*} bits offered */
    long getProtocolFeatures() throws VhostException, Refusal;

    /** SET_PROTOCOL_FEATURES (16): refuses bits that were not offered. */
    void setProtocolFeatures(long features) throws VhostException, Refusal;

    /** GET_QUEUE_NUM (17). @return how many queues the device has */
    int getQueueNum() throws VhostException, Refusal;

    /** GET_MAX_MEM_SLOTS (36). @return how many memory regions ADD_MEM_REG may install */
    int getMaxMemSlots() throws VhostException, Refusal;

    /**
     * SET_MEM_TABLE (5): replaces the whole memory table.
     *
     * @param regions the regions, at most 8, each validated by {@link MemRegionPayload#validate}
     * @param fds one fd per region, in order; all owned by the handler from here on
     */
    void setMemTable(List<MemRegionPayload> regions, List<OwnedFd> fds) throws VhostException, Refusal;

    /** ADD_MEM_REG (37, CONFIGURE_MEM_SLOTS): maps one more region from {@code fd} (owned from here on). */
    void addMemRegion(MemRegionPayload region, OwnedFd fd) throws VhostException, Refusal;

    /** REM_MEM_REG (38, CONFIGURE_MEM_SLOTS): unmaps the region with the same guest address, size and user address. */
    void removeMemRegion(MemRegionPayload region) throws VhostException, Refusal;

    /**
     * SET_LOG_BASE (6, LOG_SHMFD): maps the dirty log, {@code size} bytes of {@code fd} (owned from
     * here on) at {@code offset}, and unmaps the previous one; the dispatcher replies (a {@code u64}
     * 0) once this returns.
     *
     * @param size {@code mmap_size}, bytes
     * @param offset {@code mmap_offset}, bytes into {@code fd}
     */
    void setLogBase(long size, long offset, OwnedFd fd) throws VhostException, Refusal;

    /**
     * What GET_INFLIGHT_FD answers: the payload ({@code mmap_size}, {@code mmap_offset},
     * {@code num_queues}, {@code queue_size}) and the region's fd, which the dispatcher sends and
     * then closes; null with {@code mmap_size} 0 (no region: the front-end runs without tracking).
     */
    record InflightAnswer(InflightPayload payload, OwnedFd fd) {}

    /**
     * GET_INFLIGHT_FD (31, INFLIGHT_SHMFD; spec "Inflight I/O tracking"): a new zeroed region for
     * {@code numQueues} queues of {@code queueSize} entries.
     *
     * @throws Refusal for a queue count or size this device cannot have; by default (a handler
     *     without inflight tracking) always
     */
    default InflightAnswer getInflightFd(int numQueues, int queueSize) throws VhostException, Refusal {
        throw new Refusal("GET_INFLIGHT_FD: this back-end does not track inflight I/O");
    }

    /**
     * SET_INFLIGHT_FD (32, INFLIGHT_SHMFD): maps the region of {@code fd} (owned from here on) the
     * queues track their descriptors in; a region holding entries in flight makes the rings
     * resubmit them when they start.
     *
     * @throws Refusal for a bad fd, size or layout; by default always
     */
    default void setInflightFd(InflightPayload region, OwnedFd fd) throws VhostException, Refusal {
        fd.close();
        throw new Refusal("SET_INFLIGHT_FD: this back-end does not track inflight I/O");
    }

    /** SET_VRING_NUM (8): the ring's size in descriptors. */
    void setVringNum(int index, int num) throws VhostException, Refusal;

    /** SET_VRING_ADDR (9): the ring's descriptor table, avail and used ring in the front-end's virtual addresses. */
    void setVringAddr(VringAddr addr) throws VhostException, Refusal;

    /** SET_VRING_BASE (10): the next avail index the ring starts at. */
    void setVringBase(int index, int base) throws VhostException, Refusal;

    /**
     * GET_VRING_BASE (11): stops the ring (spec "Ring states").
     *
     * @return the ring's next avail index, which the dispatcher replies as {@code {index, base}}
     */
    int getVringBase(int index) throws VhostException, Refusal;

    /**
     * SET_VRING_KICK (12): the ring's kick eventfd, or null (NOFD: the back-end polls); starts the
     * ring. The {@link RequestDispatcher} has checked it is a non-blocking eventfd, not in semaphore mode.
     */
    void setVringKick(int index, OwnedFd kick) throws VhostException, Refusal;

    /**
     * SET_VRING_CALL (13): the ring's call eventfd, or null (NOFD: the front-end polls the used
     * ring). The {@link RequestDispatcher} has checked it is an eventfd and made it non-blocking.
     */
    void setVringCall(int index, OwnedFd call) throws VhostException, Refusal;

    /** SET_VRING_ERR (14): the ring's error eventfd (checked and made non-blocking as a call fd), or null. */
    void setVringErr(int index, OwnedFd err) throws VhostException, Refusal;

    /** SET_VRING_ENABLE (18): enables or disables the ring (only with VHOST_USER_F_PROTOCOL_FEATURES). */
    void setVringEnable(int index, boolean enable) throws VhostException, Refusal;

    /**
     * GET_CONFIG (24, CONFIG).
     *
     * @param offset byte offset into the device's config space
     * @param size bytes wanted, at most {@link com.vhost.user.message.ConfigPayload#MAX_CONFIG_SIZE}
     * @return exactly {@code size} bytes
     */
    byte[] getConfig(int offset, int size) throws VhostException, Refusal;

    /** SET_CONFIG (25, CONFIG): writes {@code data} at byte {@code offset} of the config space. */
    void setConfig(int offset, int flags, byte[] data) throws VhostException, Refusal;

    /**
     * SET_BACKEND_REQ_FD (21, BACKEND_REQ): the socket for back-end requests (owned from here on;
     * the {@link RequestDispatcher} has checked it is a socket and made it non-blocking).
     */
    void setBackendReqFd(OwnedFd fd) throws VhostException, Refusal;

    /** RESET_DEVICE (34, RESET_DEVICE): the device, rings and status back to their initial state. */
    void resetDevice() throws VhostException, Refusal;

    /** SET_STATUS (39, STATUS): the VIRTIO device status byte (0..255). */
    void setStatus(int status) throws VhostException, Refusal;

    /** GET_STATUS (40, STATUS). @return the VIRTIO device status byte */
    int getStatus() throws VhostException, Refusal;

    /**
     * SET_DEVICE_STATE_FD (42, DEVICE_STATE): starts a state transfer through the front-end's pipe.
     *
     * @param fd the pipe end (owned from here on)
     * @return the reply: bits 0-7 an error code, bit 8
     *     ({@link com.vhost.user.message.DeviceStatePayload#REPLY_NO_FD}) set as no back-end fd is
     *     returned
     */
    long setDeviceStateFd(DeviceStateDirection direction, OwnedFd fd) throws VhostException, Refusal;

    /** CHECK_DEVICE_STATE (43, DEVICE_STATE). @return 0 when the transfer succeeded, else an error code */
    long checkDeviceState() throws VhostException, Refusal;
}
