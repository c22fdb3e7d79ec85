package com.vhost.user.backend.session;

import com.vhost.api.VhostException;
import com.vhost.api.DeviceStateBackend;
import com.vhost.api.user.DeviceStateDirection;
import com.vhost.spi.nativeio.Linux;
import com.vhost.spi.nativeio.Scheduling;
import com.vhost.spi.nativeio.OwnedFd;
import com.vhost.user.connection.StatePipe;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * One SET_DEVICE_STATE_FD transfer: the bytes moved through the front-end's pipe, on a pooled
 * thread or, when that cannot block, on the session thread (QEMU
 * {@code docs/interop/vhost-user.rst}, "Migrating back-end state"). Each transfer is bounded by
 * {@link DeviceStateTransfers#TRANSFER_TIMEOUT_MS}; the pipe end is closed when it ends (for SAVE, the
 * front-end's end of file).
 */
final class StateTransfer {
    final DeviceStateDirection direction;
    private final CountDownLatch done = new CountDownLatch(1);
    /** LOAD: what was read, once the transfer ended without error. */
    private volatile byte[] loaded;
    /** Why the transfer failed; null while running or after success. */
    private volatile String error;
    /** Set by whoever runs the transfer: the pool thread, or the session thread at CHECK. */
    private final AtomicBoolean claimed = new AtomicBoolean();
    private final OwnedFd fd;
    private final byte[] save;

    /**
     * Starts the transfer: a SAVE of at most {@value DeviceStateTransfers#INLINE_SAVE_BYTES} bytes into an
     * fd ready for writing cannot block (a pipe takes PIPE_BUF bytes at once) and is written at
     * once, saving a thread hand-off during a hot-swap; anything else is handed to
     * {@code threads} (a LOAD not taken by a thread yet when CHECK_DEVICE_STATE arrives is read by
     * the session thread then: see {@link #finish}).
     *
     * @param fd the pipe end, owned from here on
     * @param save the bytes to SAVE; null for LOAD
     * @throws java.util.concurrent.RejectedExecutionException when {@code threads} is shut down
     *     (then the caller still owns nothing: {@code fd} is closed)
     */
    StateTransfer(Executor threads, DeviceStateDirection direction, OwnedFd fd, byte[] save) {
        this.direction = direction;
        this.fd = fd;
        this.save = save;
        boolean inline = false;
        if (direction == DeviceStateDirection.SAVE && save.length <= DeviceStateTransfers.INLINE_SAVE_BYTES) {
            try {
                inline = (Linux.poll(fd.fd(), Linux.POLLOUT, 0) & Linux.POLLOUT) != 0;
            } catch (VhostException e) {
                inline = false; // the thread reports it
            }
        }
        if (inline) {
            claimed.set(true);
            run();
        } else {
            try {
                threads.execute(() -> {
                    if (claimed.compareAndSet(false, true)) {
                        // a swap's CHECK_DEVICE_STATE waits for this thread: it runs under
                        // SCHED_FIFO where permitted, for one transfer (bounded by its timeout)
                        try (Scheduling.Boost b = Scheduling.boost()) {
                            run();
                        }
                    }
                });
            } catch (RuntimeException e) {
                fd.close();
                throw e;
            }
        }
    }

    boolean running() {
        return done.getCount() != 0;
    }

    /** @return the LOADed bytes after a successful {@link #finish} */
    byte[] loaded() {
        return loaded;
    }

    /** @return why the transfer failed, null after success */
    String error() {
        return error;
    }

    /**
     * At CHECK_DEVICE_STATE: the front-end has written and closed its end, so a LOAD no thread
     * took yet finds its bytes and the end of file in the pipe (more than the pipe holds would
     * have needed the thread to read) and is read here, saving a thread hand-off.
     *
     * @return whether the transfer ended within {@code timeoutMs}
     */
    boolean finish(long timeoutMs) throws InterruptedException {
        if (claimed.compareAndSet(false, true)) {
            run();
        }
        return done.await(timeoutMs, TimeUnit.MILLISECONDS);
    }

    private void run() {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(DeviceStateTransfers.TRANSFER_TIMEOUT_MS);
        try {
            if (direction == DeviceStateDirection.SAVE) {
                StatePipe.writeFully(fd.fd(), save, deadline, "device state SAVE");
            } else {
                loaded = StatePipe.readToEof(fd.fd(), DeviceStateBackend.MAX_STATE_BYTES, deadline, "device state LOAD");
            }
        } catch (VhostException | RuntimeException e) {
            error = e.getMessage();
        } finally {
            fd.close(); // SAVE: end of file for the front-end
            done.countDown();
        }
    }
}
