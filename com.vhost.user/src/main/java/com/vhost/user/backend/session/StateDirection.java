package com.vhost.user.backend.session;

import com.vhost.user.message.DeviceStatePayload;

/**
 * The direction of a device state transfer, SET_DEVICE_STATE_FD's {@code u32 direction} (QEMU
 * {@code docs/interop/vhost-user.rst}, "Migrating back-end state"; rust-vmm
 * {@code VhostTransferStateDirection}).
 */
public enum StateDirection {
    /** The back-end writes its state into the pipe (wire value 0). */
    SAVE(DeviceStatePayload.SAVE),
    /** The back-end reads its state from the pipe (wire value 1). */
    LOAD(DeviceStatePayload.LOAD);

    private final int wire;

    StateDirection(int wire) {
        this.wire = wire;
    }

    /** @return the wire value */
    public int wire() {
        return wire;
    }

    /**
     * @param wire a decoded {@link DeviceStatePayload#direction()}
     * @return its direction
     * @throws IllegalArgumentException for any other value ({@link DeviceStatePayload#decode}
     *     already rejects them)
     */
    public static StateDirection ofWire(int wire) {
        return switch (wire) {
            case DeviceStatePayload.SAVE -> SAVE;
            case DeviceStatePayload.LOAD -> LOAD;
            default -> throw new IllegalArgumentException("unknown device state direction " + Integer.toUnsignedString(wire));
        };
    }
}
