package com.vhost.spi.virtqueue;

import com.vhost.api.VirtioDeviceException;
import com.vhost.api.virtio.VirtqueueConfig;
import java.io.DataInput;
import java.io.DataOutput;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * The queue part of a device snapshot, shared by every device's {@code snapshot()}/{@code restore()}:
 * {@code int n;} then per queue {@code int index, size; long desc, avail, used; int nextAvail;
 * boolean enabled} (big-endian, {@link DataOutput}). Eventfds are not part of a snapshot: a
 * restored queue takes the kick/call fds of the queue with the same index it replaces, or -1.
 */
public final class VirtqueueStates {
    private VirtqueueStates() {}

    /** Writes {@code queues} in the layout above. */
    public static void write(DataOutput out, List<VirtqueueConfig> queues) throws IOException {
        out.writeInt(queues.size());
        for (VirtqueueConfig q : queues) {
            out.writeInt(q.index());
            out.writeInt(q.size());
            out.writeLong(q.descAddr());
            out.writeLong(q.availAddr());
            out.writeLong(q.usedAddr());
            out.writeInt(q.nextAvail());
            out.writeBoolean(q.enabled());
        }
    }

    /**
     * Reads what {@link #write} wrote.
     *
     * @param what the device and call for messages ("blk disk0: restore")
     * @param maxQueues the device's number of queues
     * @param fdsFrom the queues being replaced, whose fds carry over by index (may be empty)
     * @throws VirtioDeviceException naming {@code what} when the count or a queue is invalid
     * @throws IOException when the input ends early
     */
    public static List<VirtqueueConfig> read(DataInput in, String what, int maxQueues, List<VirtqueueConfig> fdsFrom)
            throws IOException {
        int n = in.readInt();
        if (n < 0 || n > maxQueues) {
            throw new VirtioDeviceException(what + ": snapshot has " + n + " queues, device has " + maxQueues);
        }
        List<VirtqueueConfig> qs = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            int index = in.readInt();
            int size = in.readInt();
            long desc = in.readLong();
            long avail = in.readLong();
            long used = in.readLong();
            int next = in.readInt();
            boolean enabled = in.readBoolean();
            VirtqueueConfig old = null;
            for (VirtqueueConfig o : fdsFrom) {
                if (o.index() == index) {
                    old = o;
                }
            }
            try {
                qs.add(new VirtqueueConfig(index, size, desc, avail, used, next, old == null ? -1 : old.kickFd(),
                        old == null ? -1 : old.callFd(), enabled));
            } catch (IllegalArgumentException e) {
                throw new VirtioDeviceException(what + ": " + e.getMessage(), e);
            }
        }
        return List.copyOf(qs);
    }
}
