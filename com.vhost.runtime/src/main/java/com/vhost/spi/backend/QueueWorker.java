package com.vhost.spi.backend;

import com.vhost.api.VhostException;
import com.vhost.api.VhostNativeException;
import com.vhost.api.VhostTimeoutException;
import com.vhost.api.VirtqueueException;
import com.vhost.api.virtio.Interrupt;
import com.vhost.spi.nativeio.Epoll;
import com.vhost.spi.virtqueue.AdaptivePoll;
import com.vhost.spi.nativeio.EventFd;
import com.vhost.spi.virtqueue.DeviceQueue;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicReference;
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
 * <p>Adaptive polling (QEMU's iothread {@code poll-max-ns}, see {@link AdaptivePoll}): before a
 * worker whose queues all have kick eventfds sleeps in epoll, it turns their notifications off and
 * checks their avail rings for a self-tuning window (0 to {@code vhost.poll.max.ns}, default
 * {@value AdaptivePoll#DEFAULT_MAX_NS} ns), which grows while requests come within it and falls to
 * 0 when they do not. Work found while polling is served without a kick, a wake-up or the driver's
 * eventfd write; notifications are turned back on, and what raced in served, before it sleeps.
 * While an {@link AsyncHandler} has requests in flight, a second window of the same kind (up to
 * {@code vhost.poll.async.max.ns}, default 200 µs: a disk read) polls for their completions too.
 *
 * <p>A failure of one queue's ring or handler, or of its kick fd, stops that queue alone and
 * flags the device as needing reset, naming the queue; what counts as such a failure and how it is
 * reported is {@link QueueFailures}'s documentation.
 *
 * <p>{@link #stop(long)} returns only after the thread ended, so no request is in flight
 * afterwards: the device can report its queues' {@code nextAvail} and sleep without losing one.
 *
 * <p>Queues can also be added and removed one at a time while the thread runs ({@link
 * #addQueue}, {@link #removeQueue}): the change is handed to the worker thread, which applies it
 * between two handler calls, so {@link #removeQueue} returns only once no request of that queue
 * is being processed (vhost-user "ring stopped": its {@code nextAvail} is exact), while the other
 * queues go on being served and no thread is started or stopped. Epoll tokens are queue indices.
 *
 * <p>An {@link AsyncHandler} (1.2.0) completes requests later: the worker also watches its
 * per-queue completion fds and drains a queue's requests before it stops serving the queue.
 */
public final class QueueWorker {
    private static final Logger LOG = LoggerFactory.getLogger(QueueWorker.class);
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
    /** The served queues; replaced (never mutated) by {@link #apply} under this object's lock. */
    private volatile DeviceQueue[] queues;
    /** Per position in {@link #queues}: the handler failed on it. Replaced together with queues. */
    private volatile boolean[] failed;
    /** Queue index to position in {@link #queues}, -1 when not served. Replaced together with queues. */
    private volatile int[] positions;
    private final AtomicReference<QueueChange> pending = new AtomicReference<>();
    /** Serializes {@link #addQueue}/{@link #removeQueue} callers. */
    private final Object changeLock = new Object();
    private final Handler handler;
    /** The handler when its requests complete later (since 1.2.0), else null. */
    private final AsyncHandler async;
    private volatile Interrupt interrupt; // replaced only while no queue is served (rebind)
    private volatile QueueFailures failures;
    private final MemorySegment kickBuf = Arena.ofAuto().allocate(8, 8);
    private final long[] tokens = new long[64];
    private final WorkerPoll poll = new WorkerPoll();
    private volatile boolean stopping;
    /** Set by {@link #addQueue} on a running worker: serve every queue once. */
    private volatile boolean sweep;
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
        DeviceQueue[] qs = queues.toArray(DeviceQueue[]::new);
        for (int i = 0; i < qs.length; i++) {
            for (int k = 0; k < i; k++) {
                if (qs[k].index() == qs[i].index()) {
                    throw new IllegalArgumentException("worker " + name + ": queue " + qs[i].index() + " given twice");
                }
            }
        }
        this.queues = qs;
        this.failed = new boolean[qs.length];
        this.positions = QueueChange.positionsOf(qs);
        this.handler = Objects.requireNonNull(handler, "handler");
        this.async = handler instanceof AsyncHandler a ? a : null;
        this.interrupt = Objects.requireNonNull(interrupt, "interrupt");
        this.failures = new QueueFailures(name, interrupt);
    }

    /**
     * Gives a worker that serves no queue another interrupt (a new vhost-user session's), so its
     * owner can keep the idle thread for the next queues instead of stopping it and starting
     * another (HotSpot's {@code Thread.start} waits until the new thread runs).
     *
     * @throws IllegalStateException when it serves queues
     */
    public synchronized void rebind(Interrupt irq) {
        if (queues.length > 0) {
            throw new IllegalStateException("worker " + name + " serves " + queues.length + " queue(s): no new interrupt");
        }
        failures = new QueueFailures(name, Objects.requireNonNull(irq, "interrupt"));
        interrupt = irq;
    }

    /** @return the served queues, in the order given and added */
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
            ep.add(ex.fd(), WorkerPoll.EXIT_TOKEN);
            for (DeviceQueue q : queues) {
                watchCompletions(ep, q);
                if (q.kickFd() >= 0) {
                    ep.add(q.kickFd(), q.index());
                } else {
                    q.disableNotifications(); // polled: the driver need not kick
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

    /**
     * Starts serving {@code queue} too (a vhost-user ring start), without disturbing the others,
     * on the caller's thread (an append keeps every position valid; no wait for the worker to be
     * scheduled), then wakes a running worker to serve it once (entries made while it was stopped).
     *
     * @param queue a queue whose {@link DeviceQueue#index() index} is not served yet; owned by
     *     this worker from now on
     * @param timeoutMs unused since the change is made on the caller's thread (kept for callers)
     * @throws IllegalArgumentException when a queue with that index is already served
     * @throws VhostNativeException when its kick eventfd cannot be watched (nothing changed)
     */
    public void addQueue(DeviceQueue queue, long timeoutMs) throws VhostException {
        Objects.requireNonNull(queue, "queue");
        QueueChange c = new QueueChange(queue, -1);
        synchronized (changeLock) {
            synchronized (this) {
                apply(c);
            }
            rethrow(c);
            Thread t = thread;
            if (t != null && t != Thread.currentThread()) {
                sweep = true;
                try {
                    exit.signal();
                } catch (VhostNativeException e) {
                    LOG.debug("{}: cannot signal the wake-up eventfd ({}); the worker serves queue {} within {} ms",
                            name, e.getMessage(), queue.index(), IDLE_WAIT_MS);
                }
            }
        }
    }

    /**
     * Stops serving the queue with index {@code queueIndex} (a vhost-user ring stop), without
     * disturbing the others. Returns only once the worker thread no longer processes it: every
     * chain the handler popped from it has been completed, so its {@link DeviceQueue#nextAvail()}
     * is exact. A used-buffer notification it still owed was sent.
     *
     * @param queueIndex the queue's {@link DeviceQueue#index()}
     * @param timeoutMs how long to wait for the handler call in progress to finish
     * @return the removed queue, or null when no queue with that index was served
     * @throws VhostTimeoutException when the worker did not take the change in time (nothing
     *     changed; the queue is still served)
     */
    public DeviceQueue removeQueue(int queueIndex, long timeoutMs) throws VhostException {
        QueueChange c = new QueueChange(null, queueIndex);
        change(c, timeoutMs);
        return c.removed;
    }

    private void change(QueueChange c, long timeoutMs) throws VhostException {
        synchronized (changeLock) {
            Thread t = thread;
            if (t == null || !t.isAlive() || t == Thread.currentThread()) {
                synchronized (this) {
                    apply(c);
                }
            } else {
                pending.set(c);
                try {
                    exit.signal();
                } catch (VhostNativeException e) {
                    LOG.debug("{}: cannot signal the wake-up eventfd ({}); the worker sees the change within {} ms",
                            name, e.getMessage(), IDLE_WAIT_MS);
                }
                c.awaitApplied(t, pending, timeoutMs, name, () -> {
                    synchronized (this) { // the thread ended (stopped or failed): nobody else applies it
                        apply(c);
                    }
                });
            }
            rethrow(c);
        }
    }

    private static void rethrow(QueueChange c) throws VhostException {
        if (c.error instanceof VhostException v) {
            throw v;
        }
        if (c.error instanceof RuntimeException r) {
            throw r;
        }
    }

    /** Applies a change, on the worker thread or while it does not run; holds this object's lock. */
    private void apply(QueueChange c) {
        try {
            DeviceQueue[] qs = queues;
            boolean[] fl = failed;
            if (c.add != null) {
                int idx = c.add.index();
                int[] pos = positions;
                if (idx < pos.length && pos[idx] >= 0) {
                    throw new IllegalArgumentException("worker " + name + " already serves queue " + idx);
                }
                if (epoll != null) {
                    watchCompletions(epoll, c.add);
                    if (c.add.kickFd() >= 0) {
                        epoll.add(c.add.kickFd(), idx);
                    } else {
                        c.add.disableNotifications(); // polled: the driver need not kick
                    }
                }
                DeviceQueue[] nq = Arrays.copyOf(qs, qs.length + 1);
                nq[qs.length] = c.add;
                setQueues(nq, Arrays.copyOf(fl, fl.length + 1));
            } else {
                int[] pos = positions;
                int at = c.removeIndex >= 0 && c.removeIndex < pos.length ? pos[c.removeIndex] : -1;
                if (at >= 0) {
                    DeviceQueue q = qs[at];
                    settle(at);
                    if (epoll != null && q.kickFd() >= 0) {
                        try {
                            epoll.remove(q.kickFd());
                        } catch (VhostNativeException e) {
                            if (fl[at]) { // a dead kick fd was unwatched when the queue failed
                                LOG.debug("{}: unwatching the kick fd of failed queue {}: {}", name, q.index(), e.getMessage());
                            } else {
                                LOG.warn("{}: unwatching the kick eventfd of queue {} failed: {}", name, q.index(), e.getMessage());
                            }
                        }
                    }
                    setQueues(QueueChange.without(qs, at), QueueChange.without(fl, at));
                    c.removed = q;
                }
            }
        } catch (VhostException | RuntimeException e) {
            c.error = e;
        }
        c.done.countDown();
    }

    /**
     * Publishes a new queue set. The order matters to a worker that sees an added queue's position
     * first (from an epoll token): by then it sees the arrays that position indexes.
     */
    private void setQueues(DeviceQueue[] qs, boolean[] fl) {
        failed = fl;
        queues = qs;
        positions = QueueChange.positionsOf(qs);
    }

    /** Takes and applies a change handed over by {@link #change}; on the worker thread. */
    private void takeChange() {
        QueueChange c = pending.getAndSet(null);
        if (c == null) {
            return;
        }
        synchronized (this) {
            apply(c);
        }
        // an added queue's entries made available while it was stopped, and any queue whose
        // serve loop ended early for the change (its notifications still disabled)
        DeviceQueue[] qs = queues;
        for (int i = 0; i < qs.length && !stopping; i++) {
            serve(i);
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
                if (pending.get() != null) {
                    takeChange();
                }
                if (sweep) { // a queue added by addQueue: entries made available while it was stopped
                    sweep = false;
                    for (int i = 0; i < queues.length && !stopping; i++) {
                        serve(i);
                    }
                }
                boolean polled = hasPolledQueues();
                boolean inFlight = !polled && async != null && anyInFlight();
                long waitStart = System.nanoTime();
                long window = poll.window(inFlight);
                if (!polled && window > 0 && pollKicked(waitStart, window)) {
                    continue; // polling found work
                }
                int timeout = !polled ? IDLE_WAIT_MS : idle < SPIN_ITERATIONS ? 0 : backoffMs;
                int n = epoll.await(tokens, timeout);
                if (!polled && n > 0) {
                    poll.woken(tokens, n, System.nanoTime() - waitStart, inFlight);
                }
                for (int k = 0; k < n && !stopping; k++) {
                    long token = tokens[k];
                    if (token == WorkerPoll.EXIT_TOKEN) {
                        exit.drain(); // a stop (the loop condition sees the flag) or a queue change
                        continue;
                    }
                    if ((token & WorkerPoll.COMPLETION_TOKEN) != 0) {
                        completeAt(position((int) token), false);
                        continue;
                    }
                    int i = position((int) token);
                    if (i < 0) {
                        continue; // removed since epoll_wait returned
                    }
                    if (drainKick(i, epoll.readyEvents(k))) {
                        serve(i);
                    }
                }
                if (!polled) {
                    continue;
                }
                DeviceQueue[] qs = queues;
                boolean work = false;
                for (int i = 0; i < qs.length && !stopping; i++) {
                    if (qs[i].kickFd() < 0 && usable(i) && ringHasWork(i)) {
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
        } catch (VhostNativeException e) {
            LOG.error("queue worker {} ends: {}", name, e.getMessage());
            failures.allStopped(queues, "queue worker " + name + ": " + e.getMessage());
        } catch (RuntimeException | Error e) {
            // serve() contains a handler's failures per queue; this is the thread's boundary for
            // the rest (an OutOfMemoryError, a fault outside a handler): no thread dies silently
            LOG.error("queue worker {} ends", name, e);
            failures.allStopped(queues, "queue worker " + name + ": " + e);
        } finally {
            for (int i = 0; i < queues.length; i++) {
                settle(i); // nothing may stay in flight once the thread has ended
            }
        }
    }

    /**
     * The poll phase of a wait (adaptive polling, {@link AdaptivePoll}): with the kicked queues'
     * notifications off, checks their avail rings until work comes or the window ends, then turns
     * notifications back on (serving what came meanwhile, so no kick is missed).
     *
     * @param waitStart {@link System#nanoTime()} at the start of the wait
     * @return whether work was found (and served)
     */
    private boolean pollKicked(long waitStart, long window) {
        int count = queues.length;
        for (int i = 0; i < count; i++) {
            if (usable(i)) {
                ringNotifications(i, false);
            }
        }
        boolean found = false;
        do {
            for (int i = 0; i < count && !stopping; i++) {
                if (async != null && async.hasCompletions(queues[i].index())) {
                    completeAt(i, false); // finished requests, found without the eventfd's wake-up
                    poll.completionFound(System.nanoTime() - waitStart);
                    found = true;
                }
                if (usable(i) && ringHasWork(i)) {
                    serve(i); // ends with the queue's notifications on
                    poll.kickFound(System.nanoTime() - waitStart);
                    found = true;
                }
            }
            if (found) {
                break;
            }
            Thread.onSpinWait();
        } while (!stopping && pending.get() == null && !sweep && System.nanoTime() - waitStart < window);
        for (int i = 0; i < count && !stopping; i++) {
            if (usable(i) && ringNotifications(i, true)) {
                serve(i);
                found = true;
            }
        }
        return found;
    }

    private boolean anyInFlight() {
        DeviceQueue[] qs = queues;
        for (int i = 0; i < qs.length; i++) {
            if (async.hasInFlight(qs[i].index())) {
                return true;
            }
        }
        return false;
    }

    private int position(int queueIndex) {
        int[] pos = positions;
        return queueIndex >= 0 && queueIndex < pos.length ? pos[queueIndex] : -1;
    }

    private boolean hasPolledQueues() {
        DeviceQueue[] qs = queues;
        for (int i = 0; i < qs.length; i++) {
            if (qs[i].kickFd() < 0 && usable(i)) {
                return true;
            }
        }
        return false;
    }

    private boolean usable(int i) {
        return queues[i].isEnabled() && !failed[i];
    }

    /**
     * Consumes the kick of queue position {@code i} ({@link QueueFailures#deadKick}). A dead kick
     * fd is removed from epoll (so the worker does not spin on it), the queue marked failed and the
     * device flagged with a reason naming the queue; the other queues go on, and a new kick fd (the
     * queue removed and added again) serves it again. @return whether to serve the queue
     */
    private boolean drainKick(int i, int events) {
        DeviceQueue q = queues[i];
        String why = QueueFailures.deadKick(q.kickFd(), events, kickBuf);
        if (why == null) {
            return true;
        }
        try {
            epoll.remove(q.kickFd());
        } catch (VhostNativeException e) {
            LOG.warn("{}: unwatching the kick fd of queue {} failed: {}", name, q.index(), e.getMessage());
        }
        fail(i, "queue " + q.index() + ": the kick fd " + why + "; the queue is stopped", null);
        return false;
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
                } while (!stopping && pending.get() == null && q.enableNotifications()); // a change waits for no busy ring
            }
            if (q.needsNotification()) {
                interrupt.signalUsedQueue(q.index());
            }
        } catch (VirtqueueException | RuntimeException | Error e) {
            contain(i, e);
        }
    }

    /**
     * Stops queue position {@code i} for a failure of its ring or handler and flags the device; an
     * {@link OutOfMemoryError} is not the queue's fault and is rethrown (ending the thread, see run).
     */
    private void contain(int i, Throwable e) {
        if (e instanceof OutOfMemoryError oom) {
            throw oom;
        }
        fail(i, QueueFailures.reason(queues[i].index(), e), e instanceof VirtqueueException ? null : e);
    }

    /** Watches an {@link AsyncHandler}'s completion fd for queue {@code q}. */
    private void watchCompletions(Epoll ep, DeviceQueue q) throws VhostNativeException {
        int fd = async != null ? async.completionFd(q.index()) : -1;
        if (fd >= 0) {
            ep.add(fd, WorkerPoll.COMPLETION_TOKEN | q.index());
        }
    }

    /** Completes what finished on queue position {@code i}, or with {@code drain} all; a failure stops the queue. */
    private void completeAt(int i, boolean drain) {
        if (async == null || i < 0) {
            return;
        }
        DeviceQueue q = queues[i];
        try {
            if (drain) {
                async.drain(q.index(), q);
            } else {
                async.complete(q.index(), q);
            }
            if (q.needsNotification()) {
                interrupt.signalUsedQueue(q.index());
                poll.notified();
            }
        } catch (VirtqueueException | RuntimeException | Error e) {
            if (failed[i]) {
                LOG.debug("{}: completing requests of failed queue {}: {}", name, q.index(), e.toString());
            } else {
                contain(i, e);
            }
        }
    }

    /** Before queue position {@code i} stops being served: drains its requests, unwatches its completion fd. */
    private void settle(int i) {
        completeAt(i, true);
        int fd = async != null && epoll != null ? async.completionFd(queues[i].index()) : -1;
        try {
            if (fd >= 0) {
                epoll.remove(fd);
            }
        } catch (VhostNativeException e) {
            LOG.debug("{}: unwatching the completion fd of queue {}: {}", name, queues[i].index(), e.getMessage());
        }
    }

    /** @return whether queue position {@code i} has available chains; false after a fault (contained) */
    private boolean ringHasWork(int i) {
        try {
            return queues[i].hasAvailable();
        } catch (VirtqueueException | RuntimeException | Error e) {
            contain(i, e);
            return false;
        }
    }

    /**
     * Turns queue position {@code i}'s notifications on or off for the poll phase.
     *
     * @return after turning them on, whether chains came meanwhile; false after a fault (contained)
     */
    private boolean ringNotifications(int i, boolean on) {
        try {
            if (on) {
                return queues[i].enableNotifications();
            }
            queues[i].disableNotifications();
        } catch (VirtqueueException | RuntimeException | Error e) {
            contain(i, e);
        }
        return false;
    }

    private void fail(int i, String message, Throwable cause) {
        synchronized (this) {
            failed[i] = true;
        }
        failures.stopped(queues[i], message, cause);
    }

    @Override
    public String toString() {
        return "QueueWorker[" + name + ", " + queues.length + " queues]";
    }
}
