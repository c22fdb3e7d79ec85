package com.vhost.api;

/** A bounded wait ran out: no reply, no completion or no backend within the stated time. */
public final class VhostTimeoutException extends VhostException {
    private static final long serialVersionUID = 1L;

    public VhostTimeoutException(String message) {
        super(message, null);
    }

    @Override
    public boolean shouldReconnect() {
        return true;
    }
}
