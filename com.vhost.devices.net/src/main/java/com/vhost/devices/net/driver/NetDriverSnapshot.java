package com.vhost.devices.net.driver;

import com.vhost.api.VirtioDeviceException;
import com.vhost.api.virtio.VirtqueueConfig;
import com.vhost.runtime.virtqueue.VirtqueueStates;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.ArrayList;
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
        List<VirtqueueConfig> queues, List<Ring> rings) {
    static final int MAGIC = 0x564e4453;
    static final int VERSION = 1;

    /** The driver's side of one queue's ring at the snapshot. */
    record Ring(int availIdx, int usedIdx, int inFlight) {}

    byte[] encode() {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (DataOutputStream out = new DataOutputStream(bytes)) {
            out.writeInt(MAGIC);
            out.writeInt(VERSION);
            out.writeLong(ackedFeatures);
            out.writeInt(config.length);
            out.write(config);
            out.writeInt(device.length);
            out.write(device);
            VirtqueueStates.write(out, queues);
            for (Ring r : rings) {
                out.writeInt(r.availIdx);
                out.writeInt(r.usedIdx);
                out.writeInt(r.inFlight);
            }
        } catch (IOException e) {
            throw new IllegalStateException("writing to memory failed", e);
        }
        return bytes.toByteArray();
    }

    /**
     * @param maxQueues the device's number of queues (data queues plus the control queue)
     * @throws VirtioDeviceException naming what is wrong: magic/version, a length out of range,
     *     trailing bytes, or truncation at {@code snapshot.length} bytes
     */
    static NetDriverSnapshot decode(byte[] snapshot, int maxQueues) throws VirtioDeviceException {
        try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(snapshot))) {
            int magic = in.readInt();
            int version = in.readInt();
            if (magic != MAGIC || version != VERSION) {
                throw new VirtioDeviceException(String.format(
                        "restore: not a virtio-net driver snapshot (magic 0x%08x, version %d; expected 0x%08x version %d)",
                        magic, version, MAGIC, VERSION));
            }
            long acked = in.readLong();
            byte[] cfg = bytes(in, "config", 4096, snapshot.length);
            byte[] device = bytes(in, "device state", 1 << 20, snapshot.length);
            List<VirtqueueConfig> qs = VirtqueueStates.read(in, "restore", maxQueues, List.of());
            List<Ring> rings = new ArrayList<>(qs.size());
            for (VirtqueueConfig q : qs) {
                int avail = in.readInt();
                int used = in.readInt();
                int n = in.readInt();
                if (n < 0 || n > q.size()) {
                    throw new VirtioDeviceException("restore: queue " + q.index() + " records " + n
                            + " chains in flight, more than its size " + q.size());
                }
                rings.add(new Ring(avail & 0xFFFF, used & 0xFFFF, n));
            }
            if (in.read() != -1) {
                throw new VirtioDeviceException("restore: trailing bytes after " + qs.size() + " queues");
            }
            return new NetDriverSnapshot(acked, cfg, device, qs, List.copyOf(rings));
        } catch (IOException e) {
            if (e instanceof VirtioDeviceException v) {
                throw v;
            }
            throw new VirtioDeviceException("restore: truncated snapshot of " + snapshot.length + " bytes", e);
        }
    }

    private static byte[] bytes(DataInputStream in, String what, int max, int total) throws IOException {
        int n = in.readInt();
        if (n < 0 || n > max) {
            throw new VirtioDeviceException("restore: " + what + " length " + n + " out of range 0.." + max);
        }
        byte[] b = in.readNBytes(n);
        if (b.length != n) {
            throw new VirtioDeviceException("restore: truncated snapshot of " + total + " bytes (" + what + ")");
        }
        return b;
    }

    /** @return a one-line description for shells: features, per-queue indices */
    String describe() {
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
