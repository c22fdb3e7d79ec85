package com.vhost.user.backend.session;

import com.vhost.api.virtio.DeviceStatus;
import com.vhost.api.virtio.Interrupt;
import com.vhost.spi.backend.QueueErrorInterrupt;
import com.vhost.spi.nativeio.EventFd;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.function.BooleanSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The {@link Interrupt} a served model gets: a used-buffer notification writes the queue's call
 * eventfd (the fd SET_VRING_CALL passed; none when NOFD) without allocating. Call fds may be
 * swapped while the model runs (QEMU re-sends SET_VRING_CALL when it masks interrupts).
 *
 * <p>Every call fd is an eventfd made non-blocking by the {@link RequestDispatcher} (vhost-user
 * SET_VRING_CALL), so a notification never blocks the model's thread: when the counter is at its
 * maximum the write fails with EAGAIN and is dropped, as the front-end already sees a non-zero count.
 *
 * <p>It also holds each ring's error eventfd (SET_VRING_ERR): a queue the model stops on an error
 * ({@link #signalQueueError}) sets DEVICE_NEEDS_RESET and writes 1 to that ring's error fd, as the
 * vhost-user spec asks ("the back-end writes the error fd when an error occurs on the ring"),
 * non-blocking like the call fds.
 */
final class CallInterrupt implements QueueErrorInterrupt {
    private static final Logger LOG = LoggerFactory.getLogger(CallInterrupt.class);

    private final String name;
    private final AtomicReferenceArray<EventFd> calls;
    private final AtomicReferenceArray<EventFd> errs;
    private final AtomicInteger status;
    private final BooleanSupplier statusNegotiated;
    private final Runnable configChanged;

    CallInterrupt(String name, int queues, AtomicInteger status, BooleanSupplier statusNegotiated, Runnable configChanged) {
        this.name = name;
        this.calls = new AtomicReferenceArray<>(queues);
        this.errs = new AtomicReferenceArray<>(queues);
        this.status = status;
        this.statusNegotiated = statusNegotiated;
        this.configChanged = configChanged;
    }

    /** Installs {@code call} for queue {@code index}; @return the previous one (caller closes it) */
    EventFd swap(int index, EventFd call) {
        return calls.getAndSet(index, call);
    }

    /** Installs error fd {@code err} for queue {@code index}; @return the previous one (caller closes it) */
    EventFd swapErr(int index, EventFd err) {
        return errs.getAndSet(index, err);
    }

    @Override
    public void signalUsedQueue(int queueIndex) {
        if (queueIndex < 0 || queueIndex >= calls.length()) {
            LOG.warn("{}: model signalled queue {} of {}", name, queueIndex, calls.length());
            return;
        }
        EventFd call = calls.get(queueIndex);
        if (call == null) {
            return; // NOFD: the front-end polls the used ring
        }
        try {
            call.signal();
        } catch (Exception e) {
            LOG.warn("{}: writing the call eventfd of queue {} failed: {}", name, queueIndex, e.getMessage());
        }
    }

    @Override
    public void signalConfigChanged() {
        configChanged.run();
    }

    @Override
    public void signalNeedsReset(String reason) {
        LOG.error("{}: device needs reset: {}", name, reason);
        if (statusNegotiated.getAsBoolean()) {
            status.getAndUpdate(s -> s | DeviceStatus.DEVICE_NEEDS_RESET.bit());
        }
    }

    /**
     * Marks the device DEVICE_NEEDS_RESET ({@link #signalNeedsReset}) and writes the error eventfd
     * of ring {@code queueIndex} when the front-end gave one (1 added to its counter, non-blocking);
     * a failed write is logged, never thrown.
     *
     * @param queueIndex the failed ring's index; outside the device's queues only the status is set
     * @param reason what went wrong, for the log
     */
    @Override
    public void signalQueueError(int queueIndex, String reason) {
        signalNeedsReset(reason);
        if (queueIndex < 0 || queueIndex >= errs.length()) {
            LOG.warn("{}: model reported an error on queue {} of {}", name, queueIndex, errs.length());
            return;
        }
        EventFd err = errs.get(queueIndex);
        if (err == null) {
            return;
        }
        try {
            // the session may replace and close this fd meanwhile (SET_VRING_ERR does not stop the
            // ring): EventFd.close holds the same lock, so the write goes to this eventfd or, once
            // closed, fails; it never reaches another file that got the fd number
            synchronized (err) {
                err.signal();
            }
        } catch (Exception e) {
            LOG.warn("{}: writing the error eventfd of queue {} failed: {}", name, queueIndex, e.getMessage());
        }
    }
}
