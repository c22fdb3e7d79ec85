package com.vhost.devices.blk.driver;

import com.vhost.api.VirtioDeviceException;
import com.vhost.api.blk.VirtioBlk;
import com.vhost.api.virtio.VirtqueueConfig;
import com.vhost.spi.driver.DeviceStateTransfer;
import com.vhost.spi.driver.SnapshotFrames;
import com.vhost.spi.driver.VhostDriver;
import com.vhost.spi.virtqueue.VirtqueueStates;
import java.io.DataOutputStream;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

/**
 * A running virtio-blk device's snapshot as {@link VirtioBlkDriver#snapshot()} takes it and
 * {@link VirtioBlkDriver#restore(byte[])} reads it. Layout (big-endian, {@link DataOutputStream}):
 * <pre>
 * int magic 0x56424453 ("VBDS"); int version 2;
 * long ackedFeatures;
 * int configLength; byte[configLength] config      (virtio-blk config space, VirtIO 1.2 §5.2.4)
 * int stateLength; byte[stateLength] backendState  (the back-end's own state through SET_DEVICE_STATE_FD
 *                                                    SAVE when it offers DEVICE_STATE; length 0 when not)
 * queues as {@link VirtqueueStates} writes them     (index, size, desc/avail/used GPA, nextAvail = the
 *                                                    back-end's last_avail_idx from GET_VRING_BASE, enabled)
 * per queue, in the same order:
 *   int availIdx; int usedIdx;                      (the driver's avail->idx and last used index seen)
 *   int inFlight; then per request: int type; long offset; long length   (bytes; virtio_blk_req type, §5.2.6)
 * </pre>
 * The requests in flight are a record of what was outstanding: their data lives in the
 * application's buffers and they complete in the running device, so a restore never replays them.
 *
 * @param ackedFeatures the features the driver acked
 * @param config the config space bytes read from the backend at the snapshot
 * @param backendState the back-end's state (vhost-user DEVICE_STATE), empty when it offers none
 * @param queues per queue, where its rings are and the back-end's next avail index
 * @param rings per queue, the driver's side of the ring indices and the requests in flight
 */
record BlkDriverSnapshot(long ackedFeatures, byte[] config, byte[] backendState, List<VirtqueueConfig> queues,
        List<Ring> rings) implements VhostDriver.Snapshot {
    static final int MAGIC = 0x56424453;
    static final int VERSION = 2;

    /** One request in flight: virtio-blk request {@code type}, byte {@code offset} and {@code length}. */
    record InFlight(int type, long offset, long length) {}

    /** The driver's side of one queue's ring at the snapshot. */
    record Ring(int availIdx, int usedIdx, List<InFlight> inFlight) {}

    @Override
    public byte[] encode() {
        return SnapshotFrames.writeDriverSnapshot(MAGIC, VERSION, ackedFeatures, config, backendState, queues, rings, (out, r) -> {
            out.writeInt(r.availIdx);
            out.writeInt(r.usedIdx);
            out.writeInt(r.inFlight.size());
            for (InFlight f : r.inFlight) {
                out.writeInt(f.type);
                out.writeLong(f.offset);
                out.writeLong(f.length);
            }
        });
    }

    /**
     * Records a driver whose rings are stopped: its config space, per ring the indices and the
     * high-level requests on it (in submission order).
     *
     * @param slept the queues as the front-end's sleep returned them
     * @param state the back-end's own state (DEVICE_STATE SAVE), empty when not offered
     */
    static BlkDriverSnapshot record(VirtioBlkFrontend f, long acked, BlkRequestQueue[] queues, List<VirtqueueConfig> slept,
            byte[] state) {
        byte[] cfg = new byte[VirtioBlk.CONFIG_SIZE];
        f.readConfig(0, cfg);
        List<Ring> rings = new ArrayList<>(queues.length);
        for (BlkRequestQueue q : queues) {
            rings.add(new Ring(q.ring().availIdx(), q.ring().lastUsedIdx(), q.ringRequests()));
        }
        return new BlkDriverSnapshot(acked, cfg, state, slept, List.copyOf(rings));
    }

    /**
     * Checks the snapshot's queues are {@code queues}: as many, each of {@code queueSize}, its
     * rings in one of the queue's two ring areas.
     *
     * @return per queue the ring area (0 or 1) the snapshot's rings are in
     * @throws VirtioDeviceException naming the queue that does not fit
     */
    int[] areasIn(BlkRequestQueue[] queues, int queueSize) throws VirtioDeviceException {
        if (queues().size() != queues.length) {
            throw new VirtioDeviceException("restore: snapshot has " + queues().size() + " queues, this device " + queues.length);
        }
        int[] areas = new int[queues.length];
        for (int i = 0; i < queues.length; i++) {
            VirtqueueConfig c = queues().get(i);
            if (c.index() != i || c.size() != queueSize) {
                throw new VirtioDeviceException("restore: snapshot queue #" + i + " is index " + c.index() + " size "
                        + c.size() + "; this device's queue " + i + " has size " + queueSize);
            }
            areas[i] = queues[i].areaOf(c);
            if (areas[i] < 0) {
                throw new VirtioDeviceException(String.format(
                        "restore: snapshot queue %d rings at desc 0x%x avail 0x%x used 0x%x are not this driver's"
                                + " (its ring areas start at desc 0x%x and 0x%x)",
                        i, c.descAddr(), c.availAddr(), c.usedAddr(), queues[i].areaQueue(0).descGpa(),
                        queues[i].areaQueue(1).descGpa()));
            }
        }
        return areas;
    }

    /**
     * @param maxQueues the device's number of queues
     * @throws VirtioDeviceException naming what is wrong: magic/version, a negative or
     *     oversized count, trailing bytes, or truncation at {@code snapshot.length} bytes
     */
    static BlkDriverSnapshot decode(byte[] snapshot, int maxQueues) throws VirtioDeviceException {
        SnapshotFrames.DriverSnapshot<Ring> s = SnapshotFrames.readDriverSnapshot(snapshot, "virtio-blk driver snapshot",
                MAGIC, VERSION, "back-end state", DeviceStateTransfer.MAX_STATE_BYTES, maxQueues, (in, q) -> {
                    int avail = in.readInt();
                    int used = in.readInt();
                    int n = SnapshotFrames.checkInFlight(q, in.readInt(), "requests");
                    List<InFlight> fl = new ArrayList<>(n);
                    for (int i = 0; i < n; i++) {
                        fl.add(new InFlight(in.readInt(), in.readLong(), in.readLong()));
                    }
                    return new Ring(avail & 0xFFFF, used & 0xFFFF, List.copyOf(fl));
                });
        return new BlkDriverSnapshot(s.head().ackedFeatures(), s.head().config(), s.head().state(), s.head().queues(), s.rings());
    }

    /** @return requests in flight over all queues */
    int inFlightCount() {
        int n = 0;
        for (Ring r : rings) {
            n += r.inFlight.size();
        }
        return n;
    }

    /** @return a one-line description for shells: features, capacity, per-queue indices */
    @Override
    public String describe() {
        StringBuilder sb = new StringBuilder(String.format("virtio-blk features 0x%x", ackedFeatures));
        if (config.length >= 8) {
            long sectors = java.lang.foreign.MemorySegment.ofArray(config)
                    .get(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN),
                            VirtioBlk.CFG_CAPACITY);
            sb.append(", capacity ").append(sectors << VirtioBlk.SECTOR_SHIFT).append(" bytes");
        }
        sb.append(backendState.length > 0 ? ", back-end state " + backendState.length + " bytes" : ", no back-end state");
        for (int i = 0; i < queues.size(); i++) {
            VirtqueueConfig q = queues.get(i);
            Ring r = rings.get(i);
            sb.append(String.format("; q%d size %d desc 0x%x last_avail %d avail %d used %d in-flight %d", q.index(), q.size(),
                    q.descAddr(), q.nextAvail(), r.availIdx, r.usedIdx, r.inFlight.size()));
        }
        return sb.toString();
    }

    @Override
    public String toString() {
        return describe() + ", config " + HexFormat.of().formatHex(config);
    }
}
