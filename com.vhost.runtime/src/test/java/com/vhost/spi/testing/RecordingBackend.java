package com.vhost.spi.testing;

import com.vhost.api.InflightRegion;
import com.vhost.api.IotlbMessage;
import com.vhost.api.MemoryRegion;
import com.vhost.api.VhostBackend;
import com.vhost.api.VhostBackendType;
import com.vhost.api.VhostException;
import com.vhost.api.VhostFeatureException;
import com.vhost.api.VhostRefusedException;
import com.vhost.api.VringAddr;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** A backend that records every request as a string and answers from fields the test sets. */
public final class RecordingBackend implements VhostBackend {
    public final List<String> log = new ArrayList<>();
    public final VhostBackendType type;
    public long features;
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

    public RecordingBackend(VhostBackendType type, long features, long protocolFeatures) {
        this.type = type;
        this.features = features;
        this.protocolFeatures = protocolFeatures;
    }

    private void rec(String s) throws VhostException {
        log.add(s);
        String name = s.contains(" ") ? s.substring(0, s.indexOf(' ')) : s;
        if (name.equals(refuse)) {
            throw new VhostRefusedException(name, 1, "");
        }
    }

    @Override public VhostBackendType type() { return type; }
    @Override public String describe() { return "recording:" + type.id(); }
    @Override public int virtioDeviceId() { return deviceId; }
    @Override public boolean isConnected() { return connected; }
    @Override public long getFeatures() throws VhostException { rec("GET_FEATURES"); return features; }
    @Override public void setFeatures(long f) throws VhostException { rec("SET_FEATURES 0x" + Long.toHexString(f)); }
    @Override public void setOwner() throws VhostException { rec("SET_OWNER"); }
    @Override public void resetOwner() throws VhostException { rec("RESET_OWNER"); }
    @Override public long getProtocolFeatures() throws VhostException { rec("GET_PROTOCOL_FEATURES"); return protocolFeatures; }
    @Override public void setProtocolFeatures(long f) throws VhostException { rec("SET_PROTOCOL_FEATURES 0x" + Long.toHexString(f)); }
    @Override public int getQueueNum() throws VhostException { rec("GET_QUEUE_NUM"); return queueNum; }
    @Override public int getMaxMemSlots() throws VhostException { rec("GET_MAX_MEM_SLOTS"); return 32; }
    @Override public void setMemTable(List<MemoryRegion> regions) throws VhostException { memTable = regions; rec("SET_MEM_TABLE " + regions.size()); }
    @Override public void addMemRegion(MemoryRegion region) throws VhostException { rec("ADD_MEM_REG"); }
    @Override public void removeMemRegion(MemoryRegion region) throws VhostException { rec("REM_MEM_REG"); }
    @Override public void setLogBase(int fd, long size, long offset) throws VhostException { rec("SET_LOG_BASE"); }
    @Override public void setVringNum(int index, int num) throws VhostException { rec("SET_VRING_NUM " + index + " " + num); }
    @Override public void setVringAddr(VringAddr addr) throws VhostException { addrs.add(addr); rec("SET_VRING_ADDR " + addr.index()); }
    @Override public void setVringBase(int index, int base) throws VhostException { bases.put(index, base); rec("SET_VRING_BASE " + index + " " + base); }
    @Override public int getVringBase(int index) throws VhostException { rec("GET_VRING_BASE " + index); return bases.getOrDefault(index, 0) + 7; }
    @Override public void setVringKick(int index, int fd) throws VhostException { rec("SET_VRING_KICK " + index); }
    @Override public void setVringCall(int index, int fd) throws VhostException { callFds.put(index, fd); rec("SET_VRING_CALL " + index + " " + fd); }
    @Override public void setVringErr(int index, int fd) throws VhostException { rec("SET_VRING_ERR " + index); }
    @Override public void setVringEnable(int index, boolean enable) throws VhostException { rec("SET_VRING_ENABLE " + index + " " + (enable ? 1 : 0)); }
    @Override public byte[] getConfig(int offset, int size) throws VhostException {
        rec("GET_CONFIG " + offset + " " + size);
        byte[] b = new byte[size];
        System.arraycopy(config, offset, b, 0, Math.min(size, config.length - offset));
        return b;
    }
    @Override public void setConfig(int offset, byte[] data) throws VhostException { rec("SET_CONFIG " + offset + " " + data.length); }
    @Override public InflightRegion getInflightFd(int numQueues, int queueSize) throws VhostException { throw new VhostFeatureException("GET_INFLIGHT_FD not offered"); }
    @Override public void setInflightFd(InflightRegion region) throws VhostException { throw new VhostFeatureException("SET_INFLIGHT_FD not offered"); }
    @Override public int setDeviceStateFd(int direction, int phase, int fd) throws VhostException { throw new VhostFeatureException("SET_DEVICE_STATE_FD not offered"); }
    @Override public void checkDeviceState() throws VhostException { throw new VhostFeatureException("CHECK_DEVICE_STATE not offered"); }
    @Override public void iotlbMessage(IotlbMessage message) throws VhostException { throw new VhostFeatureException("IOTLB_MSG not offered"); }
    int status;
    /** Status bits the device refuses to keep (to simulate a device rejecting features). */
    public int statusMask = 0xFF;
    @Override public void setStatus(int s) throws VhostException { rec("SET_STATUS " + s); status = s & statusMask; }
    @Override public int getStatus() throws VhostException { rec("GET_STATUS"); return status; }
    @Override public void resetDevice() throws VhostException { rec("RESET_DEVICE"); }
    @Override public void suspend() throws VhostException { rec("SUSPEND"); }
    @Override public void resume() throws VhostException { rec("RESUME"); }
    @Override public void setConfigChangeListener(Runnable listener) { log.add("CONFIG_LISTENER"); }
    @Override public void close() { connected = false; log.add("CLOSE"); }
}
