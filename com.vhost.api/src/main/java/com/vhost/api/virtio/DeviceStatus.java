package com.vhost.api.virtio;

import java.util.EnumSet;
import java.util.Set;

/**
 * Device status bits (OASIS VIRTIO 1.2, section 2.1 "Device Status Field"; Linux
 * {@code include/uapi/linux/virtio_config.h} {@code VIRTIO_CONFIG_S_*}). The status itself is one
 * byte on the wire (vhost-user SET_STATUS / GET_STATUS, {@code VHOST_VDPA_SET_STATUS}): an OR of
 * {@link #bit()} values, built with {@link #mask} and read back with {@link #in} or {@link #of}.
 * Status 0 means reset. Bits 4 and 5 are reserved by the specification and have no constant here.
 */
public enum DeviceStatus {
    /** The driver found the device. */
    ACKNOWLEDGE(1),
    /** The driver knows how to drive the device. */
    DRIVER(2),
    /** The driver is set up and ready to drive the device. */
    DRIVER_OK(4),
    /** The driver acknowledged the features it understands; feature negotiation is complete. */
    FEATURES_OK(8),
    /** The device hit an error it cannot recover from without a reset. */
    DEVICE_NEEDS_RESET(64),
    /** Something went wrong in the driver; it gave up on the device. */
    FAILED(128);

    private final int bit;

    DeviceStatus(int bit) {
        this.bit = bit;
    }

    /** @return this status bit's value in the status byte (1, 2, 4, 8, 64 or 128) */
    public int bit() {
        return bit;
    }

    /** @return whether {@code status} (a status byte) has this bit set */
    public boolean in(int status) {
        return (status & bit) != 0;
    }

    /**
     * @param bits the bits to set
     * @return the status byte with exactly {@code bits} set (0 for none: reset)
     */
    public static int mask(DeviceStatus... bits) {
        int m = 0;
        for (DeviceStatus b : bits) {
            m |= b.bit;
        }
        return m;
    }

    /**
     * @param bits the bits to set
     * @return the status byte with exactly {@code bits} set (0 for none: reset)
     */
    public static int mask(Set<DeviceStatus> bits) {
        return mask(bits.toArray(new DeviceStatus[0]));
    }

    /**
     * @param status a status byte; the reserved bits 4 and 5 and any bit above 7 are ignored
     * @return the known bits set in {@code status}
     */
    public static Set<DeviceStatus> of(int status) {
        EnumSet<DeviceStatus> s = EnumSet.noneOf(DeviceStatus.class);
        for (DeviceStatus b : values()) {
            if (b.in(status)) {
                s.add(b);
            }
        }
        return s;
    }
}
