package com.vhost.api;

/**
 * A native call failed. Carries the call's name (for example {@code "ioctl(VHOST_SET_VRING_ADDR)"}
 * or {@code "connect(/tmp/vub.sock)"}) and the {@code errno} it set.
 */
public final class VhostNativeException extends VhostException {
    private static final long serialVersionUID = 1L;
    private static final int EPIPE = 32;
    private static final int ECONNRESET = 104;
    private static final int ECONNREFUSED = 111;
    private static final int ENOENT = 2;

    private final String call;
    private final int errno;

    /**
     * @param call the native call and its argument, as a reader would want to see it
     * @param errno the errno value (positive), or 0 when none applies
     * @param detail the errno's text ({@code strerror}) or other detail
     */
    public VhostNativeException(String call, int errno, String detail) {
        super(call + " failed: " + detail + (errno != 0 ? " (errno " + errno + ")" : ""), null);
        this.call = call;
        this.errno = errno;
    }

    /** @return the failing call, e.g. {@code "sendmsg"} */
    public String call() {
        return call;
    }

    /** @return the errno value, or 0 */
    public int errno() {
        return errno;
    }

    @Override
    public boolean shouldReconnect() {
        return errno == EPIPE || errno == ECONNRESET || errno == ECONNREFUSED || errno == ENOENT;
    }
}
