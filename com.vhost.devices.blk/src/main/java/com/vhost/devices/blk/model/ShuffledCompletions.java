package com.vhost.devices.blk.model;

import com.vhost.api.VirtqueueException;
import com.vhost.spi.virtqueue.DeviceQueue;
import java.util.SplittableRandom;
import java.util.concurrent.locks.LockSupport;

/**
 * Completes one queue's requests in random order, for tests of a front-end's and the back-end's
 * handling of out-of-order completion (vhost-user "Inflight I/O tracking": a back-end that
 * completes out of order, as io_uring does, and is killed must have the front-end's region, not the
 * used index, decide what is redone). Each handled request is held; once {@link #HOLD} are held a
 * random one is completed, and when the queue has nothing more available all held ones are
 * completed in random order after {@link #LATENCY_NANOS} (a device with some latency, so that a
 * back-end killed at a random moment usually holds requests), so no request waits for another to
 * arrive.
 *
 * <p>Not thread-safe: the queue's worker owns it. Allocates nothing after construction.
 */
final class ShuffledCompletions {
    /** Requests held at most before one is completed. */
    static final int HOLD = 8;
    /** How long the last held requests of a batch wait before they complete, ns. */
    static final long LATENCY_NANOS = 5_000_000;

    private final int[] heads = new int[HOLD];
    private final int[] lengths = new int[HOLD];
    private final SplittableRandom random;
    private int count;

    /** @param seed seeds the order (a fixed seed repeats it) */
    ShuffledCompletions(long seed) {
        this.random = new SplittableRandom(seed);
    }

    /**
     * Holds the handled request with chain head {@code head} that wrote {@code written} bytes,
     * completing a random held one when {@link #HOLD} are held.
     *
     * @throws VirtqueueException when a completion's head is not a descriptor index of {@code q}
     */
    void hold(DeviceQueue q, int head, int written) throws VirtqueueException {
        heads[count] = head;
        lengths[count] = written;
        count++;
        if (count == HOLD) {
            completeOne(q);
        }
    }

    /** Completes every held request, in random order. @throws VirtqueueException as {@link #hold} */
    void flush(DeviceQueue q) throws VirtqueueException {
        if (count > 0) {
            LockSupport.parkNanos(LATENCY_NANOS);
        }
        while (count > 0) {
            completeOne(q);
        }
    }

    private void completeOne(DeviceQueue q) throws VirtqueueException {
        int i = random.nextInt(count);
        int head = heads[i];
        int len = lengths[i];
        count--;
        heads[i] = heads[count];
        lengths[i] = lengths[count];
        q.addUsed(head, len);
    }
}
