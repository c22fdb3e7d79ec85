package com.vhost.user.backend.session;

import com.vhost.api.virtio.DeviceStatus;
import com.vhost.api.virtio.Interrupt;
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
 */
final class CallInterrupt implements Interrupt {
    private static final Logger LOG = LoggerFactory.getLogger(CallInterrupt.class);

    private final String name;
    private final AtomicReferenceArray<EventFd> calls;
    private final AtomicInteger status;
    private final BooleanSupplier statusNegotiated;
    private final Runnable configChanged;

    CallInterrupt(String name, int queues, AtomicInteger status, BooleanSupplier statusNegotiated, Runnable configChanged) {
        this.name = name;
        this.calls = new AtomicReferenceArray<>(queues);
        this.status = status;
        this.statusNegotiated = statusNegotiated;
        this.configChanged = configChanged;
    }

    /** Installs {@code call} for queue {@code index}; @return the previous one (caller closes it) */
    EventFd swap(int index, EventFd call) {
        return calls.getAndSet(index, call);
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
}
