package com.vhost.devices.net.model;

import com.vhost.api.VirtqueueException;
import com.vhost.api.net.VirtioNet;
import com.vhost.runtime.virtqueue.DescriptorChain;
import com.vhost.runtime.virtqueue.DeviceQueue;

/**
 * A virtio-net back-end model that loops every frame back: a frame the driver transmits on pair
 * {@code p} is delivered, unchanged, on the receive queue of pair {@code p} (copied chain to
 * chain in guest memory). It is what {@code vhost serve net --loopback} serves and the peer of the
 * driver's echo tests. See {@link AbstractNetModel} for queues, features and counters.
 */
public final class LoopbackNetModel extends AbstractNetModel {
    /**
     * @param pairs queue pairs, 1..128
     * @param queueSize largest queue size, a power of two in 2..32768
     * @param mac the MAC address the config space reports, 6 bytes
     * @param mtu the MTU the config space reports, 68..65535 bytes
     */
    public LoopbackNetModel(int pairs, int queueSize, byte[] mac, int mtu) {
        super("net loopback", pairs, queueSize, mac, mtu);
    }

    /** @return a model with {@code pairs} pairs, queues of 256, MAC 52:54:00:12:34:56 and MTU 1500 */
    public static LoopbackNetModel withDefaults(int pairs) {
        return new LoopbackNetModel(pairs, 256, new byte[] {0x52, 0x54, 0x00, 0x12, 0x34, 0x56}, VirtioNet.DEFAULT_MTU);
    }

    @Override
    protected boolean transmitted(int pair, DeviceQueue rx, DescriptorChain tx, long len, NetPortCounters ctr)
            throws VirtqueueException {
        return deliver(pair, rx, tx, null, len, ctr);
    }
}
