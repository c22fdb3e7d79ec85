package com.vhost.api.virtio;

/** Device-independent feature bits (VIRTIO 1.2, section 6) and helpers. */
public final class VirtioFeatures {
    private VirtioFeatures() {}

    public static final int F_INDIRECT_DESC = 28;
    public static final int F_EVENT_IDX = 29;
    public static final int F_VERSION_1 = 32;
    public static final int F_ACCESS_PLATFORM = 33;
    public static final int F_RING_PACKED = 34;
    public static final int F_IN_ORDER = 35;
    public static final int F_ORDER_PLATFORM = 36;
    public static final int F_NOTIFICATION_DATA = 38;
    public static final int F_RING_RESET = 40;

    /** @return {@code 1L << bit} */
    public static long bit(int bit) {
        return 1L << bit;
    }

    /** @return whether {@code features} has {@code bit} */
    public static boolean has(long features, int bit) {
        return (features & (1L << bit)) != 0;
    }
}
