package com.vhost.api;

import java.util.Locale;

/**
 * The three kinds of vhost back-end that QEMU's {@code VhostBackendType} names. The lower-case
 * {@link #id()} is the value of the {@link VhostOps#BACKEND_TYPE} service property.
 */
public enum VhostBackendType {
    /** Linux in-kernel vhost ({@code /dev/vhost-net}, ioctls on {@code VHOST_VIRTIO 0xAF}). */
    KERNEL,
    /** vhost-user: messages over an AF_UNIX socket (QEMU {@code docs/interop/vhost-user.rst}). */
    USER,
    /** vhost-vdpa ({@code /dev/vhost-vdpa-N}): vhost ioctls plus IOTLB messages. */
    VDPA;

    /** @return the lower-case name used in service properties and configuration ("user"). */
    public String id() {
        return name().toLowerCase(Locale.ROOT);
    }

    /**
     * @param id "kernel", "user" or "vdpa" (case-insensitive)
     * @return the matching type
     * @throws IllegalArgumentException naming the unknown value and the accepted ones
     */
    public static VhostBackendType fromId(String id) {
        for (VhostBackendType t : values()) {
            if (t.id().equalsIgnoreCase(id)) {
                return t;
            }
        }
        throw new IllegalArgumentException("unknown vhost backend type '" + id + "' (expected kernel, user or vdpa)");
    }
}
