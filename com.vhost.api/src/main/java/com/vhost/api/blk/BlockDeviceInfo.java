package com.vhost.api.blk;

/**
 * What a block device negotiated and reports.
 *
 * @param capacityBytes capacity in bytes (config {@code capacity} × 512)
 * @param blockSize logical block size in bytes (config {@code blk_size}, 512 when not offered)
 * @param numQueues request queues in use
 * @param queueSize descriptors per queue
 * @param features the acked virtio feature bits
 * @param readOnly whether VIRTIO_BLK_F_RO was negotiated
 * @param segMax most data segments per request (config {@code seg_max}, 0 = unknown)
 * @param sizeMax largest segment in bytes (config {@code size_max}, 0 = unknown)
 * @param backend description of the backend ("vhost-user:/tmp/vub.sock")
 */
public record BlockDeviceInfo(long capacityBytes, int blockSize, int numQueues, int queueSize, long features,
        boolean readOnly, int segMax, int sizeMax, String backend) {}
