package com.vhost.api;

/** The peer closed the connection (0 bytes read, EOF) or the connection was closed locally. */
public final class VhostDisconnectedException extends VhostException {
    private static final long serialVersionUID = 1L;

    public VhostDisconnectedException(String message) {
        super(message, null);
    }

    @Override
    public boolean shouldReconnect() {
        return true;
    }
}
