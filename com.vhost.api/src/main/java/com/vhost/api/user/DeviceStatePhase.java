package com.vhost.api.user;

/**
 * The {@code u32 phase} of SET_DEVICE_STATE_FD (vhost-user spec, "Migrating back-end state";
 * rust-vmm {@code VhostTransferStatePhase}): when in the device's life the transfer happens.
 */
public enum DeviceStatePhase {
    /** Every ring of the device is stopped (the only phase the spec defines). */
    STOPPED(0);

    private final int code;

    DeviceStatePhase(int code) {
        this.code = code;
    }

    /** @return the wire value */
    public int code() {
        return code;
    }

    /**
     * @param code a wire value
     * @return its phase
     * @throws IllegalArgumentException naming an unknown value
     */
    public static DeviceStatePhase fromCode(int code) {
        for (DeviceStatePhase p : values()) {
            if (p.code == code) {
                return p;
            }
        }
        throw new IllegalArgumentException("unknown device state phase " + Integer.toUnsignedString(code));
    }
}
