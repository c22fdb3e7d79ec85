package com.vhost.spi.backend;

import com.vhost.api.VhostTimeoutException;
import com.vhost.spi.virtqueue.DeviceQueue;
import java.util.Arrays;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

/** A queue added to or removed from a running {@link QueueWorker}, handed to its thread. */
final class QueueChange {
    final DeviceQueue add;
    final int removeIndex;
    final CountDownLatch done = new CountDownLatch(1);
    DeviceQueue removed;
    /** A {@code VhostException} or an {@link IllegalArgumentException}, when refused. */
    Exception error;

    QueueChange(DeviceQueue add, int removeIndex) {
        this.add = add;
        this.removeIndex = removeIndex;
    }

    /**
     * Waits for worker thread {@code t} to take and apply this change, handed over in {@code
     * pending}. When the thread has ended, the change is taken back and applied by {@code
     * applyHere}; when the time is up (or the caller is interrupted) before the worker took it, it
     * is taken back and nothing changed.
     *
     * @throws VhostTimeoutException when the worker did not take it within {@code timeoutMs} or the
     *     caller was interrupted first
     */
    void awaitApplied(Thread t, AtomicReference<QueueChange> pending, long timeoutMs, String worker, Runnable applyHere)
            throws VhostTimeoutException {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(Math.max(1, timeoutMs));
        try {
            while (!done.await(10, TimeUnit.MILLISECONDS)) {
                if (!t.isAlive() && pending.compareAndSet(this, null)) {
                    applyHere.run();
                    break;
                }
                if (System.nanoTime() - deadline > 0 && pending.compareAndSet(this, null)) {
                    throw new VhostTimeoutException("queue worker " + worker + " did not "
                            + (add != null ? "start queue " + add.index() : "stop queue " + removeIndex)
                            + " within " + timeoutMs + " ms");
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            if (pending.compareAndSet(this, null)) {
                throw new VhostTimeoutException("interrupted while changing the queues of worker " + worker);
            }
            awaitTaken(); // the worker took it: applying it is quick
        }
    }

    /** Waits, uninterruptibly, for the worker thread that took this change to apply it. */
    void awaitTaken() {
        boolean interrupted = false;
        while (true) {
            try {
                done.await();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    /** @return queue index to position in {@code qs}, -1 where no queue has that index */
    static int[] positionsOf(DeviceQueue[] qs) {
        int max = -1;
        for (DeviceQueue q : qs) {
            max = Math.max(max, q.index());
        }
        int[] pos = new int[max + 1];
        Arrays.fill(pos, -1);
        for (int i = 0; i < qs.length; i++) {
            pos[qs[i].index()] = i;
        }
        return pos;
    }

    /** @return {@code qs} without position {@code at} */
    static DeviceQueue[] without(DeviceQueue[] qs, int at) {
        DeviceQueue[] n = new DeviceQueue[qs.length - 1];
        System.arraycopy(qs, 0, n, 0, at);
        System.arraycopy(qs, at + 1, n, at, qs.length - at - 1);
        return n;
    }

    /** @return {@code flags} without position {@code at} */
    static boolean[] without(boolean[] flags, int at) {
        boolean[] n = new boolean[flags.length - 1];
        System.arraycopy(flags, 0, n, 0, at);
        System.arraycopy(flags, at + 1, n, at, flags.length - at - 1);
        return n;
    }
}
