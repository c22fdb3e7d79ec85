package com.vhost.devices.net.driver;

import com.vhost.api.VirtioDeviceException;
import com.vhost.api.virtio.VirtqueueConfig;
import com.vhost.spi.driver.SnapshotFrames;
import com.vhost.spi.driver.VhostDriver;
import com.vhost.spi.virtqueue.VirtqueueStates;
import java.io.DataOutputStream;
import java.util.List;

/**
 * A running virtio-net device's snapshot as {@link VirtioNetDriver#snapshot()} takes it and
 * {@link VirtioNetDriver#restore(byte[])} reads it. Layout (big-endian, {@link DataOutputStream}):
 * <pre>
 * int magic 0x564e4453 ("VNDS"); int version 1;
 * long ackedFeatures;
 * int configLength; byte[configLength] config          (virtio-net config space, VirtIO 1.2 §5.1.4)
 * int deviceLength; byte[deviceLength] device           (VirtioNetFrontend.snapshot(): features, active
 *                                                        pairs, MAC, RX modes, queues as the device slept)
 * queues as {@link VirtqueueStates} writes them         (receiveq/transmitq pairs then controlq: where the
 *                                                        rings are and the index each restarts at)
 * per queue, same order: int availIdx; int usedIdx; int inFlight   (the driver's avail->idx, the last used
 *                                                        index seen, chains on the ring: receive buffers
 *                                                        posted or frames waiting to be sent)
 * </pre>
 *
 * @param ackedFeatures the features the driver acked
 * @param config the config space bytes at the snapshot
 * @param device the front-end device's own snapshot
 * @param queues per queue, its rings and the index it restarts at
 * @param rings per queue, the driver's side of the ring
 */
record NetDriverSnapshot(long ackedFeatures, byte[] config, byte[] device,
        List<VirtqueueConfig> queues, List<Ring> rings) implements VhostDriver.Snapshot {
    static final int MAGIC = 0x564e4453;
    static final int VERSION = 1;

    /** The driver's side of one queue's ring at the snapshot. */
    record Ring(int availIdx, int usedIdx, int inFlight) {}

    @Override
    public byte[] encode() {
        return SnapshotFrames.writeDriverSnapshot(MAGIC, VERSION, ackedFeatures, config, device, queues, rings, (out, r) -> {
            out.writeInt(r.availIdx);
            out.writeInt(r.usedIdx);
            out.writeInt(r.inFlight);
        });
    }

    /**
     * @param maxQueues the device's number of queues (data queues plus the control queue)
     * @throws VirtioDeviceException naming what is wrong: magic/version, a length out of range,
     *     trailing bytes, or truncation at {@code snapshot.length} bytes
     */
    static NetDriverSnapshot decode(byte[] snapshot, int maxQueues) throws VirtioDeviceException {
        SnapshotFrames.DriverSnapshot<Ring> s = SnapshotFrames.readDriverSnapshot(snapshot, "virtio-net driver snapshot",
                MAGIC, VERSION, "device state", 1 << 20, maxQueues, (in, q) -> {
                    int avail = in.readInt();
                    int used = in.readInt();
                    int n = SnapshotFrames.checkInFlight(q, in.readInt(), "chains");
                    return new Ring(avail & 0xFFFF, used & 0xFFFF, n);
                });
        return new NetDriverSnapshot(s.head().ackedFeatures(), s.head().config(), s.head().state(), s.head().queues(), s.rings());
    }

    /** @return a one-line description for shells: features, per-queue indices */
    @Override
    public String describe() {
        StringBuilder sb = new StringBuilder(String.format("virtio-net features 0x%x", ackedFeatures));
        for (int i = 0; i < queues.size(); i++) {
            VirtqueueConfig q = queues.get(i);
            Ring r = rings.get(i);
            sb.append(String.format("; q%d%s base %d avail %d used %d in-flight %d", q.index(), q.enabled() ? "" : " (off)",
                    q.nextAvail(), r.availIdx, r.usedIdx, r.inFlight));
        }
        return sb.toString();
    }
}
