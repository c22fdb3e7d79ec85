package com.vhost.user.message;

import com.vhost.api.VhostProtocolException;

/**
 * Requests the back-end sends to the front-end on the backend request channel (the socket handed
 * over by {@code SET_BACKEND_REQ_FD}; QEMU {@code docs/interop/vhost-user.rst}, "Back-end message
 * types").
 */
public enum BackendRequest {
    IOTLB_MSG(1), CONFIG_CHANGE_MSG(2), VRING_HOST_NOTIFIER_MSG(3), VRING_CALL(4), VRING_ERR(5),
    SHARED_OBJECT_ADD(6), SHARED_OBJECT_REMOVE(7), SHARED_OBJECT_LOOKUP(8), SHMEM_MAP(9),
    SHMEM_UNMAP(10);

    private final int code;

    BackendRequest(int code) {
        this.code = code;
    }

    /** @return the request's wire code */
    public int code() {
        return code;
    }

    /**
     * @param code a header's {@code request} field
     * @return the back-end request with that code
     * @throws VhostProtocolException naming the code when it is not a known back-end request
     */
    public static BackendRequest fromCode(int code) throws VhostProtocolException {
        for (BackendRequest r : values()) {
            if (r.code == code) {
                return r;
            }
        }
        throw new VhostProtocolException("unknown back-end request code " + Integer.toUnsignedString(code));
    }
}
