package com.vhost.spi.testing;

import com.vhost.api.IotlbMessage;
import com.vhost.api.MemoryRegion;
import com.vhost.api.VhostBackend;
import com.vhost.api.VhostBackendType;
import com.vhost.api.VhostException;
import com.vhost.api.VhostFeatureException;
import com.vhost.api.VhostRefusedException;
import com.vhost.api.VringAddr;
import com.vhost.api.VringEnableBackend;
import com.vhost.api.user.DeviceStateDirection;
import com.vhost.api.user.DeviceStatePhase;
import com.vhost.api.user.InflightRegion;
import com.vhost.api.user.VhostUserBackend;
import com.vhost.api.vdpa.VhostVdpaBackend;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A backend that records every request as a string and answers from fields the test sets. One
 * subclass per transport ({@link #of}), each implementing only that transport's interfaces, as
 * the real backends do: {@link User} ({@link VhostUserBackend}), {@link Vdpa}
 * ({@link VhostVdpaBackend}), {@link Kernel} (vhost-net: {@link VringEnableBackend} only).
 */
public abstract class RecordingBackend implements VhostBackend {
    public final List<String> log = new ArrayList<>();
    /** vhost-user: the size of each {@link VhostUserBackend#pipeline} batch, in order. */
    public final List<Integer> batches = new ArrayList<>();
    public final VhostBackendType type;
    public long features;
    /** vhost-user protocol features, or vDPA / kernel backend features, offered. */
    public long protocolFeatures;
    public int queueNum = 8;
    public byte[] config = new byte[64];
    public final Map<Integer, Integer> bases = new HashMap<>();
    public final Map<Integer, Integer> callFds = new HashMap<>();
    public String refuse; // request name to refuse
    public boolean connected = true;
    public int deviceId;
    public List<MemoryRegion> memTable;
    public final List<VringAddr> addrs = new ArrayList<>();
    int status;
    /** Status bits the device refuses to keep (to simulate a device rejecting features). */
    public int statusMask = 0xFF;

    RecordingBackend(VhostBackendType type, long features, long protocolFeatures) {
        this.type = type;
        this.features = features;
        this.protocolFeatures = protocolFeatures;
    }

    /**
     * @param type which transport's interfaces the fake implements
     * @param features the virtio features GET_FEATURES answers
     * @param protocolFeatures vhost-user protocol features, or backend features, offered
     */
    public static RecordingBackend of(VhostBackendType type, long features, long protocolFeatures) {
        return switch (type) {
            case USER -> new User(features, protocolFeatures);
            case VDPA -> new Vdpa(features, protocolFeatures);
            case KERNEL -> new Kernel(features, protocolFeatures);
        };
    }

    void rec(String s) throws VhostException {
        log.add(s);
        String name = s.contains(" ") ? s.substring(0, s.indexOf(' ')) : s;
        if (name.equals(refuse)) {
            throw new VhostRefusedException(name, 1, "");
        }
    }

    @Override public String describe() { return "recording:" + type.id(); }
    @Override public int virtioDeviceId() { return deviceId; }
    @Override public boolean isConnected() { return connected; }
    @Override public long getFeatures() throws VhostException { rec("GET_FEATURES"); return features; }
    @Override public void setFeatures(long f) throws VhostException { rec("SET_FEATURES 0x" + Long.toHexString(f)); }
    @Override public void setOwner() throws VhostException { rec("SET_OWNER"); }
    @Override public void resetOwner() throws VhostException { rec("RESET_OWNER"); }
    @Override public void setMemTable(List<MemoryRegion> regions) throws VhostException { memTable = regions; rec("SET_MEM_TABLE " + regions.size()); }
    @Override public void setLogBase(int fd, long size, long offset) throws VhostException { rec("SET_LOG_BASE"); }
    @Override public void setVringNum(int index, int num) throws VhostException { rec("SET_VRING_NUM " + index + " " + num); }
    @Override public void setVringAddr(VringAddr addr) throws VhostException { addrs.add(addr); rec("SET_VRING_ADDR " + addr.index()); }
    @Override public void setVringBase(int index, int base) throws VhostException { bases.put(index, base); rec("SET_VRING_BASE " + index + " " + base); }
    @Override public int getVringBase(int index) throws VhostException { rec("GET_VRING_BASE " + index); return bases.getOrDefault(index, 0) + 7; }
    @Override public void setVringKick(int index, int fd) throws VhostException { rec("SET_VRING_KICK " + index); }
    @Override public void setVringCall(int index, int fd) throws VhostException { callFds.put(index, fd); rec("SET_VRING_CALL " + index + " " + fd); }
    @Override public void setVringErr(int index, int fd) throws VhostException { rec("SET_VRING_ERR " + index); }
    @Override public void iotlbMessage(IotlbMessage message) throws VhostException { rec("IOTLB_MSG " + message.type()); }
    @Override public void resetDevice() throws VhostException { rec("RESET_DEVICE"); }
    @Override public void close() { connected = false; log.add("CLOSE"); }

    // shared by the subclasses whose interfaces declare them
    public void setVringEnable(int index, boolean enable) throws VhostException { rec("SET_VRING_ENABLE " + index + " " + (enable ? 1 : 0)); }
    public byte[] getConfig(int offset, int size) throws VhostException {
        rec("GET_CONFIG " + offset + " " + size);
        byte[] b = new byte[size];
        System.arraycopy(config, offset, b, 0, Math.min(size, config.length - offset));
        return b;
    }
    public void setConfig(int offset, byte[] data) throws VhostException { rec("SET_CONFIG " + offset + " " + data.length); }
    public void setConfigChangeListener(Runnable listener) { log.add("CONFIG_LISTENER"); }
    public void setStatus(int s) throws VhostException { rec("SET_STATUS " + s); status = s & statusMask; }
    public int getStatus() throws VhostException { rec("GET_STATUS"); return status; }

    /** vhost-user: protocol features, queue number, config, status; no device-state transfer offered. */
    public static final class User extends RecordingBackend implements VhostUserBackend {
        private long negotiated;
        /** The {@code mmap_size} GET_INFLIGHT_FD answers; 0: no region (and no fd). */
        public long inflightBytes = 4096;

        User(long features, long protocolFeatures) {
            super(VhostBackendType.USER, features, protocolFeatures);
        }

        @Override public long getProtocolFeatures() throws VhostException { rec("GET_PROTOCOL_FEATURES"); return protocolFeatures; }
        @Override public void setProtocolFeatures(long f) throws VhostException { rec("SET_PROTOCOL_FEATURES 0x" + Long.toHexString(f)); negotiated = f; }
        @Override public long negotiatedProtocolFeatures() { return negotiated; }
        @Override public long[] pipeline(List<com.vhost.api.user.VringRequest> requests) throws VhostException {
            batches.add(requests.size());
            return VhostUserBackend.super.pipeline(requests);
        }
        @Override public int getQueueNum() throws VhostException { rec("GET_QUEUE_NUM"); return queueNum; }
        @Override public int getMaxMemSlots() throws VhostException { rec("GET_MAX_MEM_SLOTS"); return 32; }
        @Override public void addMemRegion(MemoryRegion region) throws VhostException { rec("ADD_MEM_REG"); }
        @Override public void removeMemRegion(MemoryRegion region) throws VhostException { rec("REM_MEM_REG"); }
        @Override public InflightRegion getInflightFd(int numQueues, int queueSize) throws VhostException {
            if (!com.vhost.api.user.VhostUserProtocolFeature.INFLIGHT_SHMFD.in(negotiated)) {
                throw new VhostFeatureException("GET_INFLIGHT_FD not offered");
            }
            rec("GET_INFLIGHT_FD " + numQueues + " " + queueSize);
            // an fd of the test's own, never mapped: only its ownership travels
            if (inflightBytes == 0) {
                return new InflightRegion(0, 0, numQueues, queueSize, -1);
            }
            return new InflightRegion(inflightBytes, 0, numQueues, queueSize,
                    com.vhost.spi.nativeio.Linux.eventfd(com.vhost.spi.nativeio.Linux.EFD_CLOEXEC));
        }
        @Override public void setInflightFd(InflightRegion region) throws VhostException {
            if (!com.vhost.api.user.VhostUserProtocolFeature.INFLIGHT_SHMFD.in(negotiated)) {
                throw new VhostFeatureException("SET_INFLIGHT_FD not offered");
            }
            rec("SET_INFLIGHT_FD " + region.numQueues() + " " + region.queueSize());
        }
        @Override public int setDeviceStateFd(DeviceStateDirection direction, DeviceStatePhase phase, int fd) throws VhostException { throw new VhostFeatureException("SET_DEVICE_STATE_FD not offered"); }
        @Override public void checkDeviceState() throws VhostException { throw new VhostFeatureException("CHECK_DEVICE_STATE not offered"); }
        @Override public boolean canTransferState() { return false; }
        @Override public byte[] saveState(long timeoutMs) throws VhostException { throw new VhostFeatureException("DEVICE_STATE not offered"); }
        @Override public void loadState(byte[] state, long timeoutMs) throws VhostException { throw new VhostFeatureException("DEVICE_STATE not offered"); }
    }

    /** vhost-vdpa: backend features, status, config, suspend and resume. */
    public static final class Vdpa extends RecordingBackend implements VhostVdpaBackend {
        Vdpa(long features, long protocolFeatures) {
            super(VhostBackendType.VDPA, features, protocolFeatures);
        }

        @Override public long getBackendFeatures() throws VhostException { rec("GET_BACKEND_FEATURES"); return protocolFeatures; }
        @Override public void setBackendFeatures(long f) throws VhostException { rec("SET_BACKEND_FEATURES 0x" + Long.toHexString(f)); }
        @Override public int deviceId() { return deviceId; }
        @Override public long[] iovaRange() { return new long[] {0, -1L}; }
        @Override public int maxQueueSize() { return 256; }
        @Override public int configSize() { return config.length; }
        @Override public int vqsCount() { return queueNum; }
        @Override public void suspend() throws VhostException { rec("SUSPEND"); }
        @Override public void resume() throws VhostException { rec("RESUME"); }
    }

    /** vhost-kernel (vhost-net): rings attached to the TAP through ring enable; nothing else. */
    public static final class Kernel extends RecordingBackend implements VringEnableBackend {
        Kernel(long features, long protocolFeatures) {
            super(VhostBackendType.KERNEL, features, protocolFeatures);
        }
    }
}
