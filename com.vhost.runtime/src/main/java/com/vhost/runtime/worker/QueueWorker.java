package com.vhost.runtime.worker;

import com.vhost.api.VhostNativeException;
import com.vhost.api.VhostTimeoutException;
import com.vhost.api.VirtqueueException;
import com.vhost.api.virtio.Interrupt;
import com.vhost.runtime.nativeio.Epoll;
import com.vhost.runtime.nativeio.EventFd;
import com.vhost.runtime.nativeio.Linux;
import com.vhost.runtime.virtqueue.DeviceQueue;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Objects;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A thread serving one or more {@link DeviceQueue}s of a back-end device model (rust-vmm
 * {@code vhost-user-backend} {@code event_loop.rs}, crosvm's per-device worker).
 *
 * <p>Queues with a kick eventfd are waited on with {@link Epoll} (token = the queue's position in
 * the list), together with an exit {@link EventFd}. On a kick the worker drains the eventfd and,
 * if the queue is enabled and healthy, runs the handler with notifications suppressed
 * ({@link DeviceQueue#disableNotifications()}), re-arms them ({@link
 * DeviceQueue#enableNotifications()}) and repeats while entries raced in, then signals the used
 * queue through the {@link Interrupt} when {@link DeviceQueue#needsNotification()} says so.
 * Kicks on a disabled or failed queue are drained and dropped. A queue with {@code kickFd == -1}
 * is polled: checked every loop, spinning ({@link Thread#onSpinWait()}) while busy and backing off
 * to bounded epoll timeouts (1 to {@value #MAX_BACKOFF_MS} ms) while idle.
 *
 * <p>A {@link VirtqueueException} (or any runtime exception) from the handler stops that queue
 * and calls {@link Interrupt#signalNeedsReset(String)} with its message; other queues go on.
 *
 * <p>{@link #stop(long)} returns only after the thread ended, so no request is in flight
 * afterwards: the device can report its queues' {@code nextAvail} and sleep without losing one.
 */
public final class QueueWorker {
    private static final Logger LOG = LoggerFactory.getLogger(QueueWorker.class);
    private static final long EXIT_TOKEN = -1L;
    private static final int SPIN_ITERATIONS = 200;
    static final int MAX_BACKOFF_MS = 8;
    private static final int IDLE_WAIT_MS = 1000;

    /** Processes a queue's available chains. */
    @FunctionalInterface
    public interface Handler {
        /**
         * Pops and completes every available chain of {@code queue} (until {@link
         * DeviceQueue#pop} returns false). Runs on the worker thread.
         *
         * @param queueIndex the queue's index ({@link DeviceQueue#index()})
         * @param queue the queue
         * @throws VirtqueueException when the ring or a request is malformed: the queue is stopped
         *     and the device flagged as needing reset
         */
        void process(int queueIndex, DeviceQueue queue) throws VirtqueueException;
    }

    private final String name;
    private final DeviceQueue[] queues;
    private final boolean[] failed;
    private final Handler handler;
    private final Interrupt interrupt;
    private final MemorySegment kickBuf = Arena.ofAuto().allocate(8, 8);
    private final long[] tokens = new long[64];
    private volatile boolean stopping;
    private volatile boolean started;
    private volatile Thread thread;
    private Epoll epoll;
    private EventFd exit;

    /**
     * @param name thread name (e.g. {@code "vhost-blk-disk0"})
     * @param queues the queues to serve; each must stay owned by this worker while it runs
     * @param handler processes a queue
     * @param interrupt used-buffer notifications and needs-reset reports
     */
    public QueueWorker(String name, List<DeviceQueue> queues, Handler handler, Interrupt interrupt) {
        this.name = Objects.requireNonNull(name, "name");
        this.queues = queues.toArray(DeviceQueue[]::new);
        this.failed = new boolean[this.queues.length];
        this.handler = Objects.requireNonNull(handler, "handler");
        this.interrupt = Objects.requireNonNull(interrupt, "interrupt");
    }

    /** @return the served queues, in token order */
    public List<DeviceQueue> queues() {
        return List.of(queues);
    }

    /**
     * @param position the queue's position in {@link #queues()}
     * @return whether the handler failed on it and it was stopped
     */
    public synchronized boolean isFailed(int position) {
        return failed[position];
    }

    /** @return whether the thread is running */
    public boolean isRunning() {
        Thread t = thread;
        return t != null && t.isAlive();
    }

    /**
     * Registers the kick eventfds and starts the thread. A worker starts once.
     *
     * @throws VhostNativeException when epoll or the exit eventfd cannot be set up (nothing is
     *     left open then)
     * @throws IllegalStateException when already started
     */
    public synchronized void start() throws VhostNativeException {
        if (started) {
            throw new IllegalStateException("worker " + name + " was already started");
        }
        Epoll ep = Epoll.create();
        EventFd ex = null;
        try {
            ex = EventFd.create();
            ep.add(ex.fd(), EXIT_TOKEN);
            for (int i = 0; i < queues.length; i++) {
                if (queues[i].kickFd() >= 0) {
                    ep.add(queues[i].kickFd(), i);
                } else {
                    queues[i].disableNotifications(); // polled: the driver need not kick
                }
            }
        } catch (VhostNativeException e) {
            if (ex != null) {
                ex.close();
            }
            ep.close();
            throw e;
        }
        epoll = ep;
        exit = ex;
        started = true;
        Thread t = new Thread(this::run, name);
        t.setDaemon(true);
        thread = t;
        t.start();
    }

    /**
     * Asks the thread to exit and waits for it. Returns only when it has ended, so no request is
     * being processed afterwards. Idempotent; a worker never started returns at once.
     *
     * @param timeoutMs how long to wait for the current handler call to finish
     * @throws VhostTimeoutException when the thread did not end in time (it is still asked to
     *     exit; call again to wait more)
     */
    public void stop(long timeoutMs) throws VhostTimeoutException {
        Thread t = thread;
        if (t == null) {
            return;
        }
        stopping = true;
        try {
            exit.signal();
        } catch (VhostNativeException e) {
            LOG.warn("{}: cannot signal the exit eventfd ({}); relying on the stop flag", name, e.getMessage());
        }
        if (t != Thread.currentThread()) {
            try {
                t.join(Math.max(1, timeoutMs));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new VhostTimeoutException("interrupted while stopping queue worker " + name);
            }
            if (t.isAlive()) {
                throw new VhostTimeoutException("queue worker " + name + " did not stop within " + timeoutMs + " ms");
            }
        }
        synchronized (this) {
            if (epoll != null) {
                epoll.close();
                exit.close();
                epoll = null;
            }
            thread = null;
        }
    }

    private void run() {
        try {
            for (int i = 0; i < queues.length && !stopping; i++) {
                serve(i); // kicks consumed before a sleep may have left entries unprocessed
            }
            int idle = 0;
            int backoffMs = 0;
            while (!stopping) {
                boolean polled = hasPolledQueues();
                int timeout = !polled ? IDLE_WAIT_MS : idle < SPIN_ITERATIONS ? 0 : backoffMs;
                int n = epoll.await(tokens, timeout);
                for (int k = 0; k < n && !stopping; k++) {
                    long token = tokens[k];
                    if (token == EXIT_TOKEN) {
                        continue; // the loop condition sees the stop flag
                    }
                    int i = (int) token;
                    drainKick(i);
                    serve(i);
                }
                if (!polled) {
                    continue;
                }
                boolean work = false;
                for (int i = 0; i < queues.length && !stopping; i++) {
                    if (queues[i].kickFd() < 0 && usable(i) && queues[i].hasAvailable()) {
                        serve(i);
                        work = true;
                    }
                }
                if (work) {
                    idle = 0;
                    backoffMs = 0;
                } else if (++idle < SPIN_ITERATIONS) {
                    Thread.onSpinWait();
                } else {
                    backoffMs = Math.min(MAX_BACKOFF_MS, Math.max(1, backoffMs * 2));
                }
            }
        } catch (VhostNativeException | VirtqueueException e) {
            LOG.error("queue worker {} ends: {}", name, e.getMessage());
            interrupt.signalNeedsReset("queue worker " + name + ": " + e.getMessage());
        } catch (RuntimeException e) {
            LOG.error("queue worker {} ends", name, e);
            interrupt.signalNeedsReset("queue worker " + name + ": " + e);
        }
    }

    private boolean hasPolledQueues() {
        for (int i = 0; i < queues.length; i++) {
            if (queues[i].kickFd() < 0 && usable(i)) {
                return true;
            }
        }
        return false;
    }

    private boolean usable(int i) {
        return queues[i].isEnabled() && !failed[i];
    }

    private void drainKick(int i) throws VhostNativeException {
        // epoll reported the eventfd readable: one read resets its counter (-1 = already empty)
        Linux.read(queues[i].kickFd(), kickBuf, 8);
    }

    /** Runs the handler for queue position {@code i} unless it is disabled or failed. */
    private void serve(int i) {
        if (!usable(i)) {
            return;
        }
        DeviceQueue q = queues[i];
        try {
            if (q.kickFd() < 0) {
                handler.process(q.index(), q);
            } else {
                do {
                    q.disableNotifications();
                    handler.process(q.index(), q);
                } while (!stopping && q.enableNotifications());
            }
            if (q.needsNotification()) {
                interrupt.signalUsedQueue(q.index());
            }
        } catch (VirtqueueException e) {
            fail(i, e.getMessage(), null);
        } catch (RuntimeException e) {
            fail(i, "queue " + q.index() + ": " + e, e);
        }
    }

    private void fail(int i, String message, Throwable cause) {
        synchronized (this) {
            failed[i] = true;
        }
        if (cause != null) {
            LOG.error("{}: stopping {}: {}", name, queues[i], message, cause);
        } else {
            LOG.error("{}: stopping {}: {}", name, queues[i], message);
        }
        interrupt.signalNeedsReset(message);
    }

    @Override
    public String toString() {
        return "QueueWorker[" + name + ", " + queues.length + " queues]";
    }
}
