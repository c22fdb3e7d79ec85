package com.vhost.devices.net.driver;

import com.vhost.api.VhostDevice;
import com.vhost.api.VhostException;
import com.vhost.api.VirtioDeviceException;
import com.vhost.api.VirtqueueException;
import com.vhost.api.net.VirtioNet;
import com.vhost.api.virtio.GuestMemory;
import com.vhost.api.virtio.Interrupt;
import com.vhost.api.virtio.VirtioDeviceState;
import com.vhost.api.virtio.VirtioDeviceType;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.api.virtio.VirtqueueConfig;
import com.vhost.spi.driver.VhostFrontendDevice;
import com.vhost.spi.virtqueue.DescriptorChain;
import com.vhost.spi.virtqueue.DeviceQueue;
import com.vhost.spi.backend.QueueWorker;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A virtio-net device whose data plane runs in a vhost back-end (QEMU {@code vhost-net} /
 * {@code vhost-user} net, DPDK {@code virtio_user}): a {@link VirtioDevice} that hands its
 * receive/transmit queues to a {@link VhostDevice} (the runtime's {@code GenericVhostDevice}) and runs the
 * control virtqueue itself; what differs between transports it asks of that device
 * ({@link VhostDevice#switchesRings}, {@link VhostDevice#readDeviceConfig}, {@link VhostDevice#suspend}).
 *
 * <ul>
 *   <li><b>Queues</b> ({@link #queueMaxSizes()}): rx0, tx0, ..., rx(n-1), tx(n-1), ctrl, with
 *       {@code n = maxPairs}. The back-end gets the {@code 2n} data queues; the control queue is
 *       served here by a {@link QueueWorker} on its kick eventfd through {@link NetControl}: MQ
 *       VQ_PAIRS_SET becomes SET_VRING_ENABLE of the pairs' rings (when protocol features are in
 *       force; on vhost-net it attaches or detaches the pairs' TAP queues), MAC ADDR_SET
 *       changes {@code mac} in the config space, RX modes are recorded.</li>
 *   <li><b>Features</b> ({@link #features()}): the back-end's features ∩ {@link #BACKEND_FEATURES},
 *       plus {@link #FRONTEND_FEATURES} (CTRL_VQ, CTRL_RX, CTRL_MAC_ADDR, MAC, STATUS) that this
 *       front-end provides; the latter are never acked to the back-end (as QEMU and DPDK do). No
 *       checksum or segmentation offloads are offered.</li>
 *   <li><b>Config</b> ({@link #readConfig}): read once from the back-end through GET_CONFIG when
 *       VHOST_USER_PROTOCOL_F_CONFIG is negotiated and it answers; MAC (with the back-end's
 *       VIRTIO_NET_F_MAC) and MTU (with VIRTIO_NET_F_MTU) come from there, else the given MAC and
 *       {@value VirtioNet#DEFAULT_MTU}. {@code status} is LINK_UP while the backend is connected;
 *       {@code max_virtqueue_pairs} is {@code maxPairs}.</li>
 * </ul>
 * A call in a state {@link VirtioDeviceState} does not allow throws {@link VirtioDeviceException}
 * ({@link #ackFeatures} throws {@link IllegalStateException}); the life cycle is
 * {@link VhostFrontendDevice}'s. Not thread-safe.
 */
public final class VirtioNetFrontend extends VhostFrontendDevice<VhostDevice> {
    private static final Logger LOG = LoggerFactory.getLogger(VirtioNetFrontend.class);

    /** Data-queue feature bits the driver uses and the back-end must agree to. */
    public static final long BACKEND_FEATURES = VirtioFeatures.bit(VirtioFeatures.F_VERSION_1)
            | VirtioFeatures.bit(VirtioFeatures.F_EVENT_IDX) | VirtioFeatures.bit(VirtioNet.F_MRG_RXBUF)
            | VirtioFeatures.bit(VirtioNet.F_MQ) | VirtioFeatures.bit(VirtioNet.F_MTU)
            | VirtioFeatures.bit(VirtioFeatures.F_RING_PACKED) | VirtioFeatures.bit(VirtioFeatures.F_IN_ORDER);
    /** Feature bits this front-end provides itself (control queue, config space). */
    public static final long FRONTEND_FEATURES = VirtioFeatures.bit(VirtioNet.F_CTRL_VQ)
            | VirtioFeatures.bit(VirtioNet.F_CTRL_RX) | VirtioFeatures.bit(VirtioNet.F_CTRL_MAC_ADDR)
            | VirtioFeatures.bit(VirtioNet.F_MAC) | VirtioFeatures.bit(VirtioNet.F_STATUS);
    /** Size of the control queue, descriptors. */
    public static final int CTRL_QUEUE_SIZE = 16;
    /** Longest control command accepted, bytes (a MAC table of about 680 entries). */
    public static final int CTRL_MAX_BYTES = 4096;
    private static final int SNAPSHOT_MAGIC = 0x766e6574; // "vnet"
    /**
     * 2: RX modes (promiscuous, all-multicast) after the MAC. Only this version restores (1 also
     * tags {@code AbstractNetModel} snapshots, which share the magic).
     */
    private static final int SNAPSHOT_VERSION = 2;

    private final int maxPairs;
    private final byte[] config = new byte[VirtioNet.CONFIG_SIZE];
    private final long backendOffered;
    private final NetControl control;
    private final MemorySegment ctrlScratch = Arena.ofAuto().allocate(CTRL_MAX_BYTES);
    private QueueWorker ctrlWorker;
    /** The chain the control queue's handler pops into (one per control queue). */
    private DescriptorChain ctrlChain;
    /** Where the control worker is kept across a sleep, or null: stopped and started with the queue. */
    private ControlWorkers ctrlWorkers;
    private volatile int activePairs = 1;
    private volatile boolean promiscuous;
    private volatile boolean allMulticast;

    /**
     * @param vhost the vhost device for {@code 2 × maxPairs} queues (constructed, not started);
     *     this front-end does not close it
     * @param maxPairs queue pairs offered, {@code 1 .. vhost.numQueues() / 2}
     * @param queueMaxSize largest data queue size, a power of two in 2..32768
     * @param mac the MAC address used when the back-end provides none, 6 bytes
     */
    public VirtioNetFrontend(VhostDevice vhost, int maxPairs, int queueMaxSize, byte[] mac) {
        super(vhost, queueSizes(vhost, maxPairs, queueMaxSize, mac), "virtio-net", SNAPSHOT_MAGIC, SNAPSHOT_VERSION);
        this.maxPairs = maxPairs;
        this.backendOffered = vhost.backendFeatures();
        ByteBuffer b = ByteBuffer.wrap(config).order(ByteOrder.LITTLE_ENDIAN);
        byte[] remote = backendConfig();
        b.put(VirtioNet.CFG_MAC, remote != null && VirtioFeatures.has(backendOffered, VirtioNet.F_MAC)
                ? Arrays.copyOfRange(remote, VirtioNet.CFG_MAC, VirtioNet.CFG_MAC + 6) : mac);
        int mtu = VirtioNet.DEFAULT_MTU;
        if (remote != null && VirtioFeatures.has(backendOffered, VirtioNet.F_MTU)) {
            int m = Short.toUnsignedInt(ByteBuffer.wrap(remote).order(ByteOrder.LITTLE_ENDIAN).getShort(VirtioNet.CFG_MTU));
            if (m >= 68) {
                mtu = m;
            }
        }
        b.putShort(VirtioNet.CFG_STATUS, (short) VirtioNet.S_LINK_UP);
        b.putShort(VirtioNet.CFG_MAX_VIRTQUEUE_PAIRS, (short) maxPairs);
        b.putShort(VirtioNet.CFG_MTU, (short) mtu);
        b.putInt(VirtioNet.CFG_SPEED, -1);
        b.put(VirtioNet.CFG_DUPLEX, (byte) 0xFF);
        this.control = new NetControl(new ControlTarget(), maxPairs);
    }

    /** @return per queue, its largest size: {@code 2 × maxPairs} data queues then the control queue */
    private static int[] queueSizes(VhostDevice vhost, int maxPairs, int queueMaxSize, byte[] mac) {
        Objects.requireNonNull(vhost, "vhost");
        if (maxPairs < 1 || 2 * maxPairs > vhost.numQueues()) {
            throw new IllegalArgumentException("queue pairs " + maxPairs + " outside 1.." + vhost.numQueues() / 2);
        }
        if (queueMaxSize < 2 || queueMaxSize > 32768 || Integer.bitCount(queueMaxSize) != 1) {
            throw new IllegalArgumentException("queue size " + queueMaxSize + " is not a power of two in 2..32768");
        }
        if (mac == null || mac.length != VirtioNet.MAC_BYTES) {
            throw new IllegalArgumentException("MAC must be 6 bytes");
        }
        int[] sizes = new int[2 * maxPairs + 1];
        Arrays.fill(sizes, queueMaxSize);
        sizes[2 * maxPairs] = CTRL_QUEUE_SIZE;
        return sizes;
    }

    /**
     * @return the back-end's config space, or null when it has none to give (vhost-net: the
     *     front-end owns MAC and status; vhost-user without CONFIG). Only mac, status,
     *     max_virtqueue_pairs and mtu (12 bytes) are taken from it, so a device whose config is
     *     shorter than ours (vdpa_sim_net: 24 bytes) is read that far only
     *     ({@link VhostDevice#readDeviceConfig}); the rest stays local.
     */
    private byte[] backendConfig() {
        try {
            return vhost.readDeviceConfig(VirtioNet.CONFIG_SIZE, VirtioNet.CFG_MTU + 2);
        } catch (VhostException | RuntimeException e) {
            LOG.debug("virtio-net on {}: GET_CONFIG not answered ({}); using local config", vhost.backend().describe(),
                    e.getMessage());
            return null;
        }
    }

    /** Applies accepted control commands. */
    private final class ControlTarget implements NetControl.Target {
        @Override
        public void setQueuePairs(int pairs) throws VhostException {
            // Where rings are switched one by one: vhost-user with protocol features
            // (SET_VRING_ENABLE), vhost-net (each pair's rings are attached to or detached from
            // their TAP queue, as QEMU's vhost_net_set_vq_index + tap_enable / tap_disable do on
            // VQ_PAIRS_SET).
            if (vhost.isStarted() && vhost.switchesRings()) {
                for (int p = 0; p < maxPairs; p++) {
                    boolean on = p < pairs;
                    vhost.setVringEnable(VirtioNet.rxQueue(p), on);
                    vhost.setVringEnable(VirtioNet.txQueue(p), on);
                }
            }
            activePairs = pairs;
            // The queues a sleep returns (and a wake resumes) carry the pairs enabled now.
            List<VirtqueueConfig> qs = queues();
            if (!qs.isEmpty()) {
                List<VirtqueueConfig> out = new ArrayList<>(qs.size());
                for (VirtqueueConfig q : qs) {
                    boolean data = q.index() < 2 * maxPairs;
                    boolean on = !data || q.index() / 2 < pairs;
                    out.add(q.enabled() == on ? q : new VirtqueueConfig(q.index(), q.size(), q.descAddr(), q.availAddr(),
                            q.usedAddr(), q.nextAvail(), q.kickFd(), q.callFd(), on));
                }
                replaceQueues(out);
            }
        }

        @Override
        public void setMac(byte[] mac) {
            synchronized (config) {
                System.arraycopy(mac, 0, config, VirtioNet.CFG_MAC, 6);
            }
        }

        @Override
        public void setRxMode(int command, boolean on) {
            if (command == VirtioNet.CTRL_RX_PROMISC) {
                promiscuous = on;
            } else if (command == VirtioNet.CTRL_RX_ALLMULTI) {
                allMulticast = on;
            }
        }

        @Override
        public void setMacTable(int unicast, int multicast) {
            LOG.debug("virtio-net: MAC table of {} unicast and {} multicast entries", unicast, multicast);
        }
    }

    /**
     * Takes over the control-queue state of {@code from}, the front-end of the backend a running
     * device is moving away from (hot-swap): the active queue pairs (VQ_PAIRS_SET), the RX modes
     * (PROMISC, ALLMULTI) and the MAC in the config space (ADDR_SET or the first backend's). They
     * are the driver's state, kept by this front-end rather than by the back-end, so replaying them
     * means starting the rings of the active pairs enabled: pass {@code enabled = pair <
     * activePairs()} in the queue configs given to {@link #activate}. Control counters start anew.
     *
     * @param from the previous front-end of the same device, with the same {@code maxPairs}
     * @throws IllegalStateException unless this front-end is NEW
     * @throws IllegalArgumentException when {@code from} has another number of pairs
     */
    public void adoptControlState(VirtioNetFrontend from) {
        if (state() != VirtioDeviceState.NEW) {
            throw new IllegalStateException("adoptControlState: not allowed in state " + state() + " (NEW only)");
        }
        if (from.maxPairs != maxPairs) {
            throw new IllegalArgumentException("adoptControlState: " + from.maxPairs + " pairs, this front-end has " + maxPairs);
        }
        activePairs = from.activePairs;
        promiscuous = from.promiscuous;
        allMulticast = from.allMulticast;
        byte[] mac = new byte[VirtioNet.MAC_BYTES];
        synchronized (from.config) {
            System.arraycopy(from.config, VirtioNet.CFG_MAC, mac, 0, mac.length);
        }
        synchronized (config) {
            System.arraycopy(mac, 0, config, VirtioNet.CFG_MAC, mac.length);
        }
    }

    /**
     * Keeps the control queue's worker in {@code workers} across a {@link #sleep} instead of
     * stopping it, for the next front-end of the same driver (a hot-swap) or this one's wake.
     * Call before {@link #activate}.
     */
    void useControlWorkers(ControlWorkers workers) {
        this.ctrlWorkers = workers;
    }

    /** @return the control queue's command processor (counters, last error) */
    public NetControl control() {
        return control;
    }

    /** @return queue pairs enabled by the last VQ_PAIRS_SET (1 before any) */
    public int activePairs() {
        return activePairs;
    }

    /** @return whether RX PROMISC was last set on */
    public boolean promiscuous() {
        return promiscuous;
    }

    /** @return whether RX ALLMULTI was last set on */
    public boolean allMulticast() {
        return allMulticast;
    }

    /** @return the queue pairs offered */
    public int maxPairs() {
        return maxPairs;
    }

    @Override
    public VirtioDeviceType deviceType() {
        return VirtioDeviceType.NET;
    }

    @Override
    public long features() {
        long f = (backendOffered & BACKEND_FEATURES) | FRONTEND_FEATURES;
        if (maxPairs == 1) {
            f &= ~VirtioFeatures.bit(VirtioNet.F_MQ);
        }
        return f;
    }

    /** Hands the acked (or restored) features to the control queue's command processor. */
    @Override
    protected void featuresAcked(long features) {
        control.setFeatures(features);
    }

    /** @return the acked features less those this front-end implements itself ({@link #FRONTEND_FEATURES}) */
    @Override
    protected long backendAckedFeatures() {
        return ackedFeatures() & ~FRONTEND_FEATURES;
    }

    /** Config space per {@link VirtioNet}{@code .CFG_*}; bytes past {@link VirtioNet#CONFIG_SIZE} read 0. */
    @Override
    public void readConfig(long offset, byte[] data) {
        if (offset < 0) {
            throw new IllegalArgumentException("config offset " + offset + " < 0");
        }
        synchronized (config) {
            int status = vhost.backend().isConnected() ? VirtioNet.S_LINK_UP : 0;
            config[VirtioNet.CFG_STATUS] = (byte) status;
            config[VirtioNet.CFG_STATUS + 1] = 0;
            for (int i = 0; i < data.length; i++) {
                long at = offset + i;
                data[i] = at < config.length ? config[(int) at] : 0;
            }
        }
    }

    /** virtio-net config space is read-only for the driver (VIRTIO 1.2, 5.1.4): writes are ignored. */
    @Override
    public void writeConfig(long offset, byte[] data) {
        LOG.debug("virtio-net: ignoring config write of {} bytes at {}", data.length, offset);
    }

    @Override
    protected void checkQueues(List<VirtqueueConfig> queues) throws VirtioDeviceException {
        for (VirtqueueConfig q : queues) {
            if (q.index() < 0 || q.index() >= numQueues() || q.size() > queueMaxSize(q.index())) {
                throw new VirtioDeviceException("activate: queue " + q.index() + " of size " + q.size() + " outside "
                        + numQueues() + " queues (data queues of at most " + queueMaxSize(0)
                        + ", control queue of at most " + CTRL_QUEUE_SIZE + ")");
            }
        }
    }

    /** The queues a wake resumes are checked as activate's are. */
    @Override
    protected void checkWakeQueues(List<VirtqueueConfig> queues) throws VirtioDeviceException {
        checkQueues(queues);
    }

    /**
     * Starts the data queues on the back-end (features less {@link #FRONTEND_FEATURES}) and the
     * control queue's worker here.
     *
     * @throws VirtioDeviceException when the control queue is given without VIRTIO_NET_F_CTRL_VQ acked
     */
    @Override
    protected void startBackend(GuestMemory memory, Interrupt interrupt, List<VirtqueueConfig> queues) throws VhostException {
        int ctrlIndex = VirtioNet.ctrlQueue(maxPairs);
        List<VirtqueueConfig> data = new ArrayList<>();
        VirtqueueConfig ctrl = null;
        for (VirtqueueConfig q : queues) {
            if (q.index() == ctrlIndex) {
                ctrl = q;
            } else {
                data.add(q);
            }
        }
        long ackedFeatures = ackedFeatures();
        if (ctrl != null && !VirtioFeatures.has(ackedFeatures, VirtioNet.F_CTRL_VQ)) {
            throw new VirtioDeviceException("activate: control queue " + ctrlIndex + " given without VIRTIO_NET_F_CTRL_VQ acked");
        }
        vhost.ackFeatures(ackedFeatures & ~FRONTEND_FEATURES);
        QueueWorker w = null;
        DeviceQueue cq = null;
        if (ctrl != null) {
            // The control queue never reaches the back-end: both of its sides are in this process and split.
            cq = new DeviceQueue(memory, ctrl, ackedFeatures
                    & ~(VirtioFeatures.bit(VirtioFeatures.F_INDIRECT_DESC) | VirtioFeatures.bit(VirtioFeatures.F_RING_PACKED)));
            ctrlChain = cq.newChain();
            if (ctrlWorkers == null) {
                w = new QueueWorker("vhost-net-ctrl", List.of(cq), (i, q) -> serveControl(q), interrupt);
            }
        }
        if (!data.isEmpty()) {
            vhost.start(memory, data);
        }
        if (cq != null) {
            try {
                if (w != null) {
                    w.start();
                } else {
                    w = ctrlWorkers.serve(this, cq, interrupt); // the idle worker of the previous front-end, if any
                }
            } catch (VhostException e) {
                if (vhost.isStarted()) {
                    vhost.stop();
                }
                throw e;
            }
        }
        ctrlWorker = w;
    }

    /** Control queue handler: each chain is a command (readable) and an ack byte (writable). */
    void serveControl(DeviceQueue q) throws VirtqueueException {
        DescriptorChain c = ctrlChain;
        while (q.pop(c)) {
            if (c.writableBytes() < 1) {
                throw new VirtqueueException(q.index(), "control command at head " + c.head() + " has no writable ack byte");
            }
            long len = c.readableBytes();
            int ack;
            if (len > CTRL_MAX_BYTES) {
                control.execute(ctrlScratch, 0); // counted as malformed
                ack = VirtioNet.CTRL_ERR;
            } else {
                c.copyReadable(0, ctrlScratch, 0, len);
                ack = control.execute(ctrlScratch, len);
            }
            c.writeByte(0, (byte) ack);
            q.addUsed(c.head(), 1);
        }
    }

    @Override
    protected void stopBackend() throws VhostException {
        QueueWorker w = ctrlWorker;
        ctrlWorker = null;
        if (w != null) {
            w.stop(5000);
        }
        if (vhost.isStarted()) {
            vhost.stop();
        }
    }

    /** A reset disables all pairs but the first, as a device fresh from NEW has them. */
    @Override
    protected void onReset() {
        activePairs = 1;
    }

    /** The control queue's next avail index is its worker's; the data queues' are the back-end's. */
    @Override
    protected List<VirtqueueConfig> suspendBackend(List<VirtqueueConfig> queues) throws VhostException {
        QueueWorker w = ctrlWorker;
        int ctrlNext = -1;
        if (w != null) {
            ctrlWorker = null;
            if (ctrlWorkers != null) {
                DeviceQueue q = ctrlWorkers.park(w, VirtioNet.ctrlQueue(maxPairs));
                ctrlNext = q != null ? q.nextAvail() : -1;
            } else {
                w.stop(5000);
                ctrlNext = w.queues().get(0).nextAvail();
            }
        }
        int[] bases = vhost.isStarted() ? vhost.suspend() : new int[0];
        List<VirtqueueConfig> out = new ArrayList<>(queues.size());
        int k = 0;
        for (VirtqueueConfig q : queues) {
            if (q.index() == VirtioNet.ctrlQueue(maxPairs)) {
                out.add(q.withNextAvail(ctrlNext));
            } else {
                out.add(q.withNextAvail(bases[k++] & 0xFFFF));
            }
        }
        return out;
    }

    /**
     * Snapshot layout (big-endian): {@code int magic "vnet"; int version 2; long ackedFeatures;
     * int activePairs; byte[6] mac; boolean promiscuous, allMulticast; boolean wasActive; int
     * nQueues;} then per queue {@code int index, size; long desc, avail, used; int nextAvail;
     * boolean enabled}. Eventfds are not part of it. This writes the fields from activePairs to
     * allMulticast; {@link VhostFrontendDevice#snapshot} the rest.
     */
    @Override
    protected void writeDeviceFields(DataOutputStream out) throws IOException {
        out.writeInt(activePairs);
        synchronized (config) {
            out.write(config, VirtioNet.CFG_MAC, 6);
        }
        out.writeBoolean(promiscuous);
        out.writeBoolean(allMulticast);
    }

    /** @throws VirtioDeviceException when the active pairs are outside 1..maxPairs */
    @Override
    protected Runnable readDeviceFields(DataInputStream in) throws IOException {
        int pairs = in.readInt();
        if (pairs < 1 || pairs > maxPairs) {
            throw new VirtioDeviceException("restore: snapshot has " + pairs + " active pairs, device has " + maxPairs);
        }
        byte[] mac = new byte[6];
        in.readFully(mac);
        boolean promisc = in.readBoolean();
        boolean allMulti = in.readBoolean();
        return () -> {
            activePairs = pairs;
            promiscuous = promisc;
            allMulticast = allMulti;
            synchronized (config) {
                System.arraycopy(mac, 0, config, VirtioNet.CFG_MAC, 6);
            }
        };
    }

    /** Restored queues keep the eventfds of the queues they replace. */
    @Override
    protected List<VirtqueueConfig> restoreFdsFrom() {
        return queues();
    }
}
