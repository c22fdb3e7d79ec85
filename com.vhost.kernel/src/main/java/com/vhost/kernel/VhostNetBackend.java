package com.vhost.kernel;

import com.vhost.api.VhostBackendType;
import com.vhost.api.VhostException;
import com.vhost.api.VhostFeatureException;
import com.vhost.runtime.ioctl.IoctlVhostBackend;
import com.vhost.runtime.ioctl.VhostIoctl;

/**
 * vhost-net: one {@code /dev/vhost-net} fd serving a receive and a transmit queue (indices 0 and
 * 1) into a TAP device. {@link #setVringEnable} attaches ({@code VHOST_NET_SET_BACKEND} with the
 * TAP fd) or detaches (fd -1) a queue's backend, as QEMU does for vhost-kernel. vhost-net has no
 * device config space (the front-end owns MAC and status) and no device status.
 */
public final class VhostNetBackend extends IoctlVhostBackend {
    private final TapDevice tap;

    /** @param fd an open /dev/vhost-net fd (owned); @param tap the TAP (owned), or null */
    VhostNetBackend(int fd, String node, TapDevice tap) {
        super(fd, node);
        this.tap = tap;
    }

    @Override
    protected VhostBackendType backendType() {
        return VhostBackendType.KERNEL;
    }

    @Override
    public String describe() {
        return "kernel:" + node + (tap != null ? " tap " + tap.name() : "");
    }

    /** VHOST_NET_SET_BACKEND(index, enable ? tap fd : -1). */
    @Override
    public void setVringEnable(int index, boolean enable) throws VhostException {
        if (tap == null) {
            throw new VhostFeatureException("vhost-net queue " + index + " cannot be enabled: no TAP device was given (option tap=NAME)");
        }
        vringState(VhostIoctl.VHOST_NET_SET_BACKEND, "VHOST_NET_SET_BACKEND", index, enable ? tap.fd() : -1);
    }

    /**
     * VHOST_SET_VRING_BUSYLOOP_TIMEOUT: the kernel worker polls queue {@code index} for up to
     * {@code microseconds} before sleeping.
     */
    public void setBusyloopTimeout(int index, int microseconds) throws VhostException {
        vringState(VhostIoctl.VHOST_SET_VRING_BUSYLOOP_TIMEOUT, "VHOST_SET_VRING_BUSYLOOP_TIMEOUT", index, microseconds);
    }

    @Override
    public byte[] getConfig(int offset, int size) throws VhostException {
        throw new VhostFeatureException("vhost-net has no device config space; the front-end owns MAC and status");
    }

    @Override
    public void setConfig(int offset, byte[] data) throws VhostException {
        throw new VhostFeatureException("vhost-net has no device config space; the front-end owns MAC and status");
    }

    @Override
    public void setStatus(int status) throws VhostException {
        throw new VhostFeatureException("vhost-net has no device status; the front-end owns it");
    }

    @Override
    public int getStatus() throws VhostException {
        throw new VhostFeatureException("vhost-net has no device status; the front-end owns it");
    }

    /** VHOST_RESET_OWNER: the kernel stops every ring and forgets memory and features. */
    @Override
    public void resetDevice() throws VhostException {
        resetOwner();
    }

    @Override
    public synchronized void close() {
        super.close();
        if (tap != null) {
            tap.close();
        }
    }
}
