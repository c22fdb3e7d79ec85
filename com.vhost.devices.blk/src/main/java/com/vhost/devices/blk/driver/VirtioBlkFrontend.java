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
import com.vhost.spi.driver.VhostFrontendDevice;
import java.io.UncheckedIOException;
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
 *       ({@link VhostDevice#start}); {@link #sleep} stops it ({@link VhostDevice#suspend}:
 *       a vDPA device with SUSPEND and RESUME stays suspended, not reset) and returns the queues
 *       with the back-end's next avail index (GET_VRING_BASE); {@link #wake} starts it again with
 *       them (a suspended vDPA device unchanged since then is resumed).</li>
 *   <li>{@link #snapshot}: acked features, the state slept from, and the queue states. Layout
 *       (big-endian, {@link java.io.DataOutputStream}): {@code int magic "vblk"; int version 1;
 *       long ackedFeatures; boolean wasActive; int nQueues;} then per queue {@code int index,
 *       size; long desc, avail, used; int nextAvail; boolean enabled}. Eventfds are not part of
 *       it.</li>
 * </ul>
 * A call in a state {@link VirtioDeviceState} does not allow throws {@link VirtioDeviceException}
 * naming the call and the state ({@link #ackFeatures}, which cannot throw a checked exception,
 * throws {@link IllegalStateException}); the life cycle is {@link VhostFrontendDevice}'s. Not
 * thread-safe.
 */
public final class VirtioBlkFrontend extends VhostFrontendDevice<VhostDevice> {
    /** Feature bits the platform's virtio-blk driver handles. */
    public static final long DRIVER_FEATURES = VirtioFeatures.bit(VirtioFeatures.F_VERSION_1)
            | VirtioFeatures.bit(VirtioFeatures.F_INDIRECT_DESC) | VirtioFeatures.bit(VirtioFeatures.F_EVENT_IDX)
            | VirtioFeatures.bit(VirtioFeatures.F_RING_PACKED) | VirtioFeatures.bit(VirtioFeatures.F_IN_ORDER)
            | VirtioFeatures.bit(VirtioBlk.F_SEG_MAX) | VirtioFeatures.bit(VirtioBlk.F_SIZE_MAX)
            | VirtioFeatures.bit(VirtioBlk.F_BLK_SIZE) | VirtioFeatures.bit(VirtioBlk.F_FLUSH)
            | VirtioFeatures.bit(VirtioBlk.F_MQ) | VirtioFeatures.bit(VirtioBlk.F_DISCARD)
            | VirtioFeatures.bit(VirtioBlk.F_WRITE_ZEROES) | VirtioFeatures.bit(VirtioBlk.F_RO);

    private static final int SNAPSHOT_MAGIC = 0x76626c6b; // "vblk"
    private static final int SNAPSHOT_VERSION = 1;

    /**
     * @param vhost the vhost device (constructed, not started); this front-end does not close it
     * @param numQueues request queues offered to the driver
     * @param queueMaxSize largest queue size, a power of two in 1..32768
     */
    public VirtioBlkFrontend(VhostDevice vhost, int numQueues, int queueMaxSize) {
        super(vhost, queueSizes(vhost, numQueues, queueMaxSize), "virtio-blk", SNAPSHOT_MAGIC, SNAPSHOT_VERSION);
    }

    private static int[] queueSizes(VhostDevice vhost, int numQueues, int queueMaxSize) {
        Objects.requireNonNull(vhost, "vhost");
        if (numQueues < 1 || numQueues > vhost.numQueues()) {
            throw new IllegalArgumentException("numQueues " + numQueues + " outside 1.." + vhost.numQueues());
        }
        if (queueMaxSize < 1 || queueMaxSize > 32768 || Integer.bitCount(queueMaxSize) != 1) {
            throw new IllegalArgumentException("queue size " + queueMaxSize + " is not a power of two in 1..32768");
        }
        int[] sizes = new int[numQueues];
        Arrays.fill(sizes, queueMaxSize);
        return sizes;
    }

    @Override
    public VirtioDeviceType deviceType() {
        return VirtioDeviceType.BLOCK;
    }

    @Override
    public long features() {
        return vhost.backendFeatures() & DRIVER_FEATURES;
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

    @Override
    protected void checkQueues(List<VirtqueueConfig> queues) throws VirtioDeviceException {
        for (VirtqueueConfig q : queues) {
            if (q.index() >= numQueues() || q.size() > queueMaxSize(Math.max(0, q.index()))) {
                throw new VirtioDeviceException("activate: queue " + q.index() + " of size " + q.size()
                        + " outside " + numQueues() + " queues of at most " + queueMaxSize(0));
            }
        }
    }

    @Override
    protected void startBackend(GuestMemory memory, Interrupt interrupt, List<VirtqueueConfig> queues) throws VhostException {
        vhost.ackFeatures(ackedFeatures());
        vhost.start(memory, queues);
    }

    @Override
    protected void stopBackend() throws VhostException {
        vhost.stop();
    }

    @Override
    protected List<VirtqueueConfig> suspendBackend(List<VirtqueueConfig> queues) throws VhostException {
        // a device that can suspend (vDPA with SUSPEND and RESUME) is kept suspended for a RESUME at wake
        int[] bases = vhost.suspend();
        return withNextAvail(queues, bases);
    }
}
