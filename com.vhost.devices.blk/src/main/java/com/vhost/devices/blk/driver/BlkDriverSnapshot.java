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
 * int magic 0x56424453 ("VBDS"); int version 3;
 * long ackedFeatures;
 * int configLength; byte[configLength] config      (virtio-blk config space, VirtIO 1.2 §5.2.4)
 * int stateLength; byte[stateLength] backendState  (the back-end's own state through SET_DEVICE_STATE_FD
 *                                                    SAVE when it offers DEVICE_STATE; length 0 when not)
 * queues as {@link VirtqueueStates} writes them     (index, size, desc/avail/used GPA, nextAvail = where the
 *                                                    back-end resumes, enabled)
 * per queue, in the same order:
 *   int availIdx; int usedIdx;                      (the driver's avail->idx and last used index)
 *   int restart;                                    (version 3: {@value #AT_INDICES} the ring resumes at these
 *                                                    indices, split rings; {@value #FRESH} the ring restarted fresh,
 *                                                    packed rings, VIRTIO 1.2 §2.8)
 *   int inFlight; then per request: int type; long offset; long length   (bytes; virtio_blk_req type, §5.2.6)
 * </pre>
 * Version 2 is version 3 without {@code restart} (always {@value #AT_INDICES}); both are read.
 *
 * <p><b>Split rings</b> ({@value #AT_INDICES}): {@code nextAvail} is the back-end's last_avail_idx
 * from GET_VRING_BASE, the indices are the ring's at the stop, the requests in flight those still on
 * the ring; the rings wake there. <b>Packed rings</b> ({@value #FRESH}): a ring is not carried at
 * its GET_VRING_BASE index (a used element written out of order overwrites descriptors of a request
 * the back-end still held), so the snapshot records what was outstanding instead: the rings restart
 * fresh ({@code nextAvail}, {@code availIdx} and {@code usedIdx} 0x8000) and the requests in flight
 * are those that were on the rings, placed again on the fresh rings when the snapshot was taken; a
 * restore resets the rings fresh too.
 *
 * <p>Either way the requests in flight are a record of what was outstanding: their data lives in
 * the application's buffers and they complete in the running device, so a restore never replays
 * them.
 *
 * @param ackedFeatures the features the driver acked
 * @param config the config space bytes read from the backend at the snapshot
 * @param backendState the back-end's state (vhost-user DEVICE_STATE), empty when it offers none
 * @param queues per queue, where its rings are and the index the back-end resumes at
 * @param rings per queue, the driver's side of the ring indices, how it restarts and the requests in flight
 */
record BlkDriverSnapshot(long ackedFeatures, byte[] config, byte[] backendState, List<VirtqueueConfig> queues,
        List<Ring> rings) implements VhostDriver.Snapshot {
    static final int MAGIC = 0x56424453;
    /** The version written. */
    static final int VERSION = 3;
    /** The oldest version read: 2, split rings only (no {@code restart} field). */
    static final int MIN_VERSION = 2;
    /** {@code restart}: the ring resumes at its indices (split rings). */
    static final int AT_INDICES = 0;
    /** {@code restart}: the ring restarted fresh, its outstanding requests placed again (packed rings). */
    static final int FRESH = 1;

    /** One request in flight: virtio-blk request {@code type}, byte {@code offset} and {@code length}. */
    record InFlight(int type, long offset, long length) {}

    /**
     * The driver's side of one queue's ring at the snapshot.
     *
     * @param restart {@link #AT_INDICES} or {@link #FRESH}
     */
    record Ring(int availIdx, int usedIdx, int restart, List<InFlight> inFlight) {}

    @Override
    public byte[] encode() {
        return SnapshotFrames.writeDriverSnapshot(MAGIC, VERSION, ackedFeatures, config, backendState, queues, rings, (out, r) -> {
            out.writeInt(r.availIdx);
            out.writeInt(r.usedIdx);
            out.writeInt(r.restart);
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
     * high-level requests on it (in submission order). Packed rings: the requests on them are
     * recorded, then taken off and the rings restarted fresh ({@link BlkQueues#takeOutstanding});
     * the snapshot's queues are the fresh rings, the requests are placed again when the data path
     * resumes.
     *
     * @param slept the queues as the front-end's sleep returned them
     * @param bases per queue the base GET_VRING_BASE returned, -1 unknown
     * @param state the back-end's own state (DEVICE_STATE SAVE), empty when not offered
     */
    static BlkDriverSnapshot record(VirtioBlkFrontend f, long acked, BlkQueues queues, List<VirtqueueConfig> slept,
            int[] bases, byte[] state) {
        byte[] cfg = new byte[VirtioBlk.CONFIG_SIZE];
        f.readConfig(0, cfg);
        List<List<InFlight>> onRings = new ArrayList<>(queues.count());
        for (BlkRequestQueue q : queues.all()) {
            onRings.add(q.ringRequests());
        }
        boolean fresh = queues.packed();
        if (fresh) {
            queues.takeOutstanding(bases, "snapshot");
        }
        List<Ring> rings = new ArrayList<>(queues.count());
        for (BlkRequestQueue q : queues.all()) {
            rings.add(new Ring(q.ring().availIdx(), q.ring().lastUsedIdx(), fresh ? FRESH : AT_INDICES, onRings.get(q.index())));
        }
        return new BlkDriverSnapshot(acked, cfg, state, fresh ? queuesAsState(queues.configs()) : slept, List.copyOf(rings));
    }

    /** @return {@code configs} without eventfds (-1), as a snapshot's queues are */
    private static List<VirtqueueConfig> queuesAsState(List<VirtqueueConfig> configs) {
        List<VirtqueueConfig> out = new ArrayList<>(configs.size());
        for (VirtqueueConfig c : configs) {
            out.add(new VirtqueueConfig(c.index(), c.size(), c.descAddr(), c.availAddr(), c.usedAddr(), c.nextAvail(), -1, -1,
                    c.enabled()));
        }
        return List.copyOf(out);
    }

    /**
     * Checks every ring of the snapshot restarts as this device's rings do: fresh on packed rings,
     * at its indices on split ones.
     *
     * @param packed whether this device's rings are packed (VIRTIO_F_RING_PACKED)
     * @throws VirtioDeviceException naming the queue whose record does not fit
     */
    void checkRestart(boolean packed) throws VirtioDeviceException {
        for (int i = 0; i < rings.size(); i++) {
            int r = rings.get(i).restart;
            if (r != (packed ? FRESH : AT_INDICES)) {
                throw new VirtioDeviceException("restore: snapshot queue " + i + (r == FRESH
                        ? " restarted fresh (a packed-ring snapshot) but this device's rings are split"
                        : " records ring indices (a split-ring snapshot) but this device's rings are packed"
                                + " (VIRTIO_F_RING_PACKED); a packed-ring snapshot records its outstanding requests (version 3)"));
            }
        }
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
     * Reads a snapshot of version {@value #MIN_VERSION} or {@value #VERSION}.
     *
     * @param maxQueues the device's number of queues
     * @throws VirtioDeviceException naming what is wrong: magic/version, a negative or
     *     oversized count, a restart other than {@value #AT_INDICES} or {@value #FRESH}, trailing
     *     bytes, or truncation at {@code snapshot.length} bytes
     */
    static BlkDriverSnapshot decode(byte[] snapshot, int maxQueues) throws VirtioDeviceException {
        SnapshotFrames.DriverSnapshot<Ring> s = SnapshotFrames.readDriverSnapshot(snapshot, "virtio-blk driver snapshot",
                MAGIC, MIN_VERSION, VERSION, "back-end state", DeviceStateTransfer.MAX_STATE_BYTES, maxQueues, (in, q, version) -> {
                    int avail = in.readInt();
                    int used = in.readInt();
                    int restart = version >= 3 ? in.readInt() : AT_INDICES;
                    if (restart != AT_INDICES && restart != FRESH) {
                        throw new VirtioDeviceException("restore: snapshot queue " + q.index() + " restart " + restart
                                + " is neither " + AT_INDICES + " (at its indices) nor " + FRESH + " (fresh)");
                    }
                    int n = SnapshotFrames.checkInFlight(q, in.readInt(), "requests");
                    List<InFlight> fl = new ArrayList<>(n);
                    for (int i = 0; i < n; i++) {
                        fl.add(new InFlight(in.readInt(), in.readLong(), in.readLong()));
                    }
                    return new Ring(avail & 0xFFFF, used & 0xFFFF, restart, List.copyOf(fl));
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
            sb.append(String.format("; q%d size %d desc 0x%x last_avail %d avail %d used %d%s in-flight %d", q.index(), q.size(),
                    q.descAddr(), q.nextAvail(), r.availIdx, r.usedIdx, r.restart == FRESH ? " (packed, restarted fresh)" : "",
                    r.inFlight.size()));
        }
        return sb.toString();
    }

    @Override
    public String toString() {
        return describe() + ", config " + HexFormat.of().formatHex(config);
    }
}
