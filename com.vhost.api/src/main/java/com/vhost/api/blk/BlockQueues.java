package com.vhost.api.blk;

import org.osgi.annotation.versioning.ProviderType;

/**
 * The low-level, allocation-free path of a block device: its request queues handed over one by
 * one to threads of the application. A driver that has it returns it from
 * {@link com.vhost.api.registry.VirtioDriver#api(Class) VirtioDriver.api(BlockQueues.class)}.
 */
@ProviderType
public interface BlockQueues {
    /**
     * Hands queue {@code index} over to the caller: the high-level {@link BlockDevice} methods
     * are refused on it from then on, and completions are found only through
     * {@link BlockQueue#poll}/{@link BlockQueue#await}.
     *
     * @param index queue index, 0 to {@code info().numQueues() - 1}
     * @return the queue
     * @throws IllegalStateException when high-level requests are outstanding on it, or it was
     *     already handed over
     * @throws IndexOutOfBoundsException for an index outside the queues in use
     */
    BlockQueue queue(int index);
}
