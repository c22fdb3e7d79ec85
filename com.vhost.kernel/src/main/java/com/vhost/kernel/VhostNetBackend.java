package com.vhost.kernel;

import com.vhost.spi.tap.TapDevice;
import com.vhost.api.IotlbMessage;
import com.vhost.api.MemoryRegion;
import com.vhost.api.VhostBackendType;
import com.vhost.api.VhostException;
import com.vhost.api.VhostFeatureException;
import com.vhost.api.VringAddr;
import com.vhost.api.VringEnableBackend;
import com.vhost.api.net.VirtioNet;
import com.vhost.spi.ioctl.IoctlVhostBackend;
import com.vhost.spi.ioctl.VhostIoctl;
import java.util.List;

/**
 * vhost-net: one {@code /dev/vhost-net} fd per receive/transmit queue pair, each serving its
 * pair into one queue of a TAP device. {@link #setVringEnable} attaches ({@code
 * VHOST_NET_SET_BACKEND} with the TAP queue's fd) or detaches (fd -1) a queue's backend, as QEMU
 * does for vhost-kernel: this backend's {@link VringEnableBackend} capability. vhost-net has no
 * device config space (the front-end owns MAC and status) and no device status, so it implements
 * neither {@link com.vhost.api.ConfigSpaceBackend} nor {@link com.vhost.api.DeviceStatusBackend}.
 *
 * <p><b>Multiqueue</b> ({@code n > 1} pairs). The kernel's vhost-net device has exactly two
 * rings (rx 0, tx 1); QEMU's {@code hw/net/vhost_net.c} therefore keeps one {@code vhost_dev}
 * (one fd) per pair over a TAP opened with {@code IFF_MULTI_QUEUE}, one TAP queue fd per pair.
 * Here that "one backend per pair" lives inside this backend, not in
 * {@code GenericVhostDevice}: this backend shows the same single device with {@code 2n} queues
 * (rx0, tx0, rx1, tx1, ...) that vhost-user and vDPA devices show, so the generic device and the
 * virtio-net front-end need no vhost-net case. A ring request for queue {@code q} goes to fd
 * {@code q / 2} as ring {@code q % 2} (its errors name both); device-wide requests (owner,
 * features, memory table, log base, IOTLB) go to every fd in pair order. GET_FEATURES adds
 * {@code VIRTIO_NET_F_MQ}, which SET_FEATURES strips again before the kernel sees it (vhost-net
 * refuses bits it does not offer; the TAP's queues are what provides multiqueue).
 */
public final class VhostNetBackend extends IoctlVhostBackend implements VringEnableBackend {
    private static final long MQ = 1L << VirtioNet.F_MQ;

    private final TapDevice tap;
    /** Pairs 1..n-1 (pair 0 is this backend's own fd). */
    private final PairFd[] more;

    /** One more /dev/vhost-net fd: rings 0 and 1 of pair {@code pair}. */
    private static final class PairFd extends IoctlVhostBackend {
        PairFd(int fd, String node, int pair) {
            super(fd, node + " fd of queue pair " + pair);
        }

        @Override
        protected VhostBackendType backendType() {
            return VhostBackendType.KERNEL;
        }

        void state(long request, String name, int ring, int num) throws VhostException {
            vringState(request, name, ring, num);
        }

        @Override
        public void resetDevice() throws VhostException {
            resetOwner();
        }
    }

    /** @param fd an open /dev/vhost-net fd (owned); @param tap the TAP (owned), or null */
    VhostNetBackend(int fd, String node, TapDevice tap) {
        this(new int[] {fd}, node, tap);
    }

    /**
     * @param fds one open /dev/vhost-net fd per queue pair, all owned from here on
     * @param tap the TAP (owned) with at least {@code fds.length} queues, or null
     */
    VhostNetBackend(int[] fds, String node, TapDevice tap) {
        super(fds[0], node);
        if (tap != null && tap.queues() < fds.length) {
            throw new IllegalArgumentException("TAP " + tap.name() + " has " + tap.queues() + " queues for " + fds.length + " pairs");
        }
        this.tap = tap;
        this.more = new PairFd[fds.length - 1];
        for (int p = 1; p < fds.length; p++) {
            more[p - 1] = new PairFd(fds[p], node, p);
        }
    }

    @Override
    protected VhostBackendType backendType() {
        return VhostBackendType.KERNEL;
    }

    /** @return the number of queue pairs (vhost-net fds) */
    public int queuePairs() {
        return more.length + 1;
    }

    /** @return 1: /dev/vhost-net serves virtio-net rings only */
    @Override
    public int virtioDeviceId() {
        return com.vhost.api.virtio.VirtioDeviceType.NET.id();
    }

    @Override
    public String describe() {
        return "kernel:" + node + (more.length > 0 ? " x" + queuePairs() + " pairs" : "") + (tap != null ? " tap " + tap.name() : "");
    }

    /** @return the fd serving {@code index}, or null when it is this backend's own (pair 0, or no such pair: the kernel answers) */
    private PairFd pairOf(int index) {
        int p = index >>> 1;
        return index < 0 || p == 0 || p > more.length ? null : more[p - 1];
    }

    // ---- device-wide requests: every fd ----

    @Override
    public long getFeatures() throws VhostException {
        long f = super.getFeatures();
        return more.length > 0 ? f | MQ : f;
    }

    @Override
    public void setFeatures(long features) throws VhostException {
        long f = features & ~MQ;
        super.setFeatures(f);
        for (PairFd p : more) {
            p.setFeatures(f);
        }
    }

    @Override
    public void setOwner() throws VhostException {
        super.setOwner();
        for (PairFd p : more) {
            p.setOwner();
        }
    }

    @Override
    public void resetOwner() throws VhostException {
        super.resetOwner();
        for (PairFd p : more) {
            p.resetOwner();
        }
    }

    @Override
    public void setBackendFeatures(long features) throws VhostException {
        super.setBackendFeatures(features);
        for (PairFd p : more) {
            p.setBackendFeatures(features);
        }
    }

    @Override
    public void setMemTable(List<MemoryRegion> regions) throws VhostException {
        super.setMemTable(regions);
        for (PairFd p : more) {
            p.setMemTable(regions);
        }
    }

    @Override
    public void setLogBase(int logFd, long size, long offset) throws VhostException {
        super.setLogBase(logFd, size, offset);
        for (PairFd p : more) {
            p.setLogBase(logFd, size, offset);
        }
    }

    @Override
    public void iotlbMessage(IotlbMessage m) throws VhostException {
        super.iotlbMessage(m);
        for (PairFd p : more) {
            p.iotlbMessage(m);
        }
    }

    // ---- ring requests: queue q is ring q % 2 of pair q / 2 ----

    @Override
    public void setVringNum(int index, int num) throws VhostException {
        PairFd p = pairOf(index);
        if (p == null) {
            super.setVringNum(index, num);
        } else {
            p.setVringNum(index & 1, num);
        }
    }

    @Override
    public void setVringAddr(VringAddr a) throws VhostException {
        PairFd p = pairOf(a.index());
        if (p == null) {
            super.setVringAddr(a);
        } else {
            p.setVringAddr(new VringAddr(a.index() & 1, a.flags(), a.descUserAddr(), a.usedUserAddr(), a.availUserAddr(), a.logGuestAddr()));
        }
    }

    @Override
    public void setVringBase(int index, int base) throws VhostException {
        PairFd p = pairOf(index);
        if (p == null) {
            super.setVringBase(index, base);
        } else {
            p.setVringBase(index & 1, base);
        }
    }

    @Override
    public int getVringBase(int index) throws VhostException {
        PairFd p = pairOf(index);
        return p == null ? super.getVringBase(index) : p.getVringBase(index & 1);
    }

    @Override
    public void setVringKick(int index, int kickFd) throws VhostException {
        PairFd p = pairOf(index);
        if (p == null) {
            super.setVringKick(index, kickFd);
        } else {
            p.setVringKick(index & 1, kickFd);
        }
    }

    @Override
    public void setVringCall(int index, int callFd) throws VhostException {
        PairFd p = pairOf(index);
        if (p == null) {
            super.setVringCall(index, callFd);
        } else {
            p.setVringCall(index & 1, callFd);
        }
    }

    @Override
    public void setVringErr(int index, int errFd) throws VhostException {
        PairFd p = pairOf(index);
        if (p == null) {
            super.setVringErr(index, errFd);
        } else {
            p.setVringErr(index & 1, errFd);
        }
    }

    /**
     * VHOST_NET_SET_BACKEND(ring, enable ? fd of TAP queue {@code index / 2} : -1) on the pair's
     * vhost-net fd.
     *
     * @throws VhostFeatureException when no TAP was given
     */
    @Override
    public void setVringEnable(int index, boolean enable) throws VhostException {
        if (tap == null) {
            throw new VhostFeatureException("vhost-net queue " + index + " cannot be enabled: no TAP device was given (option tap=NAME)");
        }
        PairFd p = pairOf(index);
        int tapFd = enable ? tap.fd(p == null ? 0 : index >>> 1) : -1;
        if (p == null) {
            vringState(VhostIoctl.VHOST_NET_SET_BACKEND, "VHOST_NET_SET_BACKEND", index, tapFd);
        } else {
            p.state(VhostIoctl.VHOST_NET_SET_BACKEND, "VHOST_NET_SET_BACKEND", index & 1, tapFd);
        }
    }

    /**
     * VHOST_SET_VRING_BUSYLOOP_TIMEOUT: the kernel worker polls queue {@code index} for up to
     * {@code microseconds} before sleeping.
     */
    public void setBusyloopTimeout(int index, int microseconds) throws VhostException {
        PairFd p = pairOf(index);
        if (p == null) {
            vringState(VhostIoctl.VHOST_SET_VRING_BUSYLOOP_TIMEOUT, "VHOST_SET_VRING_BUSYLOOP_TIMEOUT", index, microseconds);
        } else {
            p.state(VhostIoctl.VHOST_SET_VRING_BUSYLOOP_TIMEOUT, "VHOST_SET_VRING_BUSYLOOP_TIMEOUT", index & 1, microseconds);
        }
    }

    /** VHOST_RESET_OWNER on every fd: the kernel stops every ring and forgets memory and features. */
    @Override
    public void resetDevice() throws VhostException {
        resetOwner();
    }

    @Override
    public synchronized void close() {
        super.close();
        for (PairFd p : more) {
            p.close();
        }
        if (tap != null) {
            tap.close();
        }
    }
}
