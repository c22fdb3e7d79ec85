package com.vhost.spi.driver;

import com.vhost.api.VhostDevice;
import com.vhost.api.VhostException;
import com.vhost.api.VirtioDeviceException;
import com.vhost.api.virtio.GuestMemory;
import com.vhost.api.virtio.Interrupt;
import com.vhost.api.virtio.VirtioDevice;
import com.vhost.api.virtio.VirtioDeviceState;
import com.vhost.api.virtio.VirtqueueConfig;
import com.vhost.spi.vhost.GenericVhostDevice;
import com.vhost.spi.virtqueue.VirtqueueStates;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * The {@link VirtioDevice} life cycle shared by the front-ends whose data plane runs in a vhost
 * back-end (crosvm {@code vhost_user_frontend}, QEMU {@code hw/virtio/vhost.c} users): the state
 * machine of {@link VirtioDeviceState} with its transitions, the acked features, the guest memory,
 * interrupt and queues of the last activation, and the snapshot framing. A subclass supplies what
 * is device-specific: {@link #features()}, config space, how the queues are started on and taken
 * back from the back-end, and any fields of its own in the snapshot.
 *
 * <ul>
 *   <li>{@link #ackFeatures}: in NEW and INACTIVE only ({@link IllegalStateException} otherwise:
 *       it cannot throw a checked exception).</li>
 *   <li>{@link #prepare} (NEW, INACTIVE), {@link #activate} (NEW, INACTIVE), {@link #reset}
 *       (ACTIVE): anything else throws {@link VirtioDeviceException} naming the call and the
 *       state.</li>
 *   <li>{@link #sleep}: NEW → ASLEEP_NEW, INACTIVE → ASLEEP_INACTIVE, ACTIVE → ASLEEP_ACTIVE with
 *       the queues as {@link #suspendBackend} returns them (each queue's next avail index);
 *       {@link #wake} reverses it, an empty list resuming the queues as sleep (or restore) left
 *       them.</li>
 *   <li>{@link #snapshot}/{@link #restore}, asleep states only. Layout (big-endian,
 *       {@link DataOutputStream}): {@code int magic; int version; long ackedFeatures;} then the
 *       subclass's fields ({@link #writeDeviceFields}), then {@code boolean wasActive;} then the
 *       queues as {@link VirtqueueStates} writes them (none unless asleep from ACTIVE). A restored
 *       device is ASLEEP_ACTIVE or ASLEEP_INACTIVE. Eventfds are not part of it.</li>
 * </ul>
 * Not thread-safe.
 *
 * @param <V> the vhost device type the subclass needs
 */
public abstract class VhostFrontendDevice<V extends VhostDevice> implements VirtioDevice {
    /** The vhost device underneath (constructed, not started); this front-end does not close it. */
    protected final V vhost;
    private final int[] queueMaxSizes;
    private final String name;
    private final int snapshotMagic;
    private final int snapshotVersion;
    private long ackedFeatures;
    private VirtioDeviceState state = VirtioDeviceState.NEW;
    private GuestMemory memory;
    private Interrupt interrupt;
    private volatile List<VirtqueueConfig> queues = List.of();

    /**
     * @param vhost the vhost device (not null)
     * @param queueMaxSizes per queue index, its largest size (kept, not copied)
     * @param name the device for messages ("virtio-blk")
     * @param snapshotMagic the first int of a snapshot
     * @param snapshotVersion the second int of a snapshot; only this version restores
     */
    protected VhostFrontendDevice(V vhost, int[] queueMaxSizes, String name, int snapshotMagic, int snapshotVersion) {
        this.vhost = Objects.requireNonNull(vhost, "vhost");
        this.queueMaxSizes = queueMaxSizes;
        this.name = name;
        this.snapshotMagic = snapshotMagic;
        this.snapshotVersion = snapshotVersion;
    }

    /** @return the vhost device underneath */
    public V vhost() {
        return vhost;
    }

    @Override
    public int[] queueMaxSizes() {
        return queueMaxSizes.clone();
    }

    /** @return the number of queues offered (the length of {@link #queueMaxSizes()}) */
    protected final int numQueues() {
        return queueMaxSizes.length;
    }

    /** @return the largest size of queue {@code index}, which must be in range */
    protected final int queueMaxSize(int index) {
        return queueMaxSizes[index];
    }

    /**
     * Keeps the offered subset of {@code features}; allowed in NEW and INACTIVE.
     *
     * @throws IllegalStateException in any other state
     */
    @Override
    public final void ackFeatures(long features) {
        if (state != VirtioDeviceState.NEW && state != VirtioDeviceState.INACTIVE) {
            throw new IllegalStateException("ackFeatures: not allowed in state " + state + " (NEW or INACTIVE only)");
        }
        ackedFeatures = features & features();
        featuresAcked(ackedFeatures);
    }

    @Override
    public final long ackedFeatures() {
        return ackedFeatures;
    }

    /**
     * Called with the acked features after {@link #ackFeatures} and after a {@link #restore}
     * (before the subclass's own fields are applied). Does nothing by default.
     */
    protected void featuresAcked(long features) {}

    /** @return the acked features to hand to the back-end; all of them by default */
    protected long backendAckedFeatures() {
        return ackedFeatures;
    }

    /**
     * Sends the acked features (as {@link #backendAckedFeatures}) and the memory table to the
     * backend ahead of {@link #activate} ({@link GenericVhostDevice#prepare}; other vhost devices
     * do it all in activate): a hot-swap does this while the old backend still serves. Only in
     * state NEW or INACTIVE.
     *
     * @throws VhostException from the backend, naming the request
     */
    public void prepare(GuestMemory memory) throws VhostException {
        require("prepare", VirtioDeviceState.NEW, VirtioDeviceState.INACTIVE);
        if (vhost instanceof GenericVhostDevice g) { // other VhostDevices set up in activate
            g.ackFeatures(backendAckedFeatures());
            g.prepare(memory);
        }
    }

    @Override
    public final void activate(GuestMemory memory, Interrupt interrupt, List<VirtqueueConfig> queues) throws VhostException {
        require("activate", VirtioDeviceState.NEW, VirtioDeviceState.INACTIVE);
        checkQueues(queues);
        startBackend(memory, interrupt, queues);
        this.memory = memory;
        this.interrupt = interrupt;
        this.queues = List.copyOf(queues);
        state = VirtioDeviceState.ACTIVE;
    }

    /**
     * Checks the queues given to {@link #activate} against the device's.
     *
     * @throws VirtioDeviceException naming the queue that does not fit
     */
    protected abstract void checkQueues(List<VirtqueueConfig> queues) throws VirtioDeviceException;

    /**
     * Checks the queues a {@link #wake} from ASLEEP_ACTIVE resumes; nothing by default.
     *
     * @throws VirtioDeviceException naming the queue that does not fit
     */
    protected void checkWakeQueues(List<VirtqueueConfig> queues) throws VirtioDeviceException {}

    /**
     * Starts the device's queues (at activation and at a wake from ASLEEP_ACTIVE): acks the
     * features to the back-end and starts it, plus whatever the subclass serves itself.
     *
     * @throws VhostException from the back-end; the device stays in the state it was in
     */
    protected abstract void startBackend(GuestMemory memory, Interrupt interrupt, List<VirtqueueConfig> queues)
            throws VhostException;

    /** Stops the started queues for a {@link #reset}. */
    protected abstract void stopBackend() throws VhostException;

    /** Called by {@link #reset} after the queues are dropped, before the state becomes INACTIVE. */
    protected void onReset() {}

    /**
     * Stops the started queues for a {@link #sleep}, keeping what the back-end can resume.
     *
     * @param queues the queues of the last activate/wake
     * @return the same queues, in the same order, each with its next avail index
     */
    protected abstract List<VirtqueueConfig> suspendBackend(List<VirtqueueConfig> queues) throws VhostException;

    /**
     * @param queues queues in the order the back-end's bases are
     * @param bases per queue, the back-end's next avail index (GET_VRING_BASE); only the low 16
     *     bits count
     * @return the queues with those next avail indices
     */
    protected static List<VirtqueueConfig> withNextAvail(List<VirtqueueConfig> queues, int[] bases) {
        List<VirtqueueConfig> out = new ArrayList<>(queues.size());
        for (int i = 0; i < queues.size(); i++) {
            out.add(queues.get(i).withNextAvail(bases[i] & 0xFFFF));
        }
        return out;
    }

    @Override
    public final void reset() throws VhostException {
        require("reset", VirtioDeviceState.ACTIVE);
        try {
            stopBackend();
        } finally {
            queues = List.of();
            onReset();
            state = VirtioDeviceState.INACTIVE;
        }
    }

    @Override
    public final List<VirtqueueConfig> sleep() throws VhostException {
        switch (state) {
            case NEW -> state = VirtioDeviceState.ASLEEP_NEW;
            case INACTIVE -> state = VirtioDeviceState.ASLEEP_INACTIVE;
            case ACTIVE -> {
                queues = List.copyOf(suspendBackend(queues));
                state = VirtioDeviceState.ASLEEP_ACTIVE;
                return queues;
            }
            default -> throw new VirtioDeviceException("sleep: not allowed in state " + state + " (already asleep)");
        }
        return List.of();
    }

    @Override
    public final void wake(List<VirtqueueConfig> queues) throws VhostException {
        switch (state) {
            case ASLEEP_NEW, ASLEEP_INACTIVE -> {
                if (!queues.isEmpty()) {
                    throw new VirtioDeviceException("wake: a device asleep from " + (state == VirtioDeviceState.ASLEEP_NEW ? "NEW" : "INACTIVE")
                            + " has no queues to resume, " + queues.size() + " given");
                }
                state = state == VirtioDeviceState.ASLEEP_NEW ? VirtioDeviceState.NEW : VirtioDeviceState.INACTIVE;
            }
            case ASLEEP_ACTIVE -> {
                if (memory == null) {
                    throw new VirtioDeviceException("wake: restored active device has no guest memory; activate it instead");
                }
                // An empty list resumes the queues as sleep returned (or restore set) them.
                List<VirtqueueConfig> resume = queues.isEmpty() ? this.queues : queues;
                if (resume.isEmpty()) {
                    throw new VirtioDeviceException("wake: an active device needs its queues");
                }
                checkWakeQueues(resume);
                startBackend(memory, interrupt, resume);
                this.queues = List.copyOf(resume);
                state = VirtioDeviceState.ACTIVE;
            }
            default -> throw new VirtioDeviceException("wake: not allowed in state " + state + " (not asleep)");
        }
    }

    /** Writes the subclass's snapshot fields, between the acked features and {@code wasActive}; none by default. */
    protected void writeDeviceFields(DataOutputStream out) throws IOException {}

    /**
     * Reads and checks what {@link #writeDeviceFields} wrote, changing nothing yet.
     *
     * @return what applies the fields once the whole snapshot has been read and checked
     * @throws VirtioDeviceException naming a field that is out of range
     * @throws IOException when the snapshot ends early
     */
    protected Runnable readDeviceFields(DataInputStream in) throws IOException {
        return () -> {};
    }

    /** @return the queues whose eventfds restored queues take over by index; none by default */
    protected List<VirtqueueConfig> restoreFdsFrom() {
        return List.of();
    }

    @Override
    public final byte[] snapshot() throws VhostException {
        if (!state.isAsleep()) {
            throw new VirtioDeviceException("snapshot: not allowed in state " + state + " (asleep states only)");
        }
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (DataOutputStream out = new DataOutputStream(bytes)) {
            out.writeInt(snapshotMagic);
            out.writeInt(snapshotVersion);
            out.writeLong(ackedFeatures);
            writeDeviceFields(out);
            out.writeBoolean(state == VirtioDeviceState.ASLEEP_ACTIVE);
            List<VirtqueueConfig> qs = state == VirtioDeviceState.ASLEEP_ACTIVE ? queues : List.of();
            VirtqueueStates.write(out, qs);
        } catch (IOException e) {
            throw new VirtioDeviceException("snapshot: " + e.getMessage(), e);
        }
        return bytes.toByteArray();
    }

    /**
     * Restores what {@link #snapshot} wrote; asleep states only.
     *
     * @throws VirtioDeviceException naming what is wrong: magic or version, features not offered,
     *     a field out of range, a bad queue, trailing bytes or truncation; the device is unchanged
     */
    @Override
    public final void restore(byte[] snapshot) throws VhostException {
        if (!state.isAsleep()) {
            throw new VirtioDeviceException("restore: not allowed in state " + state + " (asleep states only)");
        }
        SnapshotFrames.read(snapshot, in -> {
            int magic = in.readInt();
            int version = in.readInt();
            if (magic != snapshotMagic || version != snapshotVersion) {
                throw new VirtioDeviceException(String.format("restore: not a %s snapshot (magic 0x%x, version %d)", name, magic, version));
            }
            long features = in.readLong();
            if ((features & ~features()) != 0) {
                throw new VirtioDeviceException(String.format("restore: snapshot features 0x%x not all offered (offered 0x%x)", features, features()));
            }
            Runnable apply = readDeviceFields(in);
            boolean active = in.readBoolean();
            List<VirtqueueConfig> qs = VirtqueueStates.read(in, "restore", queueMaxSizes.length, restoreFdsFrom());
            SnapshotFrames.expectEnd(in, qs.size());
            ackedFeatures = features;
            featuresAcked(features);
            apply.run();
            queues = List.copyOf(qs);
            state = active ? VirtioDeviceState.ASLEEP_ACTIVE : VirtioDeviceState.ASLEEP_INACTIVE;
            return null;
        });
    }

    /** @return the queues of the last activate/wake/sleep/restore (fds as given; -1 after restore) */
    public List<VirtqueueConfig> queues() {
        return queues;
    }

    /**
     * Replaces the queues a {@link #sleep} suspends and an empty {@link #wake} resumes (a control
     * command changing which rings are enabled); may be called from another thread.
     */
    protected final void replaceQueues(List<VirtqueueConfig> queues) {
        this.queues = List.copyOf(queues);
    }

    /** @return the interrupt given at activation, or null */
    public Interrupt interrupt() {
        return interrupt;
    }

    @Override
    public final VirtioDeviceState state() {
        return state;
    }

    /**
     * @throws VirtioDeviceException naming {@code call}, the state and the allowed ones unless the
     *     device is in one of {@code allowed}
     */
    protected final void require(String call, VirtioDeviceState... allowed) throws VirtioDeviceException {
        for (VirtioDeviceState s : allowed) {
            if (s == state) {
                return;
            }
        }
        throw new VirtioDeviceException(call + ": not allowed in state " + state + " (allowed: " + Arrays.toString(allowed) + ")");
    }
}
