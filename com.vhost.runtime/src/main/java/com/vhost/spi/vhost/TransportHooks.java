package com.vhost.spi.vhost;

import static com.vhost.spi.vhost.RequestContext.call;
import static com.vhost.spi.vhost.RequestContext.callLong;

import com.vhost.api.ConfigSpaceBackend;
import com.vhost.api.VhostBackend;
import com.vhost.api.VhostException;
import com.vhost.api.VhostFeatureException;
import com.vhost.api.VhostFeatures;
import com.vhost.api.VringAddr;
import com.vhost.api.VringEnableBackend;
import com.vhost.api.user.VhostUserBackend;
import com.vhost.api.user.VhostUserProtocolFeature;
import com.vhost.api.vdpa.VhostVdpaBackend;
import com.vhost.api.virtio.DeviceStatus;
import com.vhost.api.virtio.GuestMemory;
import com.vhost.api.virtio.SplitVirtqueueLayout;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.api.virtio.VirtqueueConfig;

/**
 * What differs between transports inside {@link GenericVhostDevice}, as hooks at the points where
 * QEMU's {@code hw/virtio/vhost.c} calls an optional {@code VhostOps} hook
 * ({@code include/hw/virtio/vhost-backend.h}: {@code vhost_backend_init}, {@code vhost_set_features},
 * {@code vhost_vq_get_addr}, {@code vhost_set_vring_enable}, {@code vhost_dev_start},
 * {@code vhost_reset_status}). One instance per device, chosen once by {@link #of} from the API
 * extension the backend implements ({@link VhostUserBackend}, {@link VhostVdpaBackend}); any other
 * backend (vhost-kernel) gets {@link Plain}, which asks only capability interfaces. The device
 * itself never looks at a transport type. Each hook names its request in failures as the device
 * does ("SET_STATUS(FEATURES_OK): ...").
 */
abstract sealed class TransportHooks permits TransportHooks.User, TransportHooks.Vdpa, TransportHooks.Plain {
    private static final long PROTOCOL_FEATURES_BIT = VhostFeatures.bit(VhostFeatures.F_PROTOCOL_FEATURES);
    private static final int ACK_DRIVER = DeviceStatus.mask(DeviceStatus.ACKNOWLEDGE, DeviceStatus.DRIVER);
    private static final int FEATURES_OK = DeviceStatus.mask(DeviceStatus.ACKNOWLEDGE, DeviceStatus.DRIVER, DeviceStatus.FEATURES_OK);

    /** vhost-user protocol features, or vhost-vdpa backend features, in force (0: none). */
    long protocolFeatures;
    /** vhost-user GET_QUEUE_NUM, or -1 when not asked. */
    int queueNum = -1;

    /** @return the hooks for {@code backend}'s transport */
    static TransportHooks of(VhostBackend backend) {
        if (backend instanceof VhostUserBackend u) {
            return new User(u);
        }
        if (backend instanceof VhostVdpaBackend v) {
            return new Vdpa(v);
        }
        return new Plain(backend);
    }

    /**
     * {@code vhost_backend_init}: negotiation after SET_OWNER and GET_FEATURES; sets
     * {@link #protocolFeatures} and {@link #queueNum}.
     */
    abstract void init(long backendFeatures, int numQueues) throws VhostException;

    /** @return whether {@code VHOST_USER_F_PROTOCOL_FEATURES} is in force (vhost-user only) */
    boolean usesProtocolFeatures() {
        return false;
    }

    /** @return the feature bits SET_FEATURES sends for the driver's {@code acked} ones */
    long features(long acked, long backendFeatures) {
        return acked;
    }

    /** @return whether SET_FEATURES and SET_MEM_TABLE may be sent ahead of start ({@link GenericVhostDevice#prepare}) */
    boolean prepareAhead() {
        return true;
    }

    /** {@code vhost_set_features}' tail: runs right after SET_FEATURES at start. */
    void featuresSet(long features) throws VhostException {}

    /** {@code vhost_vq_get_addr}: the addresses SET_VRING_ADDR carries (front-end virtual by default). */
    VringAddr ringAddr(GuestMemory memory, VirtqueueConfig q) {
        return new VringAddr(q.index(), 0, memory.userAddrOfGuest(q.descAddr()), memory.userAddrOfGuest(q.usedAddr()),
                memory.userAddrOfGuest(q.availAddr()), q.usedAddr());
    }

    /**
     * @return the backend that sends the rings' start and stop requests in batches
     *     ({@link VhostUserBackend#pipeline}: vhost-user), or null to send them one by one
     *     (vhost-kernel and vhost-vdpa ioctls, in the order their hooks need)
     */
    VhostUserBackend batches() {
        return null;
    }

    /** @return whether every ring gets SET_VRING_ENABLE(its enabled flag) after the rings are set up */
    abstract boolean enablesAtStart();

    /**
     * @return whether started rings are switched one by one with SET_VRING_ENABLE (disabled at
     *     stop, and on a change of active queues)
     */
    abstract boolean switchesRings();

    /** SET_VRING_ENABLE through the backend's {@link VringEnableBackend} capability. */
    abstract void setVringEnable(int index, boolean enable) throws VhostException;

    /** {@code vhost_dev_start} hook: runs after the rings are enabled. */
    void started() throws VhostException {}

    /** Runs before the bases are read at stop (after any SET_VRING_ENABLE(0)). */
    void beforeReadBases() throws VhostException {}

    /** {@code vhost_reset_status}: runs at the end of a stop that does not keep the device suspended. */
    void stopped() throws VhostException {}

    /** @return whether a stop can keep the device suspended for a {@link #resume()} */
    boolean canResume() {
        return false;
    }

    /** Resumes a device left suspended; only called when {@link #canResume()}. */
    void resume() throws VhostException {
        throw new IllegalStateException("resume without canResume()");
    }

    /**
     * @param request names the request in the error
     * @return the config space to read or write
     * @throws VhostFeatureException when this backend has none (or did not negotiate it)
     */
    abstract ConfigSpaceBackend config(String request) throws VhostFeatureException;

    /**
     * @return bytes to read with GET_CONFIG for a driver that wants {@code wanted} bytes and needs
     *     the first {@code needed} of them, or -1 when there is no config space to read
     */
    int configReadLength(int wanted, int needed) {
        return wanted;
    }

    /** vhost-user (QEMU {@code hw/virtio/vhost-user.c}). */
    static final class User extends TransportHooks {
        private final VhostUserBackend backend;
        private boolean useProtocolFeatures;

        User(VhostUserBackend backend) {
            this.backend = backend;
        }

        @Override
        void init(long backendFeatures, int numQueues) throws VhostException {
            useProtocolFeatures = (backendFeatures & PROTOCOL_FEATURES_BIT) != 0;
            long proto = 0;
            if (useProtocolFeatures) {
                long offered = callLong("GET_PROTOCOL_FEATURES", -1, backend::getProtocolFeatures);
                proto = offered & GenericVhostDevice.WANTED_PROTOCOL_FEATURES;
                long p = proto;
                call("SET_PROTOCOL_FEATURES", -1, () -> backend.setProtocolFeatures(p));
                if (VhostUserProtocolFeature.MQ.in(proto)) {
                    queueNum = (int) callLong("GET_QUEUE_NUM", -1, backend::getQueueNum);
                    if (queueNum < numQueues) {
                        throw new VhostFeatureException("GET_QUEUE_NUM: back-end " + backend.describe() + " supports "
                                + queueNum + " queues, " + numQueues + " wanted (vhost-user does not name the device"
                                + " type: is it a back-end of another type, e.g. a virtio-blk one with 1 queue for a"
                                + " virtio-net driver, which needs a receive and a transmit queue?)");
                    }
                }
            }
            if (numQueues > 1 && !VhostUserProtocolFeature.MQ.in(proto)) {
                throw new VhostFeatureException("back-end " + backend.describe() + " does not offer VHOST_USER_PROTOCOL_F_MQ, "
                        + numQueues + " queues wanted");
            }
            protocolFeatures = proto;
        }

        @Override
        boolean usesProtocolFeatures() {
            return useProtocolFeatures;
        }

        @Override
        VhostUserBackend batches() {
            return backend;
        }

        @Override
        long features(long acked, long backendFeatures) {
            return acked | (useProtocolFeatures ? PROTOCOL_FEATURES_BIT : 0);
        }

        /** With PROTOCOL_FEATURES rings start disabled; without it the back-end enables them all. */
        @Override
        boolean enablesAtStart() {
            return useProtocolFeatures;
        }

        @Override
        boolean switchesRings() {
            return useProtocolFeatures;
        }

        @Override
        void setVringEnable(int index, boolean enable) throws VhostException {
            backend.setVringEnable(index, enable);
        }

        @Override
        ConfigSpaceBackend config(String request) throws VhostFeatureException {
            if (!VhostUserProtocolFeature.CONFIG.in(protocolFeatures)) {
                throw new VhostFeatureException(request + ": back-end " + backend.describe()
                        + " did not negotiate VHOST_USER_PROTOCOL_F_CONFIG");
            }
            return backend;
        }

        @Override
        int configReadLength(int wanted, int needed) {
            return VhostUserProtocolFeature.CONFIG.in(protocolFeatures) ? wanted : -1;
        }
    }

    /** vhost-vdpa (QEMU {@code hw/virtio/vhost-vdpa.c}). */
    static final class Vdpa extends TransportHooks {
        private final VhostVdpaBackend backend;

        Vdpa(VhostVdpaBackend backend) {
            this.backend = backend;
        }

        /** QEMU vhost_vdpa_init: backend features for the IOTLB (messages v2, batching), then ACKNOWLEDGE | DRIVER. */
        @Override
        void init(long backendFeatures, int numQueues) throws VhostException {
            long offered = callLong("GET_BACKEND_FEATURES", -1, backend::getBackendFeatures);
            long wanted = offered & GenericVhostDevice.WANTED_VDPA_BACKEND_FEATURES;
            call("SET_BACKEND_FEATURES", -1, () -> backend.setBackendFeatures(wanted));
            call("SET_STATUS(ACKNOWLEDGE|DRIVER)", -1, () -> backend.setStatus(ACK_DRIVER));
            protocolFeatures = wanted;
        }

        /**
         * QEMU vhost_dev_set_features with vhost_vdpa_force_iommu: a vDPA device reaches memory
         * only through the IOTLB this front-end programs, so VIRTIO_F_ACCESS_PLATFORM is always
         * negotiated with it, whatever the driver acked (vdpa_sim refuses features without it).
         */
        @Override
        long features(long acked, long backendFeatures) {
            return acked | (backendFeatures & VhostFeatures.bit(VirtioFeatures.F_ACCESS_PLATFORM));
        }

        /** The status handshake must run in order inside start. */
        @Override
        boolean prepareAhead() {
            return false;
        }

        /** QEMU vhost_vdpa_set_features: FEATURES_OK, and the device must keep it. */
        @Override
        void featuresSet(long features) throws VhostException {
            call("SET_STATUS(FEATURES_OK)", -1, () -> backend.setStatus(FEATURES_OK));
            int st = (int) callLong("GET_STATUS", -1, backend::getStatus);
            if (!DeviceStatus.FEATURES_OK.in(st)) {
                throw new VhostFeatureException(String.format("vhost-vdpa %s cleared FEATURES_OK: features 0x%x not accepted (status 0x%x)",
                        backend.describe(), features, st));
            }
        }

        /** vhost-vdpa takes IOVAs, and this platform maps IOVA = guest-physical. */
        @Override
        VringAddr ringAddr(GuestMemory memory, VirtqueueConfig q) {
            if (!memory.contains(q.descAddr(), SplitVirtqueueLayout.descTableBytes(q.size()))
                    || !memory.contains(q.availAddr(), SplitVirtqueueLayout.availRingBytes(q.size()))
                    || !memory.contains(q.usedAddr(), SplitVirtqueueLayout.usedRingBytes(q.size()))) {
                throw new IndexOutOfBoundsException(String.format("desc 0x%x, avail 0x%x or used 0x%x not in guest memory",
                        q.descAddr(), q.availAddr(), q.usedAddr()));
            }
            return new VringAddr(q.index(), 0, q.descAddr(), q.usedAddr(), q.availAddr(), q.usedAddr());
        }

        /** Every ring is enabled once, before DRIVER_OK. */
        @Override
        boolean enablesAtStart() {
            return true;
        }

        /** Stopped by SUSPEND or a status reset, not ring by ring. */
        @Override
        boolean switchesRings() {
            return false;
        }

        @Override
        void setVringEnable(int index, boolean enable) throws VhostException {
            backend.setVringEnable(index, enable);
        }

        @Override
        void started() throws VhostException {
            call("SET_STATUS(DRIVER_OK)", -1, () -> backend.setStatus(FEATURES_OK | DeviceStatus.DRIVER_OK.bit()));
        }

        /** QEMU vhost_vdpa_suspend: stop the device where it is, so the bases read next are exact. */
        @Override
        void beforeReadBases() throws VhostException {
            if (VhostFeatures.has(protocolFeatures, VhostFeatures.BACKEND_F_SUSPEND)) {
                call("VHOST_VDPA_SUSPEND", -1, backend::suspend);
            }
        }

        /** QEMU vhost_vdpa_reset_status: reset, then ACKNOWLEDGE | DRIVER for the next start. */
        @Override
        void stopped() throws VhostException {
            call("SET_STATUS(reset)", -1, () -> backend.setStatus(0));
            call("SET_STATUS(ACKNOWLEDGE|DRIVER)", -1, () -> backend.setStatus(ACK_DRIVER));
        }

        @Override
        boolean canResume() {
            return VhostFeatures.has(protocolFeatures, VhostFeatures.BACKEND_F_SUSPEND)
                    && VhostFeatures.has(protocolFeatures, VhostFeatures.BACKEND_F_RESUME);
        }

        @Override
        void resume() throws VhostException {
            call("VHOST_VDPA_RESUME", -1, backend::resume);
        }

        @Override
        ConfigSpaceBackend config(String request) {
            return backend;
        }

        /**
         * A vDPA device's config space has the device's own size, which may be shorter than the
         * driver's structure (a read past it is EINVAL): read only what the driver needs.
         */
        @Override
        int configReadLength(int wanted, int needed) {
            return needed;
        }
    }

    /**
     * Any other transport (vhost-kernel): no negotiation beyond features, ring addresses as
     * front-end virtual addresses, rings switched one by one where the backend is a
     * {@link VringEnableBackend} (vhost-net attaches each ring to its TAP queue after start and
     * detaches it before stop, QEMU {@code vhost_net_start_one}), config space where it is a
     * {@link ConfigSpaceBackend}.
     */
    static final class Plain extends TransportHooks {
        private final VhostBackend backend;

        Plain(VhostBackend backend) {
            this.backend = backend;
        }

        @Override
        void init(long backendFeatures, int numQueues) {}

        @Override
        boolean enablesAtStart() {
            return backend instanceof VringEnableBackend;
        }

        @Override
        boolean switchesRings() {
            return backend instanceof VringEnableBackend;
        }

        @Override
        void setVringEnable(int index, boolean enable) throws VhostException {
            if (!(backend instanceof VringEnableBackend e)) {
                throw new VhostFeatureException("SET_VRING_ENABLE: " + backend.describe() + " has no per-ring enable");
            }
            e.setVringEnable(index, enable);
        }

        @Override
        ConfigSpaceBackend config(String request) throws VhostFeatureException {
            if (!(backend instanceof ConfigSpaceBackend c)) {
                throw new VhostFeatureException(request + ": " + backend.describe() + " has no device config space");
            }
            return c;
        }

        @Override
        int configReadLength(int wanted, int needed) {
            return backend instanceof ConfigSpaceBackend ? wanted : -1;
        }
    }
}
