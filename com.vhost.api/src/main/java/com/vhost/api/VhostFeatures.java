package com.vhost.api;

/**
 * Feature bits of the vhost layer (not of a device type) and helpers for 64-bit feature words.
 * Sources: Linux {@code include/uapi/linux/vhost.h}, QEMU {@code docs/interop/vhost-user.rst}.
 */
public final class VhostFeatures {
    private VhostFeatures() {}

    /** {@code VHOST_F_LOG_ALL}: the back-end can log writes to guest memory. */
    public static final int F_LOG_ALL = 26;
    /** {@code VHOST_USER_F_PROTOCOL_FEATURES}: the back-end speaks protocol features. */
    public static final int F_PROTOCOL_FEATURES = 30;

    /** {@code VHOST_BACKEND_F_IOTLB_MSG_V2} (backend feature, kernel and vDPA). */
    public static final int BACKEND_F_IOTLB_MSG_V2 = 1;
    public static final int BACKEND_F_IOTLB_BATCH = 2;
    public static final int BACKEND_F_IOTLB_ASID = 3;
    public static final int BACKEND_F_SUSPEND = 4;
    public static final int BACKEND_F_RESUME = 5;
    public static final int BACKEND_F_ENABLE_AFTER_DRIVER_OK = 6;
    public static final int BACKEND_F_DESC_ASID = 7;
    public static final int BACKEND_F_IOTLB_PERSIST = 8;

    /** @return {@code 1L << bit} */
    public static long bit(int bit) {
        if (bit < 0 || bit > 63) {
            throw new IllegalArgumentException("feature bit out of range 0..63: " + bit);
        }
        return 1L << bit;
    }

    /** @return whether {@code features} has {@code bit} set */
    public static boolean has(long features, int bit) {
        return (features & bit(bit)) != 0;
    }
}
