package com.vhost.spi.vhost;

import com.vhost.api.VhostException;
import com.vhost.api.VhostNativeException;
import com.vhost.spi.nativeio.EventFd;
import java.util.Arrays;

/**
 * The call fds of a {@link GenericVhostDevice}'s queues and their masking (QEMU
 * {@code vhost_virtqueue_mask}): a masked queue's back-end signals a private eventfd (the masked
 * notifier) instead of the driver's call fd; unmasking restores the call fd and forwards a call
 * that arrived meanwhile. Remembers which fd each queue's back-end has (its last SET_VRING_CALL).
 * Not thread-safe: the device's control thread owns it.
 */
final class CallMasks implements AutoCloseable {
    /** Sends SET_VRING_CALL of one queue; {@code request} names it in failures. */
    @FunctionalInterface
    interface SendCall {
        void send(String request, int fd) throws VhostException;
    }

    private final boolean[] masked;
    private final boolean[] pending;
    /** The driver's call fd per queue, as the last start gave it (-1: none yet). */
    private final int[] callFds;
    /** The call fd last given to the back-end per queue (the masked notifier's when masked). */
    private final int[] backendCallFds;
    private final EventFd[] notifiers;

    CallMasks(int numQueues) {
        masked = new boolean[numQueues];
        pending = new boolean[numQueues];
        callFds = new int[numQueues];
        Arrays.fill(callFds, -1);
        backendCallFds = new int[numQueues];
        Arrays.fill(backendCallFds, -1);
        notifiers = new EventFd[numQueues];
    }

    /**
     * Records {@code callFd} as queue {@code index}'s call fd (a start).
     *
     * @return the fd its back-end is to signal: the masked notifier's when masked, else {@code callFd}
     * @throws VhostException when the masked notifier cannot be created
     */
    int backendFd(int index, int callFd) throws VhostException {
        callFds[index] = callFd;
        return masked[index] ? notifier(index).fd() : callFd;
    }

    /** @return whether queue {@code index}'s back-end has {@code fd} as its call fd already */
    boolean hasSent(int index, int fd) {
        return backendCallFds[index] == fd;
    }

    /** Queue {@code index}'s back-end has {@code fd} as its call fd now. */
    void sent(int index, int fd) {
        backendCallFds[index] = fd;
    }

    /**
     * Masks or unmasks queue {@code index}; when {@code running} its back-end is re-pointed with
     * {@code send} first.
     *
     * @throws VhostException from {@code send} (nothing changed) or reading the notifier
     */
    void mask(int index, boolean mask, boolean running, SendCall send) throws VhostException {
        if (masked[index] == mask) {
            return;
        }
        if (running) {
            int fd = mask ? notifier(index).fd() : callFds[index];
            send.send(mask ? "SET_VRING_CALL(masked)" : "SET_VRING_CALL(unmasked)", fd);
            backendCallFds[index] = fd;
        }
        masked[index] = mask;
        if (!mask) {
            boolean signalled = poll(index);
            pending[index] = false;
            if (signalled && callFds[index] >= 0) {
                // Forward the call that arrived while masked, as QEMU re-checks the masked notifier.
                RequestContext.signal(callFds[index]);
            }
        }
    }

    /** @return whether a call arrived on queue {@code index}'s masked notifier (kept until unmasked) */
    boolean poll(int index) {
        EventFd n = notifiers[index];
        try {
            if (n != null && n.drain() > 0) {
                pending[index] = true;
            }
        } catch (VhostNativeException e) {
            throw new java.io.UncheckedIOException("queue " + index + ": reading the masked call notifier", e);
        }
        return pending[index];
    }

    private EventFd notifier(int index) throws VhostException {
        if (notifiers[index] == null) {
            notifiers[index] = EventFd.create();
        }
        return notifiers[index];
    }

    /** Closes the masked notifiers. */
    @Override
    public void close() {
        for (int i = 0; i < notifiers.length; i++) {
            if (notifiers[i] != null) {
                notifiers[i].close();
                notifiers[i] = null;
            }
        }
    }
}
