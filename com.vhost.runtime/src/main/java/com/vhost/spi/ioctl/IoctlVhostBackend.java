package com.vhost.spi.ioctl;

import static com.vhost.spi.ioctl.VhostIoctl.*;

import com.vhost.api.IotlbMessage;
import com.vhost.api.MemoryRegion;
import com.vhost.api.VhostBackend;
import com.vhost.api.VhostBackendType;
import com.vhost.api.VhostException;
import com.vhost.api.VhostNativeException;
import com.vhost.api.VringAddr;
import com.vhost.spi.nativeio.Linux;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;

/**
 * The {@link VhostBackend} operations that vhost-kernel and vhost-vdpa share: the ioctls of
 * Linux {@code include/uapi/linux/vhost.h} on one open device fd, plus the backend features
 * ({@code VHOST_GET/SET_BACKEND_FEATURES}) both have. Subclasses add what is their own and
 * declare it with the matching capability interface (the net backend's TAP attach as
 * {@link com.vhost.api.VringEnableBackend}; vDPA's status, config and suspend as
 * {@link com.vhost.api.vdpa.VhostVdpaBackend}); nothing here throws "not supported".
 * Not thread-safe (control path, one thread).
 */
public abstract class IoctlVhostBackend implements VhostBackend {
    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG;
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT;

    protected final String node;
    protected final Arena arena = Arena.ofShared();
    /** Scratch for ioctl arguments: 64 bytes cover vhost_vring_addr (40) and the vDPA ones. */
    protected final MemorySegment arg = arena.allocate(64, 8);
    private volatile int fd;
    private long backendFeatures;

    /** @param fd the open device fd, now owned by this backend; @param node its path for messages */
    protected IoctlVhostBackend(int fd, String node) {
        this.fd = fd;
        this.node = node;
    }

    /** @return the device fd (for subclasses), -1 after close */
    protected int fd() throws VhostNativeException {
        int f = fd;
        if (f < 0) {
            throw new VhostNativeException("ioctl(" + node + ")", Linux.EBADF, "backend closed");
        }
        return f;
    }

    protected int ioctl(long request, MemorySegment a, String name) throws VhostNativeException {
        return Linux.ioctl(fd(), request, a, name + " on " + node);
    }

    protected int ioctl(long request, long a, String name) throws VhostNativeException {
        return Linux.ioctl(fd(), request, a, name + " on " + node);
    }

    protected void vringState(long request, String name, int index, int num) throws VhostNativeException {
        arg.set(U32, 0, index);
        arg.set(U32, 4, num);
        ioctl(request, arg, name + " for queue " + index);
    }

    @Override
    public String describe() {
        return backendType().id() + ":" + node;
    }

    @Override
    public boolean isConnected() {
        return fd >= 0;
    }

    @Override
    public long getFeatures() throws VhostException {
        ioctl(VHOST_GET_FEATURES, arg, "VHOST_GET_FEATURES");
        return arg.get(U64, 0);
    }

    @Override
    public void setFeatures(long features) throws VhostException {
        arg.set(U64, 0, features);
        ioctl(VHOST_SET_FEATURES, arg, "VHOST_SET_FEATURES");
    }

    @Override
    public void setOwner() throws VhostException {
        ioctl(VHOST_SET_OWNER, 0L, "VHOST_SET_OWNER");
    }

    @Override
    public void resetOwner() throws VhostException {
        ioctl(VHOST_RESET_OWNER, 0L, "VHOST_RESET_OWNER");
    }

    /**
     * VHOST_GET_BACKEND_FEATURES.
     *
     * @return the offered {@code VHOST_BACKEND_F_*} bits (IOTLB_MSG_V2 1, IOTLB_BATCH 2, SUSPEND 4, ...)
     */
    public long getBackendFeatures() throws VhostException {
        ioctl(VHOST_GET_BACKEND_FEATURES, arg, "VHOST_GET_BACKEND_FEATURES");
        return arg.get(U64, 0);
    }

    /** VHOST_SET_BACKEND_FEATURES: the backend features in force from now on. */
    public void setBackendFeatures(long features) throws VhostException {
        arg.set(U64, 0, features);
        ioctl(VHOST_SET_BACKEND_FEATURES, arg, "VHOST_SET_BACKEND_FEATURES");
        backendFeatures = features;
    }

    /** @return the backend features set with {@link #setBackendFeatures} */
    protected long backendFeatures() {
        return backendFeatures;
    }

    /**
     * The most memory regions {@code VHOST_SET_MEM_TABLE} takes (more give E2BIG).
     *
     * @return {@code /sys/module/vhost/parameters/max_mem_regions}, or its default 64
     */
    public int getMaxMemSlots() throws VhostException {
        try {
            return Integer.parseInt(java.nio.file.Files.readString(
                    java.nio.file.Path.of("/sys/module/vhost/parameters/max_mem_regions")).trim());
        } catch (java.io.IOException | NumberFormatException e) {
            return 64;
        }
    }

    /** VHOST_SET_MEM_TABLE: {@code struct vhost_memory} with one entry per region (fds unused). */
    @Override
    public void setMemTable(List<MemoryRegion> regions) throws VhostException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment m = a.allocate(MEMORY_HEADER_SIZE + (long) MEMORY_REGION_SIZE * regions.size(), 8);
            m.set(U32, 0, regions.size());
            long off = MEMORY_HEADER_SIZE;
            for (MemoryRegion r : regions) {
                m.set(U64, off, r.guestAddr());
                m.set(U64, off + 8, r.size());
                m.set(U64, off + 16, r.userAddr());
                m.set(U64, off + 24, 0L);
                off += MEMORY_REGION_SIZE;
            }
            ioctl(VHOST_SET_MEM_TABLE, m, "VHOST_SET_MEM_TABLE (" + regions.size() + " regions)");
        }
    }

    /**
     * VHOST_SET_LOG_BASE with the log's user address ({@code offset}), then VHOST_SET_LOG_FD with
     * {@code fd} (an eventfd signalled on log writes) when {@code fd >= 0}.
     */
    @Override
    public void setLogBase(int logFd, long size, long offset) throws VhostException {
        arg.set(U64, 0, offset);
        ioctl(VHOST_SET_LOG_BASE, arg, "VHOST_SET_LOG_BASE");
        if (logFd >= 0) {
            arg.set(U32, 0, logFd);
            ioctl(VHOST_SET_LOG_FD, arg, "VHOST_SET_LOG_FD");
        }
    }

    @Override
    public void setVringNum(int index, int num) throws VhostException {
        vringState(VHOST_SET_VRING_NUM, "VHOST_SET_VRING_NUM", index, num);
    }

    @Override
    public void setVringAddr(VringAddr a) throws VhostException {
        arg.set(U32, 0, a.index());
        arg.set(U32, 4, a.flags());
        arg.set(U64, 8, a.descUserAddr());
        arg.set(U64, 16, a.usedUserAddr());
        arg.set(U64, 24, a.availUserAddr());
        arg.set(U64, 32, a.logGuestAddr());
        ioctl(VHOST_SET_VRING_ADDR, arg, "VHOST_SET_VRING_ADDR for queue " + a.index());
    }

    @Override
    public void setVringBase(int index, int base) throws VhostException {
        vringState(VHOST_SET_VRING_BASE, "VHOST_SET_VRING_BASE", index, base);
    }

    @Override
    public int getVringBase(int index) throws VhostException {
        vringState(VHOST_GET_VRING_BASE, "VHOST_GET_VRING_BASE", index, 0);
        return arg.get(U32, 4);
    }

    @Override
    public void setVringKick(int index, int kickFd) throws VhostException {
        vringState(VHOST_SET_VRING_KICK, "VHOST_SET_VRING_KICK", index, kickFd);
    }

    @Override
    public void setVringCall(int index, int callFd) throws VhostException {
        vringState(VHOST_SET_VRING_CALL, "VHOST_SET_VRING_CALL", index, callFd);
    }

    @Override
    public void setVringErr(int index, int errFd) throws VhostException {
        vringState(VHOST_SET_VRING_ERR, "VHOST_SET_VRING_ERR", index, errFd);
    }

    /** {@code sizeof(struct vhost_msg_v2)}: u32 type, u32 asid, a 64-byte union holding the IOTLB message. */
    public static final int VHOST_MSG_V2_SIZE = 72;
    private static final String[] IOTLB_TYPES = {"?", "MISS", "UPDATE", "INVALIDATE", "ACCESS_FAIL", "BATCH_BEGIN", "BATCH_END"};
    private final MemorySegment msgV2 = arena.allocate(VHOST_MSG_V2_SIZE, 8);

    /**
     * Writes one {@code struct vhost_msg_v2} ({@code u32 type = 2; u32 asid = 0;} then
     * {@code struct vhost_iotlb_msg}: {@code u64 iova, size, uaddr; u8 perm, type}, padded to the
     * union's 64 bytes: 72 bytes) to the device fd, as QEMU's vhost-vdpa does. The kernel
     * ({@code vhost_chr_write_iter}) answers a handled message with the full struct size, and any
     * refusal of the message handler with EFAULT.
     *
     * @throws VhostNativeException naming the IOTLB message type, IOVA range and node
     */
    @Override
    public void iotlbMessage(IotlbMessage m) throws VhostException {
        msgV2.fill((byte) 0);
        msgV2.set(U32, 0, 2);
        msgV2.set(U32, 4, 0);
        msgV2.set(U64, 8, m.iova());
        msgV2.set(U64, 16, m.size());
        msgV2.set(U64, 24, m.uaddr());
        msgV2.set(ValueLayout.JAVA_BYTE, 32, (byte) m.perm());
        msgV2.set(ValueLayout.JAVA_BYTE, 33, (byte) m.type());
        String what = "write(vhost_msg_v2 IOTLB " + (m.type() >= 0 && m.type() < IOTLB_TYPES.length ? IOTLB_TYPES[m.type()] : "type " + m.type())
                + String.format(" iova 0x%x size 0x%x", m.iova(), m.size()) + " to " + node + ")";
        long n;
        try {
            n = Linux.write(fd(), msgV2, VHOST_MSG_V2_SIZE);
        } catch (VhostNativeException e) {
            throw new VhostNativeException(what, e.errno(), Linux.strerror(e.errno()));
        }
        if (n != VHOST_MSG_V2_SIZE) {
            throw new VhostNativeException(what, Linux.EAGAIN, "short write " + n + " of " + VHOST_MSG_V2_SIZE + " bytes");
        }
    }

    /** @return the backend type of the subclass (for {@link #describe()}) */
    protected abstract VhostBackendType backendType();

    /** Closes the device fd (the kernel then stops every ring and frees its state). Idempotent. */
    @Override
    public synchronized void close() {
        int f = fd;
        fd = -1;
        if (f >= 0) {
            Linux.closeQuietly(f);
        }
    }
}
