package com.vhost.user.message;

import com.vhost.api.VhostProtocolException;

/**
 * Requests the front-end sends to the back-end on the main socket (QEMU
 * {@code docs/interop/vhost-user.rst}, "Front-end message types"), with their wire codes.
 */
public enum FrontendRequest {
    GET_FEATURES(1), SET_FEATURES(2), SET_OWNER(3), RESET_OWNER(4), SET_MEM_TABLE(5),
    SET_LOG_BASE(6), SET_LOG_FD(7), SET_VRING_NUM(8), SET_VRING_ADDR(9), SET_VRING_BASE(10),
    GET_VRING_BASE(11), SET_VRING_KICK(12), SET_VRING_CALL(13), SET_VRING_ERR(14),
    GET_PROTOCOL_FEATURES(15), SET_PROTOCOL_FEATURES(16), GET_QUEUE_NUM(17), SET_VRING_ENABLE(18),
    SEND_RARP(19), NET_SET_MTU(20), SET_BACKEND_REQ_FD(21), IOTLB_MSG(22), SET_VRING_ENDIAN(23),
    GET_CONFIG(24), SET_CONFIG(25), CREATE_CRYPTO_SESSION(26), CLOSE_CRYPTO_SESSION(27),
    POSTCOPY_ADVISE(28), POSTCOPY_LISTEN(29), POSTCOPY_END(30), GET_INFLIGHT_FD(31),
    SET_INFLIGHT_FD(32), GPU_SET_SOCKET(33), RESET_DEVICE(34), VRING_KICK(35),
    GET_MAX_MEM_SLOTS(36), ADD_MEM_REG(37), REM_MEM_REG(38), SET_STATUS(39), GET_STATUS(40),
    GET_SHARED_OBJECT(41), SET_DEVICE_STATE_FD(42), CHECK_DEVICE_STATE(43), GET_SHMEM_CONFIG(44);

    private static final FrontendRequest[] BY_CODE = new FrontendRequest[45];

    static {
        for (FrontendRequest r : values()) {
            BY_CODE[r.code] = r;
        }
    }

    private final int code;

    FrontendRequest(int code) {
        this.code = code;
    }

    /** @return the request's wire code (the header's {@code request} field) */
    public int code() {
        return code;
    }

    /**
     * @param code a header's {@code request} field
     * @return the request with that code
     * @throws VhostProtocolException naming the code when it is not a known front-end request
     */
    public static FrontendRequest fromCode(int code) throws VhostProtocolException {
        if (code <= 0 || code >= BY_CODE.length || BY_CODE[code] == null) {
            throw new VhostProtocolException("unknown front-end request code " + Integer.toUnsignedString(code));
        }
        return BY_CODE[code];
    }
}
