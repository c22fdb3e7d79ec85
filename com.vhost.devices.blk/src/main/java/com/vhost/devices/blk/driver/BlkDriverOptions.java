package com.vhost.devices.blk.driver;

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
 */
public record BlkDriverOptions(int queues, int queueSize, boolean poll, long bufferPoolBytes) {
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

    /** @return one queue of 128 descriptors, eventfd completions, 16 MiB of buffers */
    public static BlkDriverOptions defaults() {
        return new BlkDriverOptions(1, 128, false, 16L << 20);
    }

    /** @return a copy with {@code queues} queues */
    public BlkDriverOptions withQueues(int n) {
        return new BlkDriverOptions(n, queueSize, poll, bufferPoolBytes);
    }
}
