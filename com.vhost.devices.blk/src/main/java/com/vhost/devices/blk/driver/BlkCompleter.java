package com.vhost.devices.blk.driver;

import com.vhost.api.VhostException;
import com.vhost.api.VhostNativeException;
import com.vhost.api.VhostTimeoutException;
import com.vhost.api.VirtioDeviceException;
import com.vhost.spi.virtqueue.AdaptivePoll;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The completion thread of one {@link BlkRequestQueue} on the high-level path: waits on the call
 * eventfd (polling the used ring first for an adaptive window, {@link AdaptivePoll}), or polls the
 * used ring only in poll mode; completes the futures, and watches the backend.
 * Started by the driver, parked while the data path is held for a swap, snapshot or restore
 * ({@link #requestPause}, {@link #awaitPaused}, {@link #unpause}: no thread is stopped or started
 * inside the I/O pause) and stopped for good ({@link #requestStop}, {@link #stop}) when the queue
 * is handed over to the low-level path or the driver closes.
 */
final class BlkCompleter {
    private static final Logger LOG = LoggerFactory.getLogger(BlkCompleter.class);
    /** Poll mode: how long the thread spins after progress before it parks, in nanoseconds. */
    static final long SPIN_NANOS = BlkRequestQueue.SPIN_NANOS;
    /** Interval of the backend checks while no completion comes, in nanoseconds. */
    private static final long CHECK_NANOS = 100_000_000L;

    private final BlkRequestQueue queue;
    private final VirtioBlkDriver driver;
    /** Notification mode: the poll window before sleeping on the call eventfd; this thread's only. */
    private final AdaptivePoll adaptive = AdaptivePoll.fromSystemProperty();
    private volatile boolean stopping;
    /** The data path is held: the thread parks at its next round and touches no ring until unpaused. */
    private volatile boolean paused;
    /** The thread saw {@link #paused} and parks (it reads no ring until {@link #unpause}). */
    private volatile boolean parked;
    /** Who waits in {@link #awaitPaused}, unparked when the thread parks. */
    private volatile Thread pauser;
    private volatile Thread thread;

    BlkCompleter(BlkRequestQueue queue, VirtioBlkDriver driver) {
        this.queue = queue;
        this.driver = driver;
    }

    /** Starts the thread ({@code vhost-blk-q<index>}). */
    void start() {
        stopping = false;
        paused = false;
        parked = false;
        Thread t = Thread.ofPlatform().daemon().name("vhost-blk-q" + queue.index()).unstarted(this::run);
        thread = t;
        t.start();
    }

    /** Asks the thread to stop at its next round (see {@link #stop}). */
    void requestStop() {
        stopping = true;
    }

    /**
     * Asks the thread to park at its next round (the data path is being held); see {@link #awaitPaused}.
     */
    void requestPause() {
        paused = true;
    }

    /**
     * Wakes the thread and waits (at most 2 s) until it parked: from then on it reads no ring
     * until {@link #unpause}. Returns at once when no thread runs.
     */
    void awaitPaused() {
        Thread t = thread;
        if (t == null || t == Thread.currentThread()) {
            return;
        }
        pauser = Thread.currentThread();
        wake();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(2);
        while (!parked && t.isAlive()) {
            if (System.nanoTime() - deadline > 0) {
                LOG.warn("completion thread of queue {} did not pause within 2 s", queue.index());
                break;
            }
            LockSupport.parkNanos(this, 1_000_000L);
        }
        pauser = null;
    }

    /** Lets a paused thread go on; one that ended meanwhile (driver failed) is started again. */
    void unpause() {
        Thread t = thread;
        if (t == null || !t.isAlive()) {
            start();
            return;
        }
        paused = false;
        LockSupport.unpark(t);
    }

    /** Wakes the thread and waits (at most 2 s) for it to end; stopped or handed over first. */
    void stop() {
        Thread t = thread;
        if (t != null && t != Thread.currentThread()) {
            wake();
            LockSupport.unpark(t); // a paused thread waits in park, not on the call eventfd
            try {
                t.join(2000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            if (t.isAlive()) {
                LOG.warn("completion thread of queue {} did not stop within 2 s", queue.index());
            }
        }
    }

    /** Wakes the thread through the call eventfd; a closed fd is left to the 100 ms timeout. */
    void wake() {
        try {
            queue.signalCall();
        } catch (VhostNativeException e) {
            LOG.debug("queue {}: waking the completion thread: {}", queue.index(), e.getMessage());
        }
    }

    /** @return whether the thread can copy into {@code segment} (not confined to another thread) */
    boolean canAccess(MemorySegment segment) {
        Thread t = thread;
        return t == null || segment.isAccessibleBy(t);
    }

    /**
     * Adaptive polling ({@link AdaptivePoll}, QEMU's {@code poll-max-ns}): while requests are
     * outstanding, checks the used ring for the current window before the thread sleeps on the
     * call eventfd, so a completion that comes within it costs no wake-up.
     *
     * @param waitStart {@link System#nanoTime()} at the start of the wait
     * @return whether completions were found (and completed)
     */
    private boolean pollForCompletions(long waitStart) throws VhostException {
        long window = adaptive.pollNs();
        if (window == 0 || queue.highLevelOutstanding() == 0) {
            return false;
        }
        do {
            Thread.onSpinWait();
            if (queue.drain() > 0) {
                adaptive.record(System.nanoTime() - waitStart);
                return true;
            }
        } while (!stopping && !paused && System.nanoTime() - waitStart < window);
        return false;
    }

    /** Parks until {@link #unpause} (or a stop), after telling {@link #awaitPaused} it does. */
    private void parkWhilePaused() {
        parked = true;
        Thread w = pauser;
        if (w != null) {
            LockSupport.unpark(w);
        }
        while (paused && !stopping && !queue.isLowLevel()) {
            LockSupport.park(this);
        }
        parked = false;
    }

    /**
     * Thread body: until stopped or handed over. Every 100 ms without progress it checks the
     * backend: disconnected, or requests outstanding with no completion for
     * {@link VirtioBlkDriver#requestTimeoutNanos()} (a back-end that died without the connection
     * noticing), fails the driver so no future hangs.
     */
    private void run() {
        int index = queue.index();
        int idle = 0;
        long lastProgress = System.nanoTime();
        long lastCheck = lastProgress;
        while (!stopping && !queue.isLowLevel()) {
            if (paused) {
                parkWhilePaused();
                idle = 0;
                lastProgress = System.nanoTime();
                lastCheck = lastProgress;
                continue;
            }
            try {
                if (driver.failedWith() != null) {
                    return;
                }
                if (queue.drain() > 0) {
                    idle = 0;
                    lastProgress = System.nanoTime();
                    continue;
                }
                if (queue.pollMode()) {
                    // Spin right after progress, then park longer the longer the queue stays idle
                    // (up to 1 ms), so an idle device does not hold one of the shared CPUs.
                    if (System.nanoTime() - lastProgress < SPIN_NANOS) {
                        Thread.onSpinWait();
                    } else {
                        LockSupport.parkNanos(idle < 1000 ? 20_000 : idle < 20_000 ? 200_000 : 1_000_000);
                        idle++;
                    }
                } else {
                    long waitStart = System.nanoTime();
                    if (pollForCompletions(waitStart)) {
                        idle = 0;
                        lastProgress = System.nanoTime();
                        continue;
                    }
                    if (queue.rearm()) {
                        continue;
                    }
                    if (queue.awaitCall(100)) {
                        adaptive.record(System.nanoTime() - waitStart);
                        continue;
                    }
                }
                long now = System.nanoTime();
                if (driver.holding()) {
                    lastProgress = now;
                } else if (now - lastCheck >= CHECK_NANOS) {
                    lastCheck = now;
                    int outstanding = queue.highLevelOutstanding();
                    if (outstanding == 0) {
                        lastProgress = now;
                    }
                    if (!driver.backendConnected()) {
                        driver.backendLost(index);
                    } else if (outstanding > 0 && now - lastProgress > driver.requestTimeoutNanos()) {
                        driver.lost(index, new VhostTimeoutException("queue " + index + ": no completion for "
                                + TimeUnit.NANOSECONDS.toMillis(now - lastProgress) + " ms with " + outstanding
                                + " requests outstanding; back-end " + driver.backendName() + " presumed lost"));
                    }
                }
            } catch (VhostException e) {
                driver.lost(index, e);
            } catch (RuntimeException e) {
                driver.lost(index, new VirtioDeviceException("queue " + index + ": completion thread failed: " + e, e));
            }
        }
    }
}
