package com.vhost.api.virtio;

/** VirtIO device IDs (VIRTIO 1.2, section 5) of the device types this platform knows. */
public enum VirtioDeviceType {
    NET(1, "net"),
    BLOCK(2, "blk");

    private final int id;
    private final String shortName;

    VirtioDeviceType(int id, String shortName) {
        this.id = id;
        this.shortName = shortName;
    }

    /** @return the VirtIO device ID */
    public int id() {
        return id;
    }

    /** @return the short name used in configuration and the CLI ("blk", "net") */
    public String shortName() {
        return shortName;
    }

    /** @throws IllegalArgumentException for an ID this platform does not know */
    public static VirtioDeviceType fromId(int id) {
        for (VirtioDeviceType t : values()) {
            if (t.id == id) {
                return t;
            }
        }
        throw new IllegalArgumentException("unknown virtio device id " + id);
    }
}
