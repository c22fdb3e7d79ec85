package com.vhost.spi.backend;

import com.vhost.api.VirtqueueException;
import com.vhost.api.virtio.Interrupt;
import com.vhost.spi.virtqueue.DeviceQueue;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * How a {@link QueueWorker} reports a queue it stopped: the reason, logged with the queue, and the
 * device's needs-reset, through the queue's own error notifier when the interrupt is a
 * {@link QueueErrorInterrupt} (vhost-user: that ring's error eventfd, SET_VRING_ERR).
 */
final class QueueFailures {
    private static final Logger LOG = LoggerFactory.getLogger(QueueWorker.class);

    private final String name;
    private final Interrupt interrupt;

    QueueFailures(String name, Interrupt interrupt) {
        this.name = name;
        this.interrupt = interrupt;
    }

    /**
     * @param index the failed queue's index
     * @param e what its ring or handler threw (not an {@link OutOfMemoryError}: that is not the
     *     queue's fault and ends the worker)
     * @return the reason reported for it
     */
    static String reason(int index, Throwable e) {
        return switch (e) {
            case VirtqueueException v -> v.getMessage();
            // the JVM's report of a fault in an unsafe memory access: guest memory no longer backed
            case InternalError ie -> "queue " + index + ": fault in guest memory (truncated or unmapped under the ring?): " + ie;
            default -> "queue " + index + ": " + e;
        };
    }

    /** Logs that queue {@code q} stopped ({@code cause} with its stack, or null) and signals it. */
    void stopped(DeviceQueue q, String message, Throwable cause) {
        if (cause != null) {
            LOG.error("{}: stopping {}: {}", name, q, message, cause);
        } else {
            LOG.error("{}: stopping {}: {}", name, q, message);
        }
        signal(q.index(), message);
    }

    /** Needs-reset for one queue: with a {@link QueueErrorInterrupt}, its error notifier too. */
    void signal(int queueIndex, String message) {
        if (interrupt instanceof QueueErrorInterrupt q) {
            q.signalQueueError(queueIndex, message);
        } else {
            interrupt.signalNeedsReset(message);
        }
    }

    /** The worker thread ends: every queue it served stops, each one's error notifier is signalled. */
    void allStopped(DeviceQueue[] qs, String message) {
        if (qs.length == 0 || !(interrupt instanceof QueueErrorInterrupt)) {
            interrupt.signalNeedsReset(message);
            return;
        }
        for (DeviceQueue q : qs) {
            signal(q.index(), message);
        }
    }
}
