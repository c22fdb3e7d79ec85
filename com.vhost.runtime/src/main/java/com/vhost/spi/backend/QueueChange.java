package com.vhost.spi.backend;

import com.vhost.spi.virtqueue.DeviceQueue;
import java.util.concurrent.CountDownLatch;

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
}
