package com.vhost.devices.blk.driver;

import com.vhost.api.virtio.VirtioFeatures;

/**
 * How {@link BlockDevices#open} sets up a virtio-blk driver.
 *
 * @param queues request queues wanted, 1..255 (fewer are used when the device offers fewer through
 *     {@code num_queues}; more than the back-end's GET_QUEUE_NUM is an error)
 * @param queueSize descriptors per queue, a power of two in 2..32768
 * @param poll true: completions are found by polling the used ring (the back-end is asked not to
 *     notify; a call eventfd is still registered because some back-ends need one); false: a
 *     thread per queue waits on the call eventfd
 * @param bufferPoolBytes bytes of shared memory for {@link com.vhost.api.blk.BlockDevice#allocateBuffer}
 *     and bounce buffers, at least 64 KiB
 * @param packed ask for packed virtqueues (VIRTIO_F_RING_PACKED, VIRTIO 1.2 section 2.8); a
 *     back-end that does not offer them (qemu-storage-daemon 7.2) gets split ones (logged)
 * @param inOrder negotiate VIRTIO_F_IN_ORDER (VIRTIO 1.2 2.7.9 / 2.8.8) when the back-end offers
 *     it: the rings then take descriptors in ring order and accept one used element for a batch of
 *     requests. Default false for blk: a blk used element carries a length per request, so a
 *     back-end gains little, and acked features bind every later rebind (qemu-storage-daemon 7.2
 *     and this project's io_uring model do not offer it, so a device that acked it cannot move there)
 */
public record BlkDriverOptions(int queues, int queueSize, boolean poll, long bufferPoolBytes, boolean packed, boolean inOrder) {
    public BlkDriverOptions {
        if (queues < 1 || queues > 255) {
            throw new IllegalArgumentException("queues " + queues + " outside 1..255");
        }
        if (queueSize < 2 || queueSize > 32768 || Integer.bitCount(queueSize) != 1) {
            throw new IllegalArgumentException("queue size " + queueSize + " is not a power of two in 2..32768");
        }
        if (bufferPoolBytes < 65536) {
            throw new IllegalArgumentException("buffer pool of " + bufferPoolBytes + " bytes is below 65536");
        }
    }

    /** IN_ORDER left out: {@link #inOrder()} false. */
    public BlkDriverOptions(int queues, int queueSize, boolean poll, long bufferPoolBytes, boolean packed) {
        this(queues, queueSize, poll, bufferPoolBytes, packed, false);
    }

    /** Split virtqueues: {@link #packed()} false. */
    public BlkDriverOptions(int queues, int queueSize, boolean poll, long bufferPoolBytes) {
        this(queues, queueSize, poll, bufferPoolBytes, false, false);
    }

    /**
     * @return {@code offered} less VIRTIO_F_RING_PACKED unless {@link #packed()} asks for it, and
     *     less VIRTIO_F_IN_ORDER unless {@link #inOrder()} does
     */
    long ringFeatures(long offered) {
        long f = packed ? offered : offered & ~VirtioFeatures.bit(VirtioFeatures.F_RING_PACKED);
        return inOrder ? f : f & ~VirtioFeatures.bit(VirtioFeatures.F_IN_ORDER);
    }

    /** @return one queue of 128 descriptors, eventfd completions, 16 MiB of buffers */
    public static BlkDriverOptions defaults() {
        return new BlkDriverOptions(1, 128, false, 16L << 20);
    }

    /** @return a copy with {@code queues} queues */
    public BlkDriverOptions withQueues(int n) {
        return new BlkDriverOptions(n, queueSize, poll, bufferPoolBytes, packed, inOrder);
    }

    /** @return a copy that asks for packed virtqueues or not */
    public BlkDriverOptions withPacked(boolean p) {
        return new BlkDriverOptions(queues, queueSize, poll, bufferPoolBytes, p, inOrder);
    }

    /** @return a copy that negotiates VIRTIO_F_IN_ORDER when offered, or never */
    public BlkDriverOptions withInOrder(boolean o) {
        return new BlkDriverOptions(queues, queueSize, poll, bufferPoolBytes, packed, o);
    }
}
