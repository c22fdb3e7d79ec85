package com.vhost.api;

import java.io.IOException;

/**
 * Root of the vhost error hierarchy. Each subclass names one kind of failure; messages carry the
 * context in which it happened (for example {@code "SET_VRING_ADDR for queue 1: ..."}).
 * {@link #shouldReconnect()} tells a front-end whether a fresh connection may cure it.
 */
public abstract sealed class VhostException extends IOException
        permits VhostProtocolException, VhostNativeException, VhostDisconnectedException,
                VhostFeatureException, VhostRefusedException, VhostTimeoutException,
                VirtqueueException, VirtioDeviceException {

    private static final long serialVersionUID = 1L;

    protected VhostException(String message, Throwable cause) {
        super(message, cause);
    }

    /** @return true when reconnecting to the back-end may cure this failure */
    public boolean shouldReconnect() {
        return false;
    }
}
