package com.vhost.api;

/**
 * A message broke the protocol: unknown request code, reserved flag bits set, wrong payload size,
 * a reply that does not match its request, misaligned ring address, unexpected fds.
 */
public final class VhostProtocolException extends VhostException {
    private static final long serialVersionUID = 1L;

    public VhostProtocolException(String message) {
        super(message, null);
    }

    public VhostProtocolException(String message, Throwable cause) {
        super(message, cause);
    }

    @Override
    public boolean shouldReconnect() {
        return true;
    }
}
