package com.vhost.api.net;

/**
 * What a net device negotiated and reports.
 *
 * @param mac the MAC address, {@value VirtioNet#MAC_BYTES} bytes as "52:54:00:12:34:56"
 * @param mtu the MTU in bytes (config {@code mtu} with VIRTIO_NET_F_MTU, else
 *     {@value VirtioNet#DEFAULT_MTU}); the largest frame is {@code mtu + 14} (+4 with a VLAN tag)
 * @param maxQueuePairs queue pairs set up (at most the device's {@code max_virtqueue_pairs})
 * @param queueSize descriptors per virtqueue
 * @param rxBufferBytes bytes of each receive buffer, header included
 * @param features the acked virtio feature bits, including those the front-end handles itself
 *     (CTRL_VQ, CTRL_RX, CTRL_MAC_ADDR, MAC, STATUS)
 * @param mergeableRxBuffers whether VIRTIO_NET_F_MRG_RXBUF was negotiated (a frame may span
 *     several receive buffers)
 * @param poll whether the device was opened in busy-polling mode (no used-buffer notifications)
 * @param backend description of the backend ("vhost-user:/tmp/vhost-net.sock")
 */
public record NetDeviceInfo(String mac, int mtu, int maxQueuePairs, int queueSize, int rxBufferBytes, long features,
        boolean mergeableRxBuffers, boolean poll, String backend) {}
