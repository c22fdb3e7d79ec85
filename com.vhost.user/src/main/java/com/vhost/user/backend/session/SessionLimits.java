package com.vhost.user.backend.session;

import com.vhost.api.DeviceStateBackend;
import com.vhost.user.connection.VhostUserConnection;
import com.vhost.user.message.ConfigPayload;
import com.vhost.user.message.MemTablePayload;
import com.vhost.user.message.MessageHeader;

/**
 * Every bound on what one front-end can make the back-end hold, in one place (issue #10: the
 * back-end survives hostile front-ends). Each request past a bound is refused with a message naming
 * the bound and its value ("refusing SET_MEM_TABLE: 0x1000001000 bytes of guest memory in 1
 * regions, at most 0x1000000000 (64 GiB, MAX_MAPPED_BYTES)"); the refusal rule is {@link RequestDispatcher}'s: with
 * NEED_REPLY the front-end gets ack 1 and the session goes on, otherwise the session ends.
 *
 * <p>Where each is enforced: message size and fd count in {@link VhostUserConnection} and
 * {@link MessageHeader#decode}, before a payload is read; region count and config offset/size in
 * the {@code com.vhost.user.message} decoders; slots and mapped bytes in {@link MemoryTable};
 * queue index and ring size in {@link BackendHandler}; device state bytes in
 * {@link StateTransfer}. Per-ring fds are one of each kind (kick, call, err): a new one replaces
 * and closes the old. One backend request channel: a new SET_BACKEND_REQ_FD closes the old.
 */
public final class SessionLimits {
    /**
     * Largest message payload, bytes (rust-vmm {@code MAX_MSG_SIZE}, 0x1000). A larger header
     * {@code size} ends the session before the payload is read.
     */
    public static final int MAX_PAYLOAD_BYTES = MessageHeader.MAX_PAYLOAD_SIZE;
    /**
     * Most fds on one message (vhost-user spec, SET_MEM_TABLE: {@code VHOST_MEMORY_BASELINE_NREGIONS}
     * fds); more end the session and every received fd is closed.
     */
    public static final int MAX_FDS_PER_MESSAGE = VhostUserConnection.MAX_FDS;
    /** Most regions in one SET_MEM_TABLE ({@code VHOST_MEMORY_BASELINE_NREGIONS}, 8). */
    public static final int MAX_MEM_TABLE_REGIONS = MemTablePayload.MAX_REGIONS;
    /**
     * Memory slots offered by GET_MAX_MEM_SLOTS with CONFIGURE_MEM_SLOTS; ADD_MEM_REG past them is
     * refused. QEMU's front-end uses up to its own limit of 509 but asks first; 32 is rust-vmm's
     * {@code MAX_MEM_SLOTS} default.
     */
    public static final int MAX_MEM_SLOTS = 32;
    /**
     * Default bound on the bytes of guest memory mapped at once for one session (the sum of the
     * region sizes of SET_MEM_TABLE or after ADD_MEM_REG): 64 GiB. Mappings are shared and cost
     * address space, not RAM, until touched, but a front-end must not be able to take the whole
     * 47-bit address space of the back-end (each region may be up to 2^64 bytes on the wire). A
     * server serving bigger guests passes its own bound to {@link BackendHandler}.
     */
    public static final long DEFAULT_MAX_MAPPED_BYTES = 64L << 30;
    /** Largest config space, bytes ({@code VHOST_USER_MAX_CONFIG_SIZE}, 256): offset + size beyond it is malformed. */
    public static final int MAX_CONFIG_BYTES = ConfigPayload.MAX_CONFIG_SIZE;
    /**
     * Largest dirty log SET_LOG_BASE may map, bytes: 32 MiB, one bit per 4 KiB page of 1 TiB of
     * guest-physical address space. Larger is refused naming MAX_LOG_BYTES before anything is mapped.
     */
    public static final long MAX_LOG_BYTES = 32L << 20;
    /** Largest device state read from a SET_DEVICE_STATE_FD LOAD pipe, bytes (1 MiB). */
    public static final int MAX_STATE_BYTES = DeviceStateBackend.MAX_STATE_BYTES;

    private SessionLimits() {
    }
}
