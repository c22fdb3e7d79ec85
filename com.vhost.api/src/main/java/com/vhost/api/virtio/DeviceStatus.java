package com.vhost.api.virtio;

/** Device status bits (VIRTIO 1.2, section 2.1). */
public final class DeviceStatus {
    private DeviceStatus() {}

    public static final int ACKNOWLEDGE = 1;
    public static final int DRIVER = 2;
    public static final int DRIVER_OK = 4;
    public static final int FEATURES_OK = 8;
    public static final int DEVICE_NEEDS_RESET = 64;
    public static final int FAILED = 128;
}
