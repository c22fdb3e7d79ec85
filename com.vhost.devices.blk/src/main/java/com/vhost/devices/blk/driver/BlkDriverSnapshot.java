package com.vhost.devices.blk.driver;

import com.vhost.api.VirtioDeviceException;
import com.vhost.api.blk.VirtioBlk;
import com.vhost.api.virtio.VirtqueueConfig;
import com.vhost.runtime.virtqueue.VirtqueueStates;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
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
        List<Ring> rings) {
    static final int MAGIC = 0x56424453;
    static final int VERSION = 2;

    /** One request in flight: virtio-blk request {@code type}, byte {@code offset} and {@code length}. */
    record InFlight(int type, long offset, long length) {}

    /** The driver's side of one queue's ring at the snapshot. */
    record Ring(int availIdx, int usedIdx, List<InFlight> inFlight) {}

    byte[] encode() {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (DataOutputStream out = new DataOutputStream(bytes)) {
            out.writeInt(MAGIC);
            out.writeInt(VERSION);
            out.writeLong(ackedFeatures);
            out.writeInt(config.length);
            out.write(config);
            out.writeInt(backendState.length);
            out.write(backendState);
            VirtqueueStates.write(out, queues);
            for (Ring r : rings) {
                out.writeInt(r.availIdx);
                out.writeInt(r.usedIdx);
                out.writeInt(r.inFlight.size());
                for (InFlight f : r.inFlight) {
                    out.writeInt(f.type);
                    out.writeLong(f.offset);
                    out.writeLong(f.length);
                }
            }
        } catch (IOException e) {
            throw new IllegalStateException("writing to memory failed", e);
        }
        return bytes.toByteArray();
    }

    /**
     * @param maxQueues the device's number of queues
     * @throws VirtioDeviceException naming what is wrong: magic/version, a negative or
     *     oversized count, trailing bytes, or truncation at {@code snapshot.length} bytes
     */
    static BlkDriverSnapshot decode(byte[] snapshot, int maxQueues) throws VirtioDeviceException {
        try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(snapshot))) {
            int magic = in.readInt();
            int version = in.readInt();
            if (magic != MAGIC || version != VERSION) {
                throw new VirtioDeviceException(String.format(
                        "restore: not a virtio-blk driver snapshot (magic 0x%08x, version %d; expected 0x%08x version %d)",
                        magic, version, MAGIC, VERSION));
            }
            long acked = in.readLong();
            int cfgLen = in.readInt();
            if (cfgLen < 0 || cfgLen > 4096) {
                throw new VirtioDeviceException("restore: config length " + cfgLen + " out of range 0..4096");
            }
            byte[] cfg = in.readNBytes(cfgLen);
            if (cfg.length != cfgLen) {
                throw new VirtioDeviceException("restore: truncated snapshot of " + snapshot.length + " bytes (config)");
            }
            int stateLen = in.readInt();
            if (stateLen < 0 || stateLen > com.vhost.runtime.vhost.DeviceStateTransfer.MAX_STATE_BYTES) {
                throw new VirtioDeviceException("restore: back-end state length " + stateLen + " out of range 0.."
                        + com.vhost.runtime.vhost.DeviceStateTransfer.MAX_STATE_BYTES);
            }
            byte[] state = in.readNBytes(stateLen);
            if (state.length != stateLen) {
                throw new VirtioDeviceException("restore: truncated snapshot of " + snapshot.length + " bytes (back-end state)");
            }
            List<VirtqueueConfig> qs = VirtqueueStates.read(in, "restore", maxQueues, List.of());
            List<Ring> rings = new ArrayList<>(qs.size());
            for (VirtqueueConfig q : qs) {
                int avail = in.readInt();
                int used = in.readInt();
                int n = in.readInt();
                if (n < 0 || n > q.size()) {
                    throw new VirtioDeviceException("restore: queue " + q.index() + " records " + n
                            + " requests in flight, more than its size " + q.size());
                }
                List<InFlight> fl = new ArrayList<>(n);
                for (int i = 0; i < n; i++) {
                    fl.add(new InFlight(in.readInt(), in.readLong(), in.readLong()));
                }
                rings.add(new Ring(avail & 0xFFFF, used & 0xFFFF, List.copyOf(fl)));
            }
            if (in.read() != -1) {
                throw new VirtioDeviceException("restore: trailing bytes after " + qs.size() + " queues");
            }
            return new BlkDriverSnapshot(acked, cfg, state, qs, List.copyOf(rings));
        } catch (IOException e) {
            if (e instanceof VirtioDeviceException v) {
                throw v;
            }
            throw new VirtioDeviceException("restore: truncated snapshot of " + snapshot.length + " bytes", e);
        }
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
    String describe() {
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
