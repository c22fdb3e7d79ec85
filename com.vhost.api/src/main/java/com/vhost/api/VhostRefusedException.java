package com.vhost.api;

/** The back-end refused a request: a non-zero REPLY_ACK, an error status or an ioctl's error. */
public final class VhostRefusedException extends VhostException {
    private static final long serialVersionUID = 1L;
    private final String request;
    private final long code;

    /**
     * @param request the refused request ("SET_VRING_ADDR")
     * @param code the non-zero status the back-end returned
     * @param detail context ("queue 1")
     */
    public VhostRefusedException(String request, long code, String detail) {
        super(request + " refused by back-end (status " + code + ")" + (detail == null || detail.isEmpty() ? "" : ": " + detail), null);
        this.request = request;
        this.code = code;
    }

    /** @return the refused request's name */
    public String request() {
        return request;
    }

    /** @return the back-end's non-zero status */
    public long code() {
        return code;
    }
}
