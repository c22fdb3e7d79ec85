package com.vhost.devices.net.driver;

import com.vhost.api.net.VirtioNet;
import com.vhost.api.virtio.VirtioFeatures;

/**
 * How {@link VirtioNetDriver#open} sets up a virtio-net driver.
 *
 * @param queuePairs queue pairs wanted, 1..127 (more than the back-end's GET_QUEUE_NUM / 2 is an
 *     error); all are enabled after start with MQ VQ_PAIRS_SET
 * @param queueSize descriptors per virtqueue, a power of two in 2..32768
 * @param rxBufferBytes bytes of each receive buffer, header included, 64..65536; without
 *     MRG_RXBUF it must hold header + the largest frame (12 + mtu + 18), with MRG_RXBUF a frame
 *     spans several buffers
 * @param poll true: busy polling, the back-end is asked not to notify used buffers; false: waits
 *     on the call eventfd
 * @param mergeableRxBuffers offer VIRTIO_NET_F_MRG_RXBUF (negotiated only when the back-end
 *     offers it too)
 * @param mac the MAC address to use when the device has none (null: a random locally
 *     administered one), 6 bytes
 * @param packed ask for packed virtqueues (VIRTIO_F_RING_PACKED, VIRTIO 1.2 section 2.8); a
 *     back-end that does not offer them gets split ones (logged), as without this flag
 * @param inOrder negotiate VIRTIO_F_IN_ORDER (VIRTIO 1.2 2.7.9 / 2.8.8) when the back-end offers
 *     it (default true): the rings then take descriptors in ring order and accept one used
 *     element for a batch of buffers; false leaves it out (a later rebind then needs no back-end
 *     that offers it)
 */
public record NetDriverOptions(int queuePairs, int queueSize, int rxBufferBytes, boolean poll, boolean mergeableRxBuffers,
        byte[] mac, boolean packed, boolean inOrder) {
    public NetDriverOptions {
        if (queuePairs < 1 || queuePairs > 127) {
            throw new IllegalArgumentException("queue pairs " + queuePairs + " outside 1..127");
        }
        if (queueSize < 2 || queueSize > 32768 || Integer.bitCount(queueSize) != 1) {
            throw new IllegalArgumentException("queue size " + queueSize + " is not a power of two in 2..32768");
        }
        if (rxBufferBytes < 64 || rxBufferBytes > 65536) {
            throw new IllegalArgumentException("receive buffer of " + rxBufferBytes + " bytes outside 64..65536");
        }
        if (mac != null && mac.length != VirtioNet.MAC_BYTES) {
            throw new IllegalArgumentException("MAC of " + mac.length + " bytes, 6 wanted");
        }
        mac = mac == null ? null : mac.clone();
    }

    /** IN_ORDER negotiated when offered: {@link #inOrder()} true. */
    public NetDriverOptions(int queuePairs, int queueSize, int rxBufferBytes, boolean poll, boolean mergeableRxBuffers, byte[] mac,
            boolean packed) {
        this(queuePairs, queueSize, rxBufferBytes, poll, mergeableRxBuffers, mac, packed, true);
    }

    /** Split virtqueues: {@link #packed()} false. */
    public NetDriverOptions(int queuePairs, int queueSize, int rxBufferBytes, boolean poll, boolean mergeableRxBuffers, byte[] mac) {
        this(queuePairs, queueSize, rxBufferBytes, poll, mergeableRxBuffers, mac, false, true);
    }

    /**
     * @return {@code offered} less VIRTIO_F_RING_PACKED unless {@link #packed()} asks for it, and
     *     less VIRTIO_F_IN_ORDER unless {@link #inOrder()} does
     */
    long ringFeatures(long offered) {
        long f = packed ? offered : offered & ~VirtioFeatures.bit(VirtioFeatures.F_RING_PACKED);
        return inOrder ? f : f & ~VirtioFeatures.bit(VirtioFeatures.F_IN_ORDER);
    }

    /** @return one pair of 256 descriptors, 2048-byte receive buffers, eventfd mode, MRG_RXBUF offered */
    public static NetDriverOptions defaults() {
        return new NetDriverOptions(1, 256, 2048, false, true, null);
    }

    public NetDriverOptions withQueuePairs(int n) {
        return new NetDriverOptions(n, queueSize, rxBufferBytes, poll, mergeableRxBuffers, mac, packed, inOrder);
    }

    public NetDriverOptions withPoll(boolean p) {
        return new NetDriverOptions(queuePairs, queueSize, rxBufferBytes, p, mergeableRxBuffers, mac, packed, inOrder);
    }

    public NetDriverOptions withRxBufferBytes(int b) {
        return new NetDriverOptions(queuePairs, queueSize, b, poll, mergeableRxBuffers, mac, packed, inOrder);
    }

    public NetDriverOptions withMergeableRxBuffers(boolean m) {
        return new NetDriverOptions(queuePairs, queueSize, rxBufferBytes, poll, m, mac, packed, inOrder);
    }

    public NetDriverOptions withQueueSize(int s) {
        return new NetDriverOptions(queuePairs, s, rxBufferBytes, poll, mergeableRxBuffers, mac, packed, inOrder);
    }

    public NetDriverOptions withPacked(boolean p) {
        return new NetDriverOptions(queuePairs, queueSize, rxBufferBytes, poll, mergeableRxBuffers, mac, p, inOrder);
    }

    /** @return a copy that negotiates VIRTIO_F_IN_ORDER when offered, or never */
    public NetDriverOptions withInOrder(boolean o) {
        return new NetDriverOptions(queuePairs, queueSize, rxBufferBytes, poll, mergeableRxBuffers, mac, packed, o);
    }
}
