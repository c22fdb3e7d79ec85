package com.vhost.api;

/** A feature needed for an operation was not offered or not negotiated (e.g. no VERSION_1). */
public final class VhostFeatureException extends VhostException {
    private static final long serialVersionUID = 1L;

    public VhostFeatureException(String message) {
        super(message, null);
    }
}
