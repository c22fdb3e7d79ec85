package com.vhost.vdpa;

import static com.vhost.spi.ioctl.VhostIoctl.*;

import com.vhost.api.IotlbMessage;
import com.vhost.api.MemoryRegion;
import com.vhost.api.VhostBackendType;
import com.vhost.api.VhostException;
import com.vhost.api.VhostFeatureException;
import com.vhost.api.VhostFeatures;
import com.vhost.api.VhostNativeException;
import com.vhost.api.VhostRefusedException;
import com.vhost.api.vdpa.VhostVdpaBackend;
import com.vhost.spi.ioctl.IoctlVhostBackend;
import com.vhost.spi.nativeio.EventFd;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * One {@code /dev/vhost-vdpa-N} device. Memory is mapped with IOTLB UPDATE messages (IOVA =
 * guest-physical address, {@code vhost_msg_v2}), batched between BATCH_BEGIN and BATCH_END when
 * the IOTLB_BATCH backend feature was set; each IOVA range is checked against
 * VHOST_VDPA_GET_IOVA_RANGE first. Status, config space and queue enable use the VDPA ioctls;
 * suspend and resume need backend features SUSPEND and RESUME set ({@link #setBackendFeatures}).
 */
public final class VdpaBackend extends IoctlVhostBackend implements VhostVdpaBackend {
    /** ERANGE, reported for an IOVA outside the device's range. */
    private static final int ERANGE = 34;

    private final List<MemoryRegion> mapped = new ArrayList<>();
    /** The listener set with {@link #setConfigChangeListener}, or null. */
    private volatile Runnable configListener;
    private EventFd configCall;
    private Thread configWatcher;

    VdpaBackend(int fd, String node) {
        super(fd, node);
    }

    @Override
    protected VhostBackendType backendType() {
        return VhostBackendType.VDPA;
    }

    /** VHOST_VDPA_GET_DEVICE_ID. @return the VirtIO device ID (1 net, 2 blk) */
    @Override
    public int deviceId() throws VhostException {
        ioctl(VHOST_VDPA_GET_DEVICE_ID, arg, "VHOST_VDPA_GET_DEVICE_ID");
        return arg.get(ValueLayout.JAVA_INT, 0);
    }

    /** @return {@link #deviceId()} (VHOST_VDPA_GET_DEVICE_ID) */
    @Override
    public int virtioDeviceId() throws VhostException {
        return deviceId();
    }

    /** VHOST_VDPA_GET_IOVA_RANGE. @return {first, last} usable IOVA, inclusive */
    @Override
    public long[] iovaRange() throws VhostException {
        ioctl(VHOST_VDPA_GET_IOVA_RANGE, arg, "VHOST_VDPA_GET_IOVA_RANGE");
        return new long[] {arg.get(ValueLayout.JAVA_LONG, 0), arg.get(ValueLayout.JAVA_LONG, 8)};
    }

    /** VHOST_VDPA_GET_VRING_NUM. @return the largest queue size the device supports */
    @Override
    public int maxQueueSize() throws VhostException {
        ioctl(VHOST_VDPA_GET_VRING_NUM, arg, "VHOST_VDPA_GET_VRING_NUM");
        return Short.toUnsignedInt(arg.get(ValueLayout.JAVA_SHORT, 0));
    }

    /** VHOST_VDPA_GET_CONFIG_SIZE. @return the config space size in bytes */
    @Override
    public int configSize() throws VhostException {
        ioctl(VHOST_VDPA_GET_CONFIG_SIZE, arg, "VHOST_VDPA_GET_CONFIG_SIZE");
        return arg.get(ValueLayout.JAVA_INT, 0);
    }

    /** VHOST_VDPA_GET_VQS_COUNT: the number of virtqueues. */
    @Override
    public int vqsCount() throws VhostException {
        ioctl(VHOST_VDPA_GET_VQS_COUNT, arg, "VHOST_VDPA_GET_VQS_COUNT");
        return arg.get(ValueLayout.JAVA_INT, 0);
    }

    @Override
    public int getStatus() throws VhostException {
        ioctl(VHOST_VDPA_GET_STATUS, arg, "VHOST_VDPA_GET_STATUS");
        return Byte.toUnsignedInt(arg.get(ValueLayout.JAVA_BYTE, 0));
    }

    @Override
    public void setStatus(int status) throws VhostException {
        arg.set(ValueLayout.JAVA_BYTE, 0, (byte) status);
        ioctl(VHOST_VDPA_SET_STATUS, arg, "VHOST_VDPA_SET_STATUS(0x" + Integer.toHexString(status) + ")");
    }

    /** Writes status 0: the device resets (rings, features, status). */
    @Override
    public void resetDevice() throws VhostException {
        setStatus(0);
    }

    /** {@code struct vhost_vdpa_config {u32 off; u32 len; u8 buf[len]}}. */
    @Override
    public byte[] getConfig(int offset, int size) throws VhostException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment c = a.allocate(8L + size, 8);
            c.set(ValueLayout.JAVA_INT, 0, offset);
            c.set(ValueLayout.JAVA_INT, 4, size);
            ioctl(VHOST_VDPA_GET_CONFIG, c, "VHOST_VDPA_GET_CONFIG(offset " + offset + ", " + size + " bytes)");
            return c.asSlice(8, size).toArray(ValueLayout.JAVA_BYTE);
        }
    }

    @Override
    public void setConfig(int offset, byte[] data) throws VhostException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment c = a.allocate(8L + data.length, 8);
            c.set(ValueLayout.JAVA_INT, 0, offset);
            c.set(ValueLayout.JAVA_INT, 4, data.length);
            MemorySegment.copy(data, 0, c, ValueLayout.JAVA_BYTE, 8, data.length);
            ioctl(VHOST_VDPA_SET_CONFIG, c, "VHOST_VDPA_SET_CONFIG(offset " + offset + ", " + data.length + " bytes)");
        }
    }

    @Override
    public void setVringEnable(int index, boolean enable) throws VhostException {
        vringState(VHOST_VDPA_SET_VRING_ENABLE, "VHOST_VDPA_SET_VRING_ENABLE", index, enable ? 1 : 0);
    }

    /** VHOST_VDPA_SUSPEND (backend feature SUSPEND): rings stop, state is kept. */
    @Override
    public void suspend() throws VhostException {
        requireBackendFeature(VhostFeatures.BACKEND_F_SUSPEND, "VHOST_VDPA_SUSPEND");
        ioctl(VHOST_VDPA_SUSPEND, 0L, "VHOST_VDPA_SUSPEND");
    }

    /** VHOST_VDPA_RESUME (backend feature RESUME). */
    @Override
    public void resume() throws VhostException {
        requireBackendFeature(VhostFeatures.BACKEND_F_RESUME, "VHOST_VDPA_RESUME");
        ioctl(VHOST_VDPA_RESUME, 0L, "VHOST_VDPA_RESUME");
    }

    private void requireBackendFeature(int bit, String what) throws VhostFeatureException {
        if (!VhostFeatures.has(backendFeatures(), bit)) {
            throw new VhostFeatureException(what + " needs backend feature bit " + bit
                    + " set with SET_BACKEND_FEATURES (set: 0x" + Long.toHexString(backendFeatures()) + ")");
        }
    }

    /**
     * Replaces the IOTLB mappings: invalidates what was mapped, then maps each region RW at
     * IOVA = its guest-physical address.
     *
     * @throws VhostRefusedException when a region lies outside VHOST_VDPA_GET_IOVA_RANGE
     */
    @Override
    public void setMemTable(List<MemoryRegion> regions) throws VhostException {
        long[] range = iovaRange();
        for (MemoryRegion r : regions) {
            long last = r.guestAddr() + r.size() - 1;
            boolean wraps = Long.compareUnsigned(last, r.guestAddr()) < 0; // past 2^64 - 1
            if (wraps || Long.compareUnsigned(r.guestAddr(), range[0]) < 0 || Long.compareUnsigned(last, range[1]) > 0) {
                throw new VhostRefusedException("IOTLB_UPDATE", ERANGE, String.format(
                        "IOVA range [0x%x, 0x%x%s] is outside the device's range [0x%x, 0x%x] on %s",
                        r.guestAddr(), last, wraps ? " + 2^64" : "", range[0], range[1], node));
            }
        }
        boolean batch = VhostFeatures.has(backendFeatures(), VhostFeatures.BACKEND_F_IOTLB_BATCH);
        if (batch) {
            iotlbMessage(new IotlbMessage(0, 0, 0, 0, IotlbMessage.BATCH_BEGIN));
        }
        try {
            for (MemoryRegion old : mapped) {
                iotlbMessage(new IotlbMessage(old.guestAddr(), old.size(), 0, 0, IotlbMessage.INVALIDATE));
            }
            mapped.clear();
            for (MemoryRegion r : regions) {
                iotlbMessage(new IotlbMessage(r.guestAddr(), r.size(), r.userAddr(), IotlbMessage.PERM_RW, IotlbMessage.UPDATE));
                mapped.add(r);
            }
        } catch (VhostException e) {
            if (batch) {
                // a parent that maps on BATCH_END (set_map) must still commit what was mapped,
                // and the kernel must leave batch mode
                try {
                    iotlbMessage(new IotlbMessage(0, 0, 0, 0, IotlbMessage.BATCH_END));
                } catch (VhostException end) {
                    e.addSuppressed(end);
                }
            }
            throw e;
        }
        if (batch) {
            iotlbMessage(new IotlbMessage(0, 0, 0, 0, IotlbMessage.BATCH_END));
        }
    }

    /**
     * Registers {@code listener} for config changes: an eventfd is handed to the device with
     * VHOST_VDPA_SET_CONFIG_CALL and a daemon thread runs the listener when it fires.
     */
    @Override
    public synchronized void setConfigChangeListener(Runnable listener) {
        configListener = listener;
        if (listener == null || configCall != null) {
            return;
        }
        try {
            configCall = EventFd.create();
            arg.set(ValueLayout.JAVA_INT, 0, configCall.fd());
            ioctl(VHOST_VDPA_SET_CONFIG_CALL, arg, "VHOST_VDPA_SET_CONFIG_CALL");
        } catch (VhostException e) {
            throw new IllegalStateException("cannot watch config changes of " + node + ": " + e.getMessage(), e);
        }
        EventFd call = configCall;
        configWatcher = Thread.ofPlatform().daemon().name("vdpa-config " + node).start(() -> {
            while (call.fd() >= 0) {
                try {
                    if (call.await(500)) {
                        Runnable l = configListener;
                        if (l != null) {
                            l.run();
                        }
                    }
                } catch (VhostNativeException e) {
                    return;
                }
            }
        });
    }

    @Override
    public synchronized void close() {
        super.close();
        if (configCall != null) {
            configCall.close();
        }
        if (configWatcher != null) {
            try {
                configWatcher.join(2000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
