package com.vhost.spi.backend;

import com.vhost.api.VirtqueueException;
import com.vhost.spi.virtqueue.DeviceQueue;

/**
 * A {@link QueueWorker.Handler} whose requests complete after {@link #process} returns
 * (asynchronous I/O such as io_uring): {@code process} starts requests, the worker waits on each
 * queue's {@link #completionFd} in its epoll next to the kick eventfds and calls {@link #complete}
 * when it is readable, then sends a used-buffer notification when the ring asks for one. Used
 * elements may so be added in another order than the chains were popped (split rings allow it,
 * VIRTIO 1.2 section 2.7.8).
 *
 * <p>No request outlives the worker's hold on its queue: before a queue stops being served
 * ({@link QueueWorker#removeQueue}, {@link QueueWorker#stop}, the thread ending) the worker calls
 * {@link #drain} on its thread, so a vhost-user GET_VRING_BASE or a sleep reports a
 * {@code nextAvail} whose chains were all completed, none lost and none completed twice. Every
 * method runs on the worker thread, or while it does not run.
 *
 * @since 1.2.0
 */
public interface AsyncHandler extends QueueWorker.Handler {
    /**
     * @param queueIndex a queue the worker starts to serve
     * @return an fd that is readable while completed requests of that queue wait for {@link
     *     #complete} (e.g. an eventfd registered with {@code IORING_REGISTER_EVENTFD}), or -1 for
     *     none; watched level-triggered until the queue is removed
     */
    int completionFd(int queueIndex);

    /**
     * Completes the queue's finished requests (status, used elements) and makes its completion fd
     * unreadable again (reads the eventfd). Called also for a failed or disabled queue, whose
     * requests still finish.
     *
     * @throws VirtqueueException when the ring is broken: the queue is stopped, the device flagged
     */
    void complete(int queueIndex, DeviceQueue queue) throws VirtqueueException;

    /**
     * Whether finished requests of the queue wait for {@link #complete}: checked while the worker
     * polls (adaptive polling) so a completion is served without the completion fd's wake-up.
     * Cheap and free of side effects; the default says no.
     */
    default boolean hasCompletions(int queueIndex) {
        return false;
    }

    /**
     * Whether requests of the queue are in flight (started by {@link #process}, not yet passed to
     * {@link #complete}): while any are, the worker polls for their completions for up to its
     * completion window ({@link com.vhost.spi.virtqueue.AdaptivePoll#ASYNC_MAX_NS_PROPERTY})
     * before it sleeps. Cheap and free of side effects; the default says no.
     *
     * @since 1.3.0
     */
    default boolean hasInFlight(int queueIndex) {
        return false;
    }

    /**
     * Waits for every request of the queue still in flight and completes it. It must wait for all
     * of them even when completing one throws (their buffers are guest memory).
     *
     * @throws VirtqueueException when the ring is broken while completing
     */
    void drain(int queueIndex, DeviceQueue queue) throws VirtqueueException;
}
