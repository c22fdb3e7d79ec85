package com.vhost.devices.blk.model;

import com.vhost.api.VirtioDeviceException;
import com.vhost.api.virtio.VirtqueueConfig;
import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The blk model's snapshot ({@link FileBlockModel#snapshot()}), format {@code blk.model:}{@value #VERSION}
 * as the bundle's Vhost-Snapshot-Writes header declares it. Little-endian: le32 magic "VBLK", le16
 * version, u8 active, u8 read-only, le64 capacity in sectors, le32 queues, le64 acked features,
 * u8 writeback, le32 queue count, then per queue le32 index, le32 size, le64 desc, avail and used
 * addresses, le32 next avail index (packed rings: position | wrap counter << 15), u8 enabled.
 *
 * @param active the device was asleep while active (queues present)
 * @param readOnly the disk is read-only
 * @param capacitySectors capacity in 512-byte sectors
 * @param numQueues the device's queues
 * @param features the acked feature bits
 * @param writeback the writeback cache setting
 * @param queues the queues that ran (kick and call fds -1)
 */
record BlkModelSnapshot(boolean active, boolean readOnly, long capacitySectors, int numQueues, long features, boolean writeback,
        List<VirtqueueConfig> queues) {
    static final int MAGIC = 0x4B4C4256; // "VBLK" little-endian
    /** The format version, declared as {@code blk.model:N} in the bundle's Vhost-Snapshot-Writes header. */
    static final short VERSION = 1;

    /** @return the snapshot's bytes */
    byte[] encode() {
        ByteBuffer b = ByteBuffer.allocate(40 + 37 * queues.size()).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(MAGIC).putShort(VERSION);
        b.put((byte) (active ? 1 : 0)).put((byte) (readOnly ? 1 : 0));
        b.putLong(capacitySectors).putInt(numQueues).putLong(features);
        b.put((byte) (writeback ? 1 : 0));
        b.putInt(queues.size());
        for (VirtqueueConfig q : queues) {
            b.putInt(q.index()).putInt(q.size()).putLong(q.descAddr()).putLong(q.availAddr()).putLong(q.usedAddr())
                    .putInt(q.nextAvail()).put((byte) (q.enabled() ? 1 : 0));
        }
        return Arrays.copyOf(b.array(), b.position());
    }

    /**
     * Reads a snapshot's bytes (the format only; whether it fits a device is the model's check).
     *
     * @param name the model's name, for messages
     * @throws VirtioDeviceException naming what is wrong: another magic or version, a flag byte
     *     other than 0 or 1, a queue count that is negative, above the queues or non-zero for an
     *     inactive device, an invalid queue, truncated or trailing bytes
     */
    static BlkModelSnapshot decode(String name, byte[] snapshot) throws VirtioDeviceException {
        try {
            ByteBuffer b = ByteBuffer.wrap(snapshot).order(ByteOrder.LITTLE_ENDIAN);
            int magic = b.getInt();
            short version = b.getShort();
            if (magic != MAGIC || version != VERSION) {
                throw new VirtioDeviceException(String.format("blk %s: not a blk snapshot (magic 0x%x, version %d)", name, magic, version));
            }
            boolean active = bool(name, b.get(), "active");
            boolean ro = bool(name, b.get(), "read-only");
            long cap = b.getLong();
            int nq = b.getInt();
            long features = b.getLong();
            boolean wb = bool(name, b.get(), "writeback");
            int count = b.getInt();
            if (count < 0 || count > nq || (!active && count != 0)) {
                throw new VirtioDeviceException("blk " + name + ": snapshot queue count " + count + " is invalid");
            }
            List<VirtqueueConfig> qs = new ArrayList<>(count);
            for (int i = 0; i < count; i++) {
                int index = b.getInt();
                int size = b.getInt();
                long desc = b.getLong();
                long avail = b.getLong();
                long used = b.getLong();
                int next = b.getInt();
                boolean enabled = bool(name, b.get(), "queue enabled");
                qs.add(new VirtqueueConfig(index, size, desc, avail, used, next, -1, -1, enabled));
            }
            if (b.hasRemaining()) {
                throw new VirtioDeviceException("blk " + name + ": " + b.remaining() + " trailing bytes in snapshot");
            }
            return new BlkModelSnapshot(active, ro, cap, nq, features, wb, qs);
        } catch (BufferUnderflowException e) {
            throw new VirtioDeviceException("blk " + name + ": snapshot of " + snapshot.length + " bytes is truncated");
        } catch (IllegalArgumentException e) {
            throw new VirtioDeviceException("blk " + name + ": invalid queue in snapshot: " + e.getMessage());
        }
    }

    private static boolean bool(String name, byte v, String what) throws VirtioDeviceException {
        if (v != 0 && v != 1) {
            throw new VirtioDeviceException("blk " + name + ": snapshot field " + what + " is " + v + ", not 0 or 1");
        }
        return v == 1;
    }
}
