package com.vhost.devices.blk.driver;

import com.vhost.api.VhostDevice;
import com.vhost.api.VhostException;
import com.vhost.api.VirtioDeviceException;
import com.vhost.api.blk.VirtioBlk;
import com.vhost.api.virtio.GuestMemory;
import com.vhost.api.virtio.Interrupt;
import com.vhost.api.virtio.VirtioDevice;
import com.vhost.api.virtio.VirtioDeviceState;
import com.vhost.api.virtio.VirtioDeviceType;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.api.virtio.VirtqueueConfig;
import com.vhost.runtime.vhost.GenericVhostDevice;
import com.vhost.runtime.virtqueue.VirtqueueStates;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * A virtio-blk device whose data plane runs in a vhost back-end (crosvm
 * {@code vhost_user_frontend}, QEMU {@code vhost-user-blk.c}): a {@link VirtioDevice} that hands
 * its queues to a {@link VhostDevice}.
 *
 * <ul>
 *   <li>{@link #features()}: the back-end's features ∩ {@link #DRIVER_FEATURES} (what this
 *       platform's driver handles).</li>
 *   <li>{@link #readConfig}: virtio-blk config space (VIRTIO 1.2, 5.2.4) read through
 *       {@link VhostDevice#getConfig} (vhost-user GET_CONFIG).</li>
 *   <li>{@link #activate}: acks the features to the vhost device and starts it
 *       ({@link VhostDevice#start}); {@link #sleep} stops it ({@link GenericVhostDevice#suspend}:
 *       a vDPA device with SUSPEND and RESUME stays suspended, not reset) and returns the queues
 *       with the back-end's next avail index (GET_VRING_BASE); {@link #wake} starts it again with
 *       them (a suspended vDPA device unchanged since then is resumed).</li>
 *   <li>{@link #snapshot}: acked features, the state slept from, and the queue states.</li>
 * </ul>
 * A call in a state {@link VirtioDeviceState} does not allow throws {@link VirtioDeviceException}
 * naming the call and the state ({@link #ackFeatures}, which cannot throw a checked exception,
 * throws {@link IllegalStateException}). Not thread-safe.
 */
public final class VirtioBlkFrontend implements VirtioDevice {
    /** Feature bits the platform's virtio-blk driver handles. */
    public static final long DRIVER_FEATURES = VirtioFeatures.bit(VirtioFeatures.F_VERSION_1)
            | VirtioFeatures.bit(VirtioFeatures.F_INDIRECT_DESC) | VirtioFeatures.bit(VirtioFeatures.F_EVENT_IDX)
            | VirtioFeatures.bit(VirtioBlk.F_SEG_MAX) | VirtioFeatures.bit(VirtioBlk.F_SIZE_MAX)
            | VirtioFeatures.bit(VirtioBlk.F_BLK_SIZE) | VirtioFeatures.bit(VirtioBlk.F_FLUSH)
            | VirtioFeatures.bit(VirtioBlk.F_MQ) | VirtioFeatures.bit(VirtioBlk.F_DISCARD)
            | VirtioFeatures.bit(VirtioBlk.F_WRITE_ZEROES) | VirtioFeatures.bit(VirtioBlk.F_RO);

    private static final int SNAPSHOT_MAGIC = 0x76626c6b; // "vblk"
    private static final int SNAPSHOT_VERSION = 1;

    private final VhostDevice vhost;
    private final int[] queueMaxSizes;
    private long ackedFeatures;
    private VirtioDeviceState state = VirtioDeviceState.NEW;
    private GuestMemory memory;
    private Interrupt interrupt;
    private List<VirtqueueConfig> queues = List.of();

    /**
     * @param vhost the vhost device (constructed, not started); this front-end does not close it
     * @param numQueues request queues offered to the driver
     * @param queueMaxSize largest queue size, a power of two in 1..32768
     */
    public VirtioBlkFrontend(VhostDevice vhost, int numQueues, int queueMaxSize) {
        this.vhost = Objects.requireNonNull(vhost, "vhost");
        if (numQueues < 1 || numQueues > vhost.numQueues()) {
            throw new IllegalArgumentException("numQueues " + numQueues + " outside 1.." + vhost.numQueues());
        }
        if (queueMaxSize < 1 || queueMaxSize > 32768 || Integer.bitCount(queueMaxSize) != 1) {
            throw new IllegalArgumentException("queue size " + queueMaxSize + " is not a power of two in 1..32768");
        }
        this.queueMaxSizes = new int[numQueues];
        Arrays.fill(queueMaxSizes, queueMaxSize);
    }

    /** @return the vhost device underneath */
    public VhostDevice vhost() {
        return vhost;
    }

    @Override
    public VirtioDeviceType deviceType() {
        return VirtioDeviceType.BLOCK;
    }

    @Override
    public int[] queueMaxSizes() {
        return queueMaxSizes.clone();
    }

    @Override
    public long features() {
        return vhost.backendFeatures() & DRIVER_FEATURES;
    }

    /**
     * Keeps the offered subset of {@code features}; allowed in NEW and INACTIVE.
     *
     * @throws IllegalStateException in any other state
     */
    @Override
    public void ackFeatures(long features) {
        if (state != VirtioDeviceState.NEW && state != VirtioDeviceState.INACTIVE) {
            throw new IllegalStateException("ackFeatures: not allowed in state " + state + " (NEW or INACTIVE only)");
        }
        ackedFeatures = features & features();
    }

    @Override
    public long ackedFeatures() {
        return ackedFeatures;
    }

    /**
     * Reads the virtio-blk config space ({@link VirtioBlk#CONFIG_SIZE} bytes) through the vhost
     * device; bytes past it read as 0.
     *
     * @throws UncheckedIOException wrapping the {@link VhostException} when the back-end fails
     */
    @Override
    public void readConfig(long offset, byte[] data) {
        if (offset < 0) {
            throw new IllegalArgumentException("config offset " + offset + " < 0");
        }
        Arrays.fill(data, (byte) 0);
        if (offset >= VirtioBlk.CONFIG_SIZE) {
            return;
        }
        byte[] cfg;
        try {
            cfg = vhost.getConfig(VirtioBlk.CONFIG_SIZE);
        } catch (VhostException e) {
            throw new UncheckedIOException("virtio-blk config read at offset " + offset + ": " + e.getMessage(), e);
        }
        int n = (int) Math.min(data.length, VirtioBlk.CONFIG_SIZE - offset);
        System.arraycopy(cfg, (int) offset, data, 0, n);
    }

    /**
     * Writes config space; only {@code writeback} (offset 32, one byte, with CONFIG_WCE) is
     * writable in virtio-blk, so other bytes are ignored.
     */
    @Override
    public void writeConfig(long offset, byte[] data) {
        if (offset == VirtioBlk.CFG_WRITEBACK && data.length == 1
                && VirtioFeatures.has(vhost.backendFeatures(), VirtioBlk.F_CONFIG_WCE)) {
            try {
                vhost.setConfig(VirtioBlk.CFG_WRITEBACK, data.clone());
            } catch (VhostException e) {
                throw new UncheckedIOException("virtio-blk config write of writeback: " + e.getMessage(), e);
            }
        }
    }

    /**
     * Sends the acked features and the memory table to the backend ahead of {@link #activate}
     * ({@link com.vhost.runtime.vhost.GenericVhostDevice#prepare}; other vhost devices do it all
     * in activate): a hot-swap does this while the old backend still serves. Only in state NEW
     * or INACTIVE.
     *
     * @throws VhostException from the backend, naming the request
     */
    public void prepare(GuestMemory memory) throws VhostException {
        require("prepare", VirtioDeviceState.NEW, VirtioDeviceState.INACTIVE);
        if (vhost instanceof com.vhost.runtime.vhost.GenericVhostDevice g) { // other VhostDevices set up in activate
            g.ackFeatures(ackedFeatures);
            g.prepare(memory);
        }
    }

    @Override
    public void activate(GuestMemory memory, Interrupt interrupt, List<VirtqueueConfig> queues) throws VhostException {
        require("activate", VirtioDeviceState.NEW, VirtioDeviceState.INACTIVE);
        for (VirtqueueConfig q : queues) {
            if (q.index() >= queueMaxSizes.length || q.size() > queueMaxSizes[Math.max(0, q.index())]) {
                throw new VirtioDeviceException("activate: queue " + q.index() + " of size " + q.size()
                        + " outside " + queueMaxSizes.length + " queues of at most " + queueMaxSizes[0]);
            }
        }
        vhost.ackFeatures(ackedFeatures);
        vhost.start(memory, queues);
        this.memory = memory;
        this.interrupt = interrupt;
        this.queues = List.copyOf(queues);
        state = VirtioDeviceState.ACTIVE;
    }

    @Override
    public void reset() throws VhostException {
        require("reset", VirtioDeviceState.ACTIVE);
        try {
            vhost.stop();
        } finally {
            queues = List.of();
            state = VirtioDeviceState.INACTIVE;
        }
    }

    @Override
    public List<VirtqueueConfig> sleep() throws VhostException {
        switch (state) {
            case NEW -> state = VirtioDeviceState.ASLEEP_NEW;
            case INACTIVE -> state = VirtioDeviceState.ASLEEP_INACTIVE;
            case ACTIVE -> {
                // a GenericVhostDevice keeps a vDPA device suspended for a RESUME at wake
                int[] bases = vhost instanceof GenericVhostDevice g ? g.suspend() : vhost.stop();
                List<VirtqueueConfig> out = new ArrayList<>(queues.size());
                for (int i = 0; i < queues.size(); i++) {
                    out.add(queues.get(i).withNextAvail(bases[i] & 0xFFFF));
                }
                queues = List.copyOf(out);
                state = VirtioDeviceState.ASLEEP_ACTIVE;
                return queues;
            }
            default -> throw new VirtioDeviceException("sleep: not allowed in state " + state + " (already asleep)");
        }
        return List.of();
    }

    @Override
    public void wake(List<VirtqueueConfig> queues) throws VhostException {
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
                vhost.ackFeatures(ackedFeatures);
                vhost.start(memory, resume);
                this.queues = List.copyOf(resume);
                state = VirtioDeviceState.ACTIVE;
            }
            default -> throw new VirtioDeviceException("wake: not allowed in state " + state + " (not asleep)");
        }
    }

    /**
     * Snapshot layout (big-endian, {@link DataOutputStream}): {@code int magic "vblk"; int version 1;
     * long ackedFeatures; boolean wasActive; int nQueues;} then per queue {@code int index, size;
     * long desc, avail, used; int nextAvail; boolean enabled}. Eventfds are not part of it.
     */
    @Override
    public byte[] snapshot() throws VhostException {
        if (!state.isAsleep()) {
            throw new VirtioDeviceException("snapshot: not allowed in state " + state + " (asleep states only)");
        }
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (DataOutputStream out = new DataOutputStream(bytes)) {
            out.writeInt(SNAPSHOT_MAGIC);
            out.writeInt(SNAPSHOT_VERSION);
            out.writeLong(ackedFeatures);
            out.writeBoolean(state == VirtioDeviceState.ASLEEP_ACTIVE);
            List<VirtqueueConfig> qs = state == VirtioDeviceState.ASLEEP_ACTIVE ? queues : List.of();
            VirtqueueStates.write(out, qs);
        } catch (IOException e) {
            throw new VirtioDeviceException("snapshot: " + e.getMessage(), e);
        }
        return bytes.toByteArray();
    }

    @Override
    public void restore(byte[] snapshot) throws VhostException {
        if (!state.isAsleep()) {
            throw new VirtioDeviceException("restore: not allowed in state " + state + " (asleep states only)");
        }
        try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(snapshot))) {
            int magic = in.readInt();
            int version = in.readInt();
            if (magic != SNAPSHOT_MAGIC || version != SNAPSHOT_VERSION) {
                throw new VirtioDeviceException(String.format("restore: not a virtio-blk snapshot (magic 0x%x, version %d)", magic, version));
            }
            long features = in.readLong();
            if ((features & ~features()) != 0) {
                throw new VirtioDeviceException(String.format("restore: snapshot features 0x%x not all offered (offered 0x%x)", features, features()));
            }
            boolean active = in.readBoolean();
            List<VirtqueueConfig> qs = VirtqueueStates.read(in, "restore", queueMaxSizes.length, List.of());
            if (in.read() != -1) {
                throw new VirtioDeviceException("restore: trailing bytes after " + qs.size() + " queues");
            }
            ackedFeatures = features;
            queues = List.copyOf(qs);
            state = active ? VirtioDeviceState.ASLEEP_ACTIVE : VirtioDeviceState.ASLEEP_INACTIVE;
        } catch (IOException e) {
            if (e instanceof VirtioDeviceException v) {
                throw v;
            }
            throw new VirtioDeviceException("restore: truncated snapshot of " + snapshot.length + " bytes", e);
        }
    }

    /** @return the queues of the last activate/wake/restore (fds as given; -1 after restore) */
    public List<VirtqueueConfig> queues() {
        return queues;
    }

    /** @return the interrupt given at activation, or null */
    public Interrupt interrupt() {
        return interrupt;
    }

    @Override
    public VirtioDeviceState state() {
        return state;
    }

    private void require(String call, VirtioDeviceState... allowed) throws VirtioDeviceException {
        for (VirtioDeviceState s : allowed) {
            if (s == state) {
                return;
            }
        }
        throw new VirtioDeviceException(call + ": not allowed in state " + state + " (allowed: " + Arrays.toString(allowed) + ")");
    }
}
