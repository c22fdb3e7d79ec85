package com.vhost.spi.virtqueue;

/**
 * The packed virtqueue's layout (OASIS VIRTIO 1.2, section 2.8), shared by the device side
 * ({@link PackedRing}) and the driver side ({@link PackedDriverRing}): a descriptor is 16 bytes
 * (le64 addr, le32 len, le16 id, le16 flags), an event suppression area 4 bytes (le16 off_wrap,
 * le16 flags).
 */
final class PackedLayout {
    private PackedLayout() {}

    /** Bytes of one descriptor (2.8.13). */
    static final int DESC_SIZE = 16;
    /** Bytes of the driver or device event suppression area (2.8.14). */
    static final int EVENT_AREA_SIZE = 4;
    /** Descriptor flags (2.8.13). */
    static final int F_NEXT = 1;
    static final int F_WRITE = 2;
    static final int F_INDIRECT = 4;
    static final int F_AVAIL = 1 << 7;
    static final int F_USED = 1 << 15;
    /** Event suppression flags (2.8.14). */
    static final int EVENT_ENABLE = 0;
    static final int EVENT_DISABLE = 1;
    static final int EVENT_DESC = 2;
    /** vhost-user's packed form of a fresh ring's indices: position 0 (bits 0-14), wrap counter 1 (bit 15). */
    static final int FRESH = 0x8000;
}
