package com.vhost.spi.backend;

import com.vhost.api.VhostNativeException;
import com.vhost.api.VirtqueueException;
import com.vhost.api.virtio.Interrupt;
import com.vhost.spi.nativeio.Epoll;
import com.vhost.spi.nativeio.Linux;
import com.vhost.spi.virtqueue.DeviceQueue;
import java.lang.foreign.MemorySegment;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * How a {@link QueueWorker} reports a queue it stopped: the reason, logged with the queue, and the
 * device's needs-reset, through the queue's own error notifier when the interrupt is a
 * {@link QueueErrorInterrupt} (vhost-user: that ring's error eventfd, SET_VRING_ERR).
 *
 * <p>In a {@link QueueWorker}, a {@link VirtqueueException} (or any runtime exception) from the
 * handler stops that queue and calls {@link Interrupt#signalNeedsReset(String)} with its message ({@link
 * QueueErrorInterrupt#signalQueueError} with the queue's index when the interrupt is a {@link
 * QueueErrorInterrupt}: vhost-user then writes that ring's error eventfd); other queues go on. So
 * does a dead kick fd: one that epoll reports hung up (EPOLLHUP, e.g. a pipe whose writer closed)
 * or in error (EPOLLERR), or that reads end-of-file or fails to read. It is unwatched at once, so
 * the worker never spins on it (level-triggered epoll would report it on every wait), and the
 * reason names the queue ("queue 0: the kick fd hung up ...; the queue is stopped"). Kick fds are
 * expected to be non-blocking eventfds (the vhost-user back-end refuses any other kind); a blocking
 * one would only block the worker if another reader emptied it between epoll and the read.
 * So does an {@link Error} other than {@link OutOfMemoryError}: above all the {@link InternalError}
 * the JVM raises for a fault in an unsafe memory access (SIGBUS when guest memory was truncated
 * under the mapping, vhost-user issue #10), but also a {@link StackOverflowError} (unwound by the
 * time it is caught) or a {@link LinkageError}. The queue's request is not dropped silently: the
 * queue is stopped, the failure logged with the queue index and the device flagged as needing
 * reset, so the driver resets it. An {@link OutOfMemoryError} is not the queue's fault and is not
 * contained per queue: it ends the worker thread (every queue stops), logged and reported as a
 * needs-reset, and the worker's owner goes on.
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

    /**
     * Consumes a kick epoll reported with {@code events} on {@code kickFd}: an eventfd is drained by
     * one read (-1 = already empty). A kick fd that hung up, reports an error or reads end-of-file
     * will never kick again and, level-triggered, would wake epoll at once forever.
     *
     * @param buf 8 bytes to read into
     * @return null when the queue may be served, else why the kick fd is dead
     */
    static String deadKick(int kickFd, int events, MemorySegment buf) {
        if ((events & Epoll.EPOLLERR) != 0) {
            return "reports an error (EPOLLERR)";
        }
        if ((events & Epoll.EPOLLHUP) != 0) {
            return "hung up (EPOLLHUP: its writer closed)";
        }
        try {
            return Linux.read(kickFd, buf, 8) != 0 ? null : "is at end-of-file (read 0 bytes)";
        } catch (VhostNativeException e) {
            return "cannot be read: " + e.getMessage();
        }
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
