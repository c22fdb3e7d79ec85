package com.vhost.api.user;

/**
 * The {@code u32 direction} of SET_DEVICE_STATE_FD (vhost-user spec, "Migrating back-end state";
 * rust-vmm {@code VhostTransferStateDirection}).
 */
public enum DeviceStateDirection {
    /** The back-end writes its state into the pipe. */
    SAVE(0),
    /** The back-end reads its state from the pipe. */
    LOAD(1);

    private final int code;

    DeviceStateDirection(int code) {
        this.code = code;
    }

    /** @return the wire value */
    public int code() {
        return code;
    }

    /**
     * @param code a wire value
     * @return its direction
     * @throws IllegalArgumentException naming an unknown value
     */
    public static DeviceStateDirection fromCode(int code) {
        for (DeviceStateDirection d : values()) {
            if (d.code == code) {
                return d;
            }
        }
        throw new IllegalArgumentException("unknown device state direction " + Integer.toUnsignedString(code));
    }
}
