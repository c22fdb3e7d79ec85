package com.vhost.spi.backend;

import com.vhost.api.virtio.Interrupt;
import org.osgi.annotation.versioning.ConsumerType;

/**
 * An {@link Interrupt} that is told which queue failed, for a transport with a per-queue error
 * notifier: vhost-user's error eventfd (VHOST_USER_SET_VRING_ERR, "the back-end writes the error
 * fd when an error occurs on the ring"). {@link QueueWorker} calls {@link #signalQueueError}
 * rather than {@link #signalNeedsReset(String)} when its interrupt is one.
 */
@ConsumerType
public interface QueueErrorInterrupt extends Interrupt {
    /**
     * Queue {@code queueIndex} was stopped on an error it cannot recover from (a malformed
     * descriptor chain, an avail index jump, a fault in guest memory, a dead kick fd): marks the
     * device DEVICE_NEEDS_RESET as {@link #signalNeedsReset(String)} does (VIRTIO 1.2 section
     * 2.1.2) and signals that queue's error notifier, if it has one. Runs on the queue worker's
     * thread: it must not block and throws nothing.
     *
     * @param queueIndex the failed queue's index
     * @param reason what went wrong, naming the queue and the descriptor or value at fault
     */
    void signalQueueError(int queueIndex, String reason);
}
