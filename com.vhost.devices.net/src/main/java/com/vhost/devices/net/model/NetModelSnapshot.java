package com.vhost.devices.net.model;

import com.vhost.api.VirtioDeviceException;
import com.vhost.api.virtio.VirtqueueConfig;
import com.vhost.spi.virtqueue.VirtqueueStates;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.List;

/**
 * The snapshot of an {@link AbstractNetModel} ("vnet" format version {@value #VERSION}, declared
 * as {@code net.model:1} in the bundle's Vhost-Snapshot-Writes header). Layout (big-endian):
 * {@code int magic "vnet"; int version 1; int pairs; long acked; boolean wasActive; int nQueues;}
 * then per queue {@code int index, size; long desc, avail, used; int nextAvail; boolean enabled}
 * (no fds: the queues slept with lend theirs, by index).
 *
 * @param pairs queue pairs of the device, 1..128
 * @param features the acked feature bits
 * @param active whether the device slept from ACTIVE
 * @param queues the slept queues (empty unless {@code active})
 */
record NetModelSnapshot(int pairs, long features, boolean active, List<VirtqueueConfig> queues) {
    private static final int MAGIC = 0x766e6574; // "vnet"
    /** The format version written and read. */
    static final int VERSION = 1;

    /** @return the snapshot bytes, in the layout above */
    byte[] encode(String name) throws VirtioDeviceException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (DataOutputStream out = new DataOutputStream(bytes)) {
            out.writeInt(MAGIC);
            out.writeInt(VERSION);
            out.writeInt(pairs);
            out.writeLong(features);
            out.writeBoolean(active);
            VirtqueueStates.write(out, active ? queues : List.of());
        } catch (IOException e) {
            throw new VirtioDeviceException(name + ": snapshot: " + e.getMessage(), e);
        }
        return bytes.toByteArray();
    }

    /**
     * Reads and checks a snapshot for a device of {@code pairs} pairs offering {@code offered}.
     *
     * @param fds the queues slept with, whose fds the restored queues take by index
     * @throws VirtioDeviceException naming what is wrong: another magic or version, another pair
     *     count, features not offered, a bad queue state, trailing or missing bytes
     */
    static NetModelSnapshot decode(String name, byte[] snapshot, int pairs, long offered, List<VirtqueueConfig> fds)
            throws VirtioDeviceException {
        try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(snapshot))) {
            int magic = in.readInt();
            int version = in.readInt();
            if (magic != MAGIC || version != VERSION) {
                throw new VirtioDeviceException(String.format(name + ": restore: not a virtio-net snapshot (magic 0x%x, version %d)",
                        magic, version));
            }
            int p = in.readInt();
            if (p != pairs) {
                throw new VirtioDeviceException(name + ": restore: snapshot has " + p + " queue pairs, device has " + pairs);
            }
            long features = in.readLong();
            if ((features & ~offered) != 0) {
                throw new VirtioDeviceException(String.format(name + ": restore: features 0x%x not all offered (0x%x)", features, offered));
            }
            boolean active = in.readBoolean();
            List<VirtqueueConfig> qs = VirtqueueStates.read(in, name + ": restore", 2 * pairs, fds);
            if (in.read() != -1) {
                throw new VirtioDeviceException(name + ": restore: trailing bytes after " + qs.size() + " queues");
            }
            return new NetModelSnapshot(p, features, active, qs);
        } catch (IOException e) {
            if (e instanceof VirtioDeviceException v) {
                throw v;
            }
            throw new VirtioDeviceException(name + ": restore: truncated snapshot of " + snapshot.length + " bytes", e);
        }
    }
}
