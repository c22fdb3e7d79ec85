package com.vhost.devices.blk.driver;

import com.vhost.api.user.InflightRegion;
import com.vhost.api.IotlbMessage;
import com.vhost.api.MemoryRegion;
import com.vhost.api.user.DeviceStateDirection;
import com.vhost.api.user.DeviceStatePhase;
import com.vhost.api.user.VhostUserBackend;
import com.vhost.api.VhostDisconnectedException;
import com.vhost.api.VhostException;
import com.vhost.api.VhostFeatureException;
import com.vhost.api.user.VhostUserProtocolFeature;
import com.vhost.api.VringAddr;
import com.vhost.api.blk.VirtioBlk;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.spi.nativeio.Linux;
import com.vhost.spi.nativeio.SharedMemory;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A virtio-blk device emulated in test code behind the {@link VhostBackend} interface: it maps
 * the driver's memfd a second time (as a real back-end process would), reads the rings and
 * descriptor chains directly from memory, serves requests from a RAM disk and writes used
 * elements and status bytes. Written independently of {@link com.vhost.spi.virtqueue.DriverQueue}.
 */
final class EmulatedBlkBackend implements VhostUserBackend {
    static final ValueLayout.OfShort S = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfInt I = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfLong L = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    final long features;
    final MemorySegment disk;
    final byte[] config = new byte[VirtioBlk.CONFIG_SIZE];
    final List<String> log = java.util.Collections.synchronizedList(new ArrayList<>());
    /** Sector whose requests fail with IOERR, or -1. */
    volatile long failSector = -1;
    /** When set, the device takes requests but never answers (a hung or dying back-end). */
    volatile boolean mute;
    volatile boolean connected = true;
    final AtomicInteger requests = new AtomicInteger();
    final AtomicInteger maxChain = new AtomicInteger();
    final AtomicInteger indirectChains = new AtomicInteger();
    /** Packed rings (VIRTIO_F_RING_PACKED acked): batches of requests completed in reverse order. */
    final AtomicInteger outOfOrderBatches = new AtomicInteger();
    /**
     * Packed rings: the next this many buffers taken are executed but never marked used, while
     * later ones are (their used descriptors overwrite the held buffers' descriptors, 2.8.21.3).
     */
    final AtomicInteger withhold = new AtomicInteger();
    /** Packed rings: buffers taken and never marked used ({@link #withhold}). */
    final AtomicInteger withheld = new AtomicInteger();
    private volatile boolean packed;

    private final Arena arena = Arena.ofShared();
    private SharedMemory mapping;
    private MemoryRegion region;
    private final Vq[] vqs = new Vq[8];

    /** One virtqueue's state on the device side. */
    final class Vq {
        final int index;
        int num;
        /** Split: next avail index; packed: next avail position (wrap counter in {@link #availWrap}). */
        int lastAvail;
        /** Split: used index; packed: next used position (wrap counter in {@link #usedWrap}). */
        int usedIdx;
        int availWrap = 1;
        int usedWrap = 1;
        long desc;
        long avail;
        long used;
        int kickFd = -1;
        int callFd = -1;
        volatile boolean running;
        Thread thread;

        Vq(int index) {
            this.index = index;
        }
    }

    EmulatedBlkBackend(long features, long capacityBytes, int sizeMax, int segMax, int numQueues) {
        this.features = features;
        this.disk = arena.allocate(capacityBytes, 4096);
        MemorySegment c = MemorySegment.ofArray(config);
        c.set(L, VirtioBlk.CFG_CAPACITY, capacityBytes / 512);
        c.set(I, VirtioBlk.CFG_SIZE_MAX, sizeMax);
        c.set(I, VirtioBlk.CFG_SEG_MAX, segMax);
        c.set(I, VirtioBlk.CFG_BLK_SIZE, 512);
        c.set(S, VirtioBlk.CFG_NUM_QUEUES, (short) numQueues);
        c.set(I, VirtioBlk.CFG_MAX_DISCARD_SECTORS, 1 << 16);
        c.set(I, VirtioBlk.CFG_MAX_WRITE_ZEROES_SECTORS, 1 << 16);
    }

    private Vq vq(int i) {
        if (vqs[i] == null) {
            vqs[i] = new Vq(i);
        }
        return vqs[i];
    }

    private void check(String req) throws VhostException {
        log.add(req);
        if (!connected) {
            throw new VhostDisconnectedException(req + ": emulated back-end disconnected");
        }
    }

    private long off(long userAddr) {
        return userAddr - region.userAddr();
    }

    private MemorySegment mem() {
        return mapping.segment();
    }

    private long gpaOff(long gpa) {
        long o = gpa - region.guestAddr();
        if (o < 0 || o >= region.size()) {
            throw new IllegalStateException("gpa 0x" + Long.toHexString(gpa) + " outside the memory table");
        }
        return o;
    }

    /** Serves one queue until stopped: waits on the kick fd, processes the avail ring. */
    private void serve(Vq q) {
        MemorySegment buf = arena.allocate(8);
        while (q.running) {
            try {
                if (q.kickFd < 0) {
                    Thread.sleep(5); // no kick fd: the device polls the avail ring
                } else if ((Linux.poll(q.kickFd, Linux.POLLIN, 20) & Linux.POLLIN) != 0) {
                    Linux.read(q.kickFd, buf, 8);
                }
                if (mute || !connected) {
                    continue;
                }
                MemorySegment m = mem();
                boolean any = false;
                if (packed) {
                    any = servePacked(m, q);
                }
                while (q.running && !packed) {
                    int availIdx = Short.toUnsignedInt(m.get(S, off(q.avail) + 2));
                    VarHandle.acquireFence();
                    if (availIdx == q.lastAvail) {
                        break;
                    }
                    int head = Short.toUnsignedInt(m.get(S, off(q.avail) + 4 + 2L * (q.lastAvail % q.num)));
                    q.lastAvail = (q.lastAvail + 1) & 0xFFFF;
                    int written = process(m, q, head);
                    long e = off(q.used) + 4 + 8L * (q.usedIdx % q.num);
                    m.set(I, e, head);
                    m.set(I, e + 4, written);
                    q.usedIdx = (q.usedIdx + 1) & 0xFFFF;
                    VarHandle.releaseFence();
                    m.set(S, off(q.used) + 2, (short) q.usedIdx);
                    any = true;
                }
                // Ask to be kicked for the next entry (EVENT_IDX avail_event), then notify.
                if (!packed) {
                    m.set(S, off(q.used) + 4 + 8L * q.num, (short) q.lastAvail);
                }
                VarHandle.fullFence();
                if (any && q.callFd >= 0) {
                    buf.set(ValueLayout.JAVA_LONG, 0, 1L);
                    Linux.write(q.callFd, buf, 8);
                }
            } catch (VhostException | RuntimeException | InterruptedException e) {
                log.add("queue " + q.index + " failed: " + e);
                return;
            }
        }
    }

    record Buf(long off, int len, boolean write) {}

    /**
     * Packed ring (VIRTIO 1.2 2.8), written from the spec: takes every available buffer (its
     * descriptors consecutive, NEXT on all but the last, or one INDIRECT descriptor whose table is
     * read whole), processes them in order, then writes their used descriptors in reverse order
     * (id, len, then flags AVAIL = USED = the used wrap counter), advancing by each buffer's
     * descriptor count.
     *
     * @return whether any buffer was used
     */
    private boolean servePacked(MemorySegment m, Vq q) {
        List<int[]> batch = new ArrayList<>();
        while (q.running) {
            int f = Short.toUnsignedInt(m.get(S, off(q.desc) + 16L * q.lastAvail + 14));
            if ((f >> 7 & 1) != q.availWrap || (f >> 15 & 1) == q.availWrap) {
                break;
            }
            VarHandle.acquireFence();
            List<Buf> bufs = new ArrayList<>();
            int descs = 0;
            int id;
            while (true) {
                long e = off(q.desc) + 16L * q.lastAvail;
                int fl = Short.toUnsignedInt(m.get(S, e + 14));
                id = Short.toUnsignedInt(m.get(S, e + 12));
                if ((fl & 4) != 0) {
                    indirectChains.incrementAndGet();
                    long tbl = gpaOff(m.get(L, e));
                    for (int k = 0; k < m.get(I, e + 8) / 16; k++) {
                        long t = tbl + 16L * k;
                        bufs.add(new Buf(gpaOff(m.get(L, t)), m.get(I, t + 8), (m.get(S, t + 14) & 2) != 0));
                    }
                } else {
                    bufs.add(new Buf(gpaOff(m.get(L, e)), m.get(I, e + 8), (fl & 2) != 0));
                }
                descs++;
                if (++q.lastAvail == q.num) {
                    q.lastAvail = 0;
                    q.availWrap ^= 1;
                }
                if ((fl & 1) == 0) {
                    break;
                }
            }
            int written = process(m, bufs);
            if (withhold.getAndUpdate(w -> Math.max(0, w - 1)) > 0) {
                withheld.incrementAndGet(); // executed, never reported
            } else {
                batch.add(new int[] {id, descs, written});
            }
        }
        if (batch.size() > 1) {
            outOfOrderBatches.incrementAndGet();
        }
        for (int k = batch.size() - 1; k >= 0; k--) {
            int[] b = batch.get(k);
            long u = off(q.desc) + 16L * q.usedIdx;
            m.set(I, u + 8, b[2]);
            m.set(S, u + 12, (short) b[0]);
            VarHandle.releaseFence();
            m.set(S, u + 14, (short) (q.usedWrap == 1 ? 0x8080 : 0));
            q.usedIdx += b[1];
            if (q.usedIdx >= q.num) {
                q.usedIdx -= q.num;
                q.usedWrap ^= 1;
            }
        }
        return !batch.isEmpty();
    }

    private int process(MemorySegment m, Vq q, int head) {
        List<Buf> bufs = new ArrayList<>();
        long d = off(q.desc) + 16L * head;
        int flags = m.get(S, d + 12);
        if ((flags & 4) != 0) {
            indirectChains.incrementAndGet();
            long tbl = gpaOff(m.get(L, d));
            int n = m.get(I, d + 8) / 16;
            int i = 0;
            for (int k = 0; k < n; k++) {
                long e = tbl + 16L * i;
                int f = m.get(S, e + 12);
                bufs.add(new Buf(gpaOff(m.get(L, e)), m.get(I, e + 8), (f & 2) != 0));
                if ((f & 1) == 0) {
                    break;
                }
                i = Short.toUnsignedInt(m.get(S, e + 14));
            }
        } else {
            int idx = head;
            for (int k = 0; k < q.num; k++) {
                long e = off(q.desc) + 16L * idx;
                int f = m.get(S, e + 12);
                bufs.add(new Buf(gpaOff(m.get(L, e)), m.get(I, e + 8), (f & 2) != 0));
                if ((f & 1) == 0) {
                    break;
                }
                idx = Short.toUnsignedInt(m.get(S, e + 14));
            }
        }
        return process(m, bufs);
    }

    private int process(MemorySegment m, List<Buf> bufs) {
        maxChain.accumulateAndGet(bufs.size(), Math::max);
        requests.incrementAndGet();
        Buf hdr = bufs.get(0);
        Buf status = bufs.get(bufs.size() - 1);
        int type = m.get(I, hdr.off());
        long sector = m.get(L, hdr.off() + 8);
        int st = VirtioBlk.S_OK;
        int written = 1;
        long pos = sector * 512;
        if (sector == failSector) {
            st = VirtioBlk.S_IOERR;
        } else {
            switch (type) {
                case VirtioBlk.T_IN -> {
                    for (Buf b : bufs.subList(1, bufs.size() - 1)) {
                        MemorySegment.copy(disk, pos, m, b.off(), b.len());
                        pos += b.len();
                        written += b.len();
                    }
                }
                case VirtioBlk.T_OUT -> {
                    for (Buf b : bufs.subList(1, bufs.size() - 1)) {
                        MemorySegment.copy(m, b.off(), disk, pos, b.len());
                        pos += b.len();
                    }
                }
                case VirtioBlk.T_FLUSH -> log.add("flush");
                case VirtioBlk.T_GET_ID -> {
                    Buf b = bufs.get(1);
                    byte[] id = "emulated-blk".getBytes();
                    MemorySegment.copy(id, 0, m, ValueLayout.JAVA_BYTE, b.off(), id.length);
                    written += b.len();
                }
                case VirtioBlk.T_DISCARD, VirtioBlk.T_WRITE_ZEROES -> {
                    Buf seg = bufs.get(1);
                    long s = m.get(L, seg.off());
                    int n = m.get(I, seg.off() + 8);
                    disk.asSlice(s * 512, (long) n * 512).fill((byte) 0);
                    log.add((type == VirtioBlk.T_DISCARD ? "discard " : "write-zeroes ") + s + " " + n + " flags " + m.get(I, seg.off() + 12));
                }
                default -> st = VirtioBlk.S_UNSUPP;
            }
        }
        m.set(ValueLayout.JAVA_BYTE, status.off(), (byte) st);
        return written;
    }

    /** Stops answering and reports disconnection, as a killed back-end process would. */
    void die() {
        connected = false;
        for (Vq q : vqs) {
            if (q != null) {
                q.running = false;
            }
        }
    }

    @Override public String describe() { return "emulated-blk"; }
    @Override public boolean isConnected() { return connected; }
    @Override public long getFeatures() throws VhostException { check("GET_FEATURES"); return features; }
    @Override
    public void setFeatures(long f) throws VhostException {
        check("SET_FEATURES 0x" + Long.toHexString(f));
        packed = VirtioFeatures.has(f, VirtioFeatures.F_RING_PACKED);
    }
    @Override public void setOwner() throws VhostException { check("SET_OWNER"); }
    @Override public void resetOwner() throws VhostException { check("RESET_OWNER"); }
    @Override public long getProtocolFeatures() throws VhostException {
        check("GET_PROTOCOL_FEATURES");
        return VhostUserProtocolFeature.MQ.mask() | VhostUserProtocolFeature.CONFIG.mask() | VhostUserProtocolFeature.REPLY_ACK.mask();
    }
    @Override public void setProtocolFeatures(long f) throws VhostException { check("SET_PROTOCOL_FEATURES"); }
    @Override public int getQueueNum() throws VhostException { check("GET_QUEUE_NUM"); return 8; }
    @Override public int getMaxMemSlots() throws VhostException { return 8; }

    @Override
    public void setMemTable(List<MemoryRegion> regions) throws VhostException {
        check("SET_MEM_TABLE");
        if (regions.size() != 1) {
            throw new IllegalStateException("emulated back-end handles one region, got " + regions.size());
        }
        region = regions.get(0);
        if (mapping != null) {
            mapping.close();
        }
        mapping = SharedMemory.map(region.fd(), region.mmapOffset(), region.size());
    }

    @Override public void addMemRegion(MemoryRegion r) throws VhostException { throw new VhostFeatureException("ADD_MEM_REG"); }
    @Override public void removeMemRegion(MemoryRegion r) throws VhostException { throw new VhostFeatureException("REM_MEM_REG"); }
    @Override public void setLogBase(int fd, long size, long offset) throws VhostException { throw new VhostFeatureException("SET_LOG_BASE"); }
    @Override public void setVringNum(int index, int num) throws VhostException { check("SET_VRING_NUM " + index); vq(index).num = num; }

    @Override
    public void setVringAddr(VringAddr a) throws VhostException {
        check("SET_VRING_ADDR " + a.index());
        Vq q = vq(a.index());
        q.desc = a.descUserAddr();
        q.avail = a.availUserAddr();
        q.used = a.usedUserAddr();
        if (!packed) {
            q.usedIdx = Short.toUnsignedInt(mem().get(S, off(q.used) + 2));
        }
    }

    @Override
    public void setVringBase(int index, int base) throws VhostException {
        check("SET_VRING_BASE " + index + " " + base);
        Vq q = vq(index);
        if (packed) { // bits 0-14 position, bit 15 wrap counter; used = avail, as DPDK
            q.lastAvail = base & 0x7FFF;
            q.availWrap = base >> 15 & 1;
            q.usedIdx = q.lastAvail;
            q.usedWrap = q.availWrap;
        } else {
            q.lastAvail = base;
        }
    }

    @Override
    public int getVringBase(int index) throws VhostException {
        check("GET_VRING_BASE " + index);
        Vq q = vq(index);
        stop(q);
        return packed ? q.lastAvail | q.availWrap << 15 : q.lastAvail;
    }

    private static void stop(Vq q) {
        q.running = false;
        if (q.thread != null) {
            try {
                q.thread.join(2000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            q.thread = null;
        }
    }

    @Override public void setVringKick(int index, int fd) throws VhostException { check("SET_VRING_KICK " + index); vq(index).kickFd = fd; }
    @Override public void setVringCall(int index, int fd) throws VhostException { check("SET_VRING_CALL " + index); vq(index).callFd = fd; }
    @Override public void setVringErr(int index, int fd) throws VhostException { check("SET_VRING_ERR " + index); }

    @Override
    public void setVringEnable(int index, boolean enable) throws VhostException {
        check("SET_VRING_ENABLE " + index + " " + (enable ? 1 : 0));
        Vq q = vq(index);
        if (enable && !q.running) {
            q.running = true;
            q.thread = Thread.ofPlatform().daemon().name("emulated-blk-vq" + index).start(() -> serve(q));
        } else if (!enable) {
            stop(q);
        }
    }

    @Override
    public byte[] getConfig(int offset, int size) throws VhostException {
        check("GET_CONFIG");
        byte[] b = new byte[size];
        System.arraycopy(config, offset, b, 0, Math.min(size, config.length - offset));
        return b;
    }

    @Override public void setConfig(int offset, byte[] data) throws VhostException { check("SET_CONFIG"); }
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
    @Override public void resetDevice() throws VhostException { check("RESET_DEVICE"); }
    @Override public void setConfigChangeListener(Runnable listener) { }

    @Override
    public void close() {
        for (Vq q : vqs) {
            if (q != null) {
                stop(q);
            }
        }
        connected = false;
        if (mapping != null) {
            mapping.close();
            mapping = null;
        }
        log.add("CLOSE");
    }

    /** Frees the RAM disk; call after the test is done with {@link #disk}. */
    void release() {
        arena.close();
    }
}
