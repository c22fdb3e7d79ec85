package com.vhost.devices.blk.driver;

import com.vhost.api.VhostBackend;
import com.vhost.api.VhostException;
import com.vhost.api.blk.BlockDevice;

/** Entry point: a {@link BlockDevice} over any vhost backend, with no VM. */
public final class BlockDevices {
    private BlockDevices() {}

    /**
     * Opens a virtio-blk driver on {@code backend} (see {@link VirtioBlkDriver}).
     *
     * @param backend an open backend (vhost-user socket, vhost-vdpa node, ...); the device owns it
     *     from now on, closes it on {@link BlockDevice#close()}, and closes it on failure here
     * @param options queues, queue size, poll mode and buffer pool size
     * @return the running device
     * @throws VhostException naming the negotiation step or request that failed
     */
    public static VirtioBlkDriver open(VhostBackend backend, BlkDriverOptions options) throws VhostException {
        return VirtioBlkDriver.open(backend, options);
    }
}
