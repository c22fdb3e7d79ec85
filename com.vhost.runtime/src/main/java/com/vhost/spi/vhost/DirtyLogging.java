package com.vhost.spi.vhost;

import com.vhost.api.VhostDevice;
import com.vhost.api.VhostException;
import com.vhost.api.VhostFeatureException;
import com.vhost.api.VhostFeatures;
import com.vhost.api.VringAddr;
import com.vhost.api.user.VhostUserBackend;
import com.vhost.api.user.VhostUserProtocolFeature;
import com.vhost.api.virtio.GuestMemory;
import com.vhost.api.virtio.VirtqueueConfig;
import com.vhost.api.VirtioDeviceException;
import java.util.List;

/**
 * Turns dirty logging on and off on a started vhost-user device, as QEMU's
 * {@code vhost_migration_log} does (vhost-user spec, "Migration"): on, SET_LOG_BASE with the
 * {@link DirtyLog}'s memfd, SET_FEATURES with {@code VHOST_F_LOG_ALL} (bit 26) added to the acked
 * features, and per started queue SET_VRING_ADDR with the same addresses, {@code VHOST_VRING_F_LOG}
 * set and {@code log_guest_addr} = the used ring's guest-physical address; off, SET_FEATURES
 * without LOG_ALL and SET_VRING_ADDR without the flag. The rings keep running throughout.
 *
 * <p>The device does not remember that it logs: a {@link VhostDevice#start} after
 * {@link VhostDevice#stop} (a hot-swap, a restore) runs without logging until {@link #start} is
 * called again. Control path only; not thread-safe (the device's control thread calls it).
 */
public final class DirtyLogging {
    private DirtyLogging() {}

    /**
     * Starts logging on {@code device}.
     *
     * @param device a started device on a vhost-user back-end
     * @param memory the memory the device was started with
     * @param queues the queues it was started with
     * @param log the log to hand over, covering {@code memory} ({@link DirtyLog#forMemory})
     * @throws VirtioDeviceException when the device is not started
     * @throws VhostFeatureException when the backend is not vhost-user, or does not offer
     *     {@code VHOST_F_LOG_ALL} or negotiate {@code VHOST_USER_PROTOCOL_F_LOG_SHMFD}
     * @throws VhostException from the backend, naming the request (and queue) refused
     */
    public static void start(VhostDevice device, GuestMemory memory, List<VirtqueueConfig> queues, DirtyLog log)
            throws VhostException {
        VhostUserBackend backend = check(device);
        backend.setLogBase(log.fd(), log.bytes(), 0);
        backend.setFeatures(device.ackedFeatures() | VhostFeatures.bit(VhostFeatures.F_LOG_ALL));
        for (VirtqueueConfig q : queues) {
            backend.setVringAddr(ringAddr(memory, q, VringAddr.F_LOG));
        }
    }

    /**
     * Stops logging on {@code device}: the back-end marks nothing more (the log stays mapped there
     * until the next SET_LOG_BASE or the end of the session).
     *
     * @throws VirtioDeviceException when the device is not started
     * @throws VhostFeatureException when the backend is not vhost-user or lacks the features
     * @throws VhostException from the backend, naming the request (and queue) refused
     */
    public static void stop(VhostDevice device, GuestMemory memory, List<VirtqueueConfig> queues) throws VhostException {
        VhostUserBackend backend = check(device);
        backend.setFeatures(device.ackedFeatures());
        for (VirtqueueConfig q : queues) {
            backend.setVringAddr(ringAddr(memory, q, 0));
        }
    }

    private static VhostUserBackend check(VhostDevice device) throws VhostException {
        if (!device.isStarted()) {
            throw new VirtioDeviceException("dirty logging: device on " + device.backend().describe() + " is not started");
        }
        if (!(device.backend() instanceof VhostUserBackend backend)) {
            throw new VhostFeatureException("dirty logging: " + device.backend().describe() + " is not a vhost-user backend");
        }
        if (!VhostFeatures.has(device.backendFeatures(), VhostFeatures.F_LOG_ALL)) {
            throw new VhostFeatureException(String.format("dirty logging: %s does not offer VHOST_F_LOG_ALL (bit 26; features 0x%x)",
                    backend.describe(), device.backendFeatures()));
        }
        if (!VhostUserProtocolFeature.LOG_SHMFD.in(backend.negotiatedProtocolFeatures())) {
            throw new VhostFeatureException("dirty logging: " + backend.describe()
                    + " did not negotiate VHOST_USER_PROTOCOL_F_LOG_SHMFD (negotiated: "
                    + VhostUserProtocolFeature.describe(backend.negotiatedProtocolFeatures()) + ")");
        }
        return backend;
    }

    /** SET_VRING_ADDR as {@link GenericVhostDevice} sends it (front-end virtual addresses), with {@code flags}. */
    private static VringAddr ringAddr(GuestMemory memory, VirtqueueConfig q, int flags) {
        return new VringAddr(q.index(), flags, memory.userAddrOfGuest(q.descAddr()), memory.userAddrOfGuest(q.usedAddr()),
                memory.userAddrOfGuest(q.availAddr()), q.usedAddr());
    }
}
