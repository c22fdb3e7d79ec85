package com.vhost.spi.ioctl;

/**
 * vhost ioctl request codes, computed by {@link #ioc} as Linux's {@code _IOC(dir, type, nr, size)}:
 * {@code dir << 30 | size << 16 | type << 8 | nr}, with {@code dir} 0 none, 1 write (user to
 * kernel, {@code _IOW}), 2 read ({@code _IOR}), 3 both ({@code _IOWR}). {@code VHOST_VIRTIO} = 0xAF.
 * Each code is named as in {@code include/uapi/linux/vhost.h}.
 */
public final class VhostIoctl {
    private VhostIoctl() {}

    public static final int IOC_NONE = 0;
    public static final int IOC_WRITE = 1;
    public static final int IOC_READ = 2;
    public static final int VHOST_VIRTIO = 0xAF;

    /** @return {@code _IOC(dir, type, nr, size)} as an unsigned 32-bit value in a long */
    public static long ioc(int dir, int type, int nr, int size) {
        if (dir < 0 || dir > 3 || type < 0 || type > 0xFF || nr < 0 || nr > 0xFF || size < 0 || size > 0x3FFF) {
            throw new IllegalArgumentException("bad _IOC(" + dir + ", " + type + ", " + nr + ", " + size + ")");
        }
        return ((long) dir << 30) | ((long) size << 16) | ((long) type << 8) | nr;
    }

    static long io(int nr) {
        return ioc(IOC_NONE, VHOST_VIRTIO, nr, 0);
    }

    static long iow(int nr, int size) {
        return ioc(IOC_WRITE, VHOST_VIRTIO, nr, size);
    }

    static long ior(int nr, int size) {
        return ioc(IOC_READ, VHOST_VIRTIO, nr, size);
    }

    static long iowr(int nr, int size) {
        return ioc(IOC_READ | IOC_WRITE, VHOST_VIRTIO, nr, size);
    }

    /** Size of {@code struct vhost_vring_state} / {@code vhost_vring_file}. */
    public static final int VRING_STATE_SIZE = 8;
    /** Size of {@code struct vhost_vring_addr}. */
    public static final int VRING_ADDR_SIZE = 40;
    /** Size of {@code struct vhost_memory} header (regions follow, 32 bytes each). */
    public static final int MEMORY_HEADER_SIZE = 8;
    public static final int MEMORY_REGION_SIZE = 32;

    public static final long VHOST_GET_FEATURES = ior(0x00, 8);
    public static final long VHOST_SET_FEATURES = iow(0x00, 8);
    public static final long VHOST_SET_OWNER = io(0x01);
    public static final long VHOST_RESET_OWNER = io(0x02);
    public static final long VHOST_SET_MEM_TABLE = iow(0x03, MEMORY_HEADER_SIZE);
    public static final long VHOST_SET_LOG_BASE = iow(0x04, 8);
    public static final long VHOST_SET_LOG_FD = iow(0x07, 4);
    public static final long VHOST_SET_VRING_NUM = iow(0x10, VRING_STATE_SIZE);
    public static final long VHOST_SET_VRING_ADDR = iow(0x11, VRING_ADDR_SIZE);
    public static final long VHOST_SET_VRING_BASE = iow(0x12, VRING_STATE_SIZE);
    public static final long VHOST_GET_VRING_BASE = iowr(0x12, VRING_STATE_SIZE);
    public static final long VHOST_SET_VRING_KICK = iow(0x20, VRING_STATE_SIZE);
    public static final long VHOST_SET_VRING_CALL = iow(0x21, VRING_STATE_SIZE);
    public static final long VHOST_SET_VRING_ERR = iow(0x22, VRING_STATE_SIZE);
    public static final long VHOST_SET_VRING_BUSYLOOP_TIMEOUT = iow(0x23, VRING_STATE_SIZE);
    public static final long VHOST_GET_VRING_BUSYLOOP_TIMEOUT = iow(0x24, VRING_STATE_SIZE);
    public static final long VHOST_SET_BACKEND_FEATURES = iow(0x25, 8);
    public static final long VHOST_GET_BACKEND_FEATURES = ior(0x26, 8);
    public static final long VHOST_NET_SET_BACKEND = iow(0x30, VRING_STATE_SIZE);

    public static final long VHOST_VDPA_GET_DEVICE_ID = ior(0x70, 4);
    public static final long VHOST_VDPA_GET_STATUS = ior(0x71, 1);
    public static final long VHOST_VDPA_SET_STATUS = iow(0x72, 1);
    /** {@code struct vhost_vdpa_config {u32 off; u32 len; u8 buf[]}}: header 8 bytes. */
    public static final long VHOST_VDPA_GET_CONFIG = ior(0x73, 8);
    public static final long VHOST_VDPA_SET_CONFIG = iow(0x74, 8);
    public static final long VHOST_VDPA_SET_VRING_ENABLE = iow(0x75, VRING_STATE_SIZE);
    public static final long VHOST_VDPA_GET_VRING_NUM = ior(0x76, 2);
    public static final long VHOST_VDPA_SET_CONFIG_CALL = iow(0x77, 4);
    /** {@code struct vhost_vdpa_iova_range {u64 first; u64 last}}. */
    public static final long VHOST_VDPA_GET_IOVA_RANGE = ior(0x78, 16);
    public static final long VHOST_VDPA_GET_CONFIG_SIZE = ior(0x79, 4);
    public static final long VHOST_VDPA_GET_AS_NUM = ior(0x7A, 4);
    public static final long VHOST_VDPA_GET_VRING_GROUP = iowr(0x7B, VRING_STATE_SIZE);
    public static final long VHOST_VDPA_SET_GROUP_ASID = iow(0x7C, VRING_STATE_SIZE);
    public static final long VHOST_VDPA_SUSPEND = io(0x7D);
    public static final long VHOST_VDPA_RESUME = io(0x7E);
    public static final long VHOST_VDPA_GET_VQS_COUNT = ior(0x80, 4);
}
