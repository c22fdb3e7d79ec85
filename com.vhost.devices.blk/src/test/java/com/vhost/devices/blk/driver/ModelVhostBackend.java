package com.vhost.devices.blk.driver;

import com.vhost.api.user.InflightRegion;
import com.vhost.api.IotlbMessage;
import com.vhost.api.MemoryRegion;
import com.vhost.api.user.DeviceStateDirection;
import com.vhost.api.user.DeviceStatePhase;
import com.vhost.api.user.VhostUserBackend;
import com.vhost.api.VhostException;
import com.vhost.api.VhostFeatureException;
import com.vhost.api.VhostFeatures;
import com.vhost.api.user.VhostUserProtocolFeature;
import com.vhost.api.VringAddr;
import com.vhost.api.virtio.GuestMemoryRegion;
import com.vhost.api.virtio.Interrupt;
import com.vhost.api.virtio.VirtioDevice;
import com.vhost.api.virtio.VirtioDeviceState;
import com.vhost.api.virtio.VirtqueueConfig;
import com.vhost.spi.memory.GuestMemoryMap;
import com.vhost.spi.nativeio.Linux;
import com.vhost.spi.nativeio.SharedMemory;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeMap;

/**
 * A vhost back-end in this process that hands the vrings to a device-side {@link VirtioDevice}
 * model (the way the vhost-user back-end server does, minus the socket): the memory table is mapped
 * a second time from its memfd, vring state is collected per queue, the model is activated when
 * every queue with a kick fd is enabled, and GET_VRING_BASE puts it to sleep. Calls from the model
 * go to the call eventfds. Lets the driver be tested against the independently written device
 * model in the same module.
 */
final class ModelVhostBackend implements VhostUserBackend {
    private final VirtioDevice model;
    private final List<SharedMemory> mappings = new ArrayList<>();
    private GuestMemoryMap memory;
    private final TreeMap<Integer, int[]> vrings = new TreeMap<>(); // index -> {num, base, kick, call, enabled}
    private final TreeMap<Integer, long[]> addrs = new TreeMap<>();
    private List<VirtqueueConfig> slept = List.of();
    private boolean connected = true;
    private final MemorySegment one = Arena.ofAuto().allocate(8);

    ModelVhostBackend(VirtioDevice model) {
        this.model = model;
        one.set(ValueLayout.JAVA_LONG, 0, 1L);
    }

    private int[] vring(int i) {
        return vrings.computeIfAbsent(i, k -> new int[] {0, 0, -1, -1, 0});
    }

    private final Interrupt interrupt = new Interrupt() {
        @Override
        public void signalUsedQueue(int queueIndex) {
            int fd = vring(queueIndex)[3];
            if (fd >= 0) {
                try {
                    Linux.write(fd, one, 8);
                } catch (VhostException e) {
                    throw new IllegalStateException("call eventfd of queue " + queueIndex, e);
                }
            }
        }

        @Override
        public void signalConfigChanged() {}

        @Override
        public void signalNeedsReset(String reason) {
            throw new IllegalStateException("model needs reset: " + reason);
        }
    };

    @Override public String describe() { return "model:" + model.deviceType().shortName(); }
    @Override public boolean isConnected() { return connected; }
    @Override public long getFeatures() { return model.features() | VhostFeatures.bit(VhostFeatures.F_PROTOCOL_FEATURES); }
    @Override public void setFeatures(long features) { model.ackFeatures(features & ~VhostFeatures.bit(VhostFeatures.F_PROTOCOL_FEATURES)); }
    @Override public void setOwner() {}
    @Override public void resetOwner() {}
    @Override public long getProtocolFeatures() {
        return VhostUserProtocolFeature.MQ.mask() | VhostUserProtocolFeature.CONFIG.mask() | VhostUserProtocolFeature.REPLY_ACK.mask();
    }
    @Override public void setProtocolFeatures(long features) {}
    @Override public int getQueueNum() { return model.queueMaxSizes().length; }
    @Override public int getMaxMemSlots() { return 8; }

    @Override
    public void setMemTable(List<MemoryRegion> regions) throws VhostException {
        mappings.forEach(SharedMemory::close);
        mappings.clear();
        List<GuestMemoryRegion> rs = new ArrayList<>();
        for (MemoryRegion r : regions) {
            SharedMemory m = SharedMemory.map(r.fd(), r.mmapOffset(), r.size());
            mappings.add(m);
            rs.add(new GuestMemoryRegion(r.guestAddr(), r.size(), r.userAddr(), r.fd(), r.mmapOffset(), m.segment()));
        }
        memory = GuestMemoryMap.of(rs);
    }

    @Override public void addMemRegion(MemoryRegion region) throws VhostException { throw new VhostFeatureException("ADD_MEM_REG"); }
    @Override public void removeMemRegion(MemoryRegion region) throws VhostException { throw new VhostFeatureException("REM_MEM_REG"); }
    @Override public void setLogBase(int fd, long size, long offset) throws VhostException { throw new VhostFeatureException("SET_LOG_BASE"); }
    @Override public void setVringNum(int index, int num) { vring(index)[0] = num; }

    @Override
    public void setVringAddr(VringAddr a) {
        addrs.put(a.index(), new long[] {memory.guestAddrOfUser(a.descUserAddr()), memory.guestAddrOfUser(a.availUserAddr()),
                memory.guestAddrOfUser(a.usedUserAddr())});
    }

    @Override public void setVringBase(int index, int base) { vring(index)[1] = base; }

    @Override
    public int getVringBase(int index) throws VhostException {
        if (model.state() == VirtioDeviceState.ACTIVE) {
            slept = model.sleep();
        }
        for (VirtqueueConfig q : slept) {
            if (q.index() == index) {
                vring(index)[4] = 0;
                return q.nextAvail();
            }
        }
        return vring(index)[1];
    }

    @Override public void setVringKick(int index, int fd) { vring(index)[2] = fd; }
    @Override public void setVringCall(int index, int fd) { vring(index)[3] = fd; }
    @Override public void setVringErr(int index, int fd) {}

    @Override
    public void setVringEnable(int index, boolean enable) throws VhostException {
        vring(index)[4] = enable ? 1 : 0;
        if (!enable) {
            return;
        }
        List<VirtqueueConfig> qs = new ArrayList<>();
        for (var e : vrings.entrySet()) {
            int[] v = e.getValue();
            if (v[2] < 0) {
                continue;
            }
            if (v[4] == 0) {
                return; // wait until every kicked queue is enabled
            }
            long[] a = addrs.get(e.getKey());
            qs.add(new VirtqueueConfig(e.getKey(), v[0], a[0], a[1], a[2], v[1], v[2], -1, true));
        }
        switch (model.state()) {
            case NEW, INACTIVE -> model.activate(memory, interrupt, qs);
            case ASLEEP_ACTIVE -> model.wake(qs);
            default -> { }
        }
    }

    @Override public byte[] getConfig(int offset, int size) {
        byte[] b = new byte[size];
        model.readConfig(offset, b);
        return b;
    }

    @Override public void setConfig(int offset, byte[] data) { model.writeConfig(offset, data); }
    @Override public InflightRegion getInflightFd(int n, int s) throws VhostException { throw new VhostFeatureException("GET_INFLIGHT_FD"); }
    @Override public void setInflightFd(InflightRegion r) throws VhostException { throw new VhostFeatureException("SET_INFLIGHT_FD"); }
    @Override public int setDeviceStateFd(DeviceStateDirection d, DeviceStatePhase p, int fd) throws VhostException { throw new VhostFeatureException("SET_DEVICE_STATE_FD"); }
    @Override public void checkDeviceState() throws VhostException { throw new VhostFeatureException("CHECK_DEVICE_STATE"); }
    @Override public long negotiatedProtocolFeatures() { return 0; }
    @Override public boolean canTransferState() { return false; }
    @Override public byte[] saveState(long timeoutMs) throws VhostException { throw new VhostFeatureException("DEVICE_STATE"); }
    @Override public void loadState(byte[] state, long timeoutMs) throws VhostException { throw new VhostFeatureException("DEVICE_STATE"); }
    @Override public void iotlbMessage(IotlbMessage m) throws VhostException { throw new VhostFeatureException("IOTLB_MSG"); }
    @Override public void setStatus(int status) throws VhostException { throw new VhostFeatureException("SET_STATUS"); }
    @Override public int getStatus() throws VhostException { throw new VhostFeatureException("GET_STATUS"); }
    @Override public void resetDevice() {}
    @Override public void setConfigChangeListener(Runnable listener) {}

    @Override
    public void close() {
        connected = false;
        try {
            if (model.state() == VirtioDeviceState.ACTIVE) {
                model.reset();
            }
        } catch (VhostException e) {
            throw new IllegalStateException(e);
        }
        mappings.forEach(SharedMemory::close);
        mappings.clear();
    }
}
