package com.vhost.spi.memory;

import java.util.concurrent.atomic.AtomicLongArray;

/**
 * Where a vhost back-end logs its writes to guest memory during a migration (QEMU
 * {@code docs/interop/vhost-user.rst}, "Migration" and SET_LOG_BASE; Linux
 * {@code drivers/vhost/vhost.c} {@code vhost_log_write}): the {@link DirtyBitmap} the front-end
 * handed over, whether {@code VHOST_F_LOG_ALL} (bit 26) is acked, and per queue the guest-physical
 * address of its used ring when {@code VHOST_VRING_F_LOG} is set in its ring address flags.
 *
 * <p>One per back-end session, reached by the session's queues through the {@link GuestMemoryMap}
 * they run over ({@link GuestMemoryMap#writeLog()}). The session thread changes it while rings run
 * (SET_FEATURES turning LOG_ALL on or off, SET_LOG_BASE, SET_VRING_ADDR toggling the flag); the
 * queue workers {@link #acquire()} the bitmap once per completion: one volatile read and a branch
 * when logging is off. Thread-safe.
 */
public final class WriteLog {
    /** Never logs: for memory no back-end session owns (a driver's own rings, tests). */
    public static final WriteLog OFF = new WriteLog(0);

    private final AtomicLongArray usedLog;
    private volatile DirtyBitmap bitmap;
    private volatile boolean logAll;
    /** {@link #bitmap} while {@link #logAll}, else null: what the data path reads. */
    private volatile DirtyBitmap active;

    /** @param queues how many queues may set a used-ring log address */
    public WriteLog(int queues) {
        usedLog = new AtomicLongArray(queues);
        for (int i = 0; i < queues; i++) {
            usedLog.set(i, -1);
        }
    }

    /** @return the bitmap to mark now, or null when logging is off (no log, or LOG_ALL not acked) */
    public DirtyBitmap active() {
        return active;
    }

    /**
     * Begins a mark: the bitmap to mark now, held (not unmapped) until {@link DirtyBitmap#exit()},
     * which the caller must call; or null when logging is off (one volatile read). A bitmap that
     * was replaced meanwhile is not handed out: the mark goes to its successor.
     *
     * @return the bitmap, or null
     */
    public DirtyBitmap acquire() {
        while (true) {
            DirtyBitmap b = active;
            if (b == null) {
                return null;
            }
            b.enter();
            if (active == b) {
                return b;
            }
            b.exit();
        }
    }

    /**
     * Installs the log of a SET_LOG_BASE (null: none).
     *
     * @return the log it replaces (the caller unmaps it after {@link DirtyBitmap#awaitUnused}), or null
     */
    public synchronized DirtyBitmap setBitmap(DirtyBitmap b) {
        DirtyBitmap old = bitmap;
        bitmap = b;
        active = logAll ? b : null;
        return old;
    }

    /** Turns logging on or off, as SET_FEATURES acks or drops {@code VHOST_F_LOG_ALL}. */
    public synchronized void setLogAll(boolean on) {
        logAll = on;
        active = on ? bitmap : null;
    }

    /** @return whether {@code VHOST_F_LOG_ALL} is acked */
    public boolean logAll() {
        return logAll;
    }

    /**
     * Sets where queue {@code queue}'s used ring is logged: {@code log_guest_addr} of SET_VRING_ADDR
     * when it carries {@code VHOST_VRING_F_LOG}, -1 when it does not.
     *
     * @throws IndexOutOfBoundsException for a queue this log was not made for
     */
    public void setUsedLog(int queue, long guestAddr) {
        usedLog.set(queue, guestAddr);
    }

    /**
     * @return the guest-physical address to log queue {@code queue}'s used-ring writes at, or -1
     *     (not logged, also for a queue this log was not made for)
     */
    public long usedLog(int queue) {
        return queue >= 0 && queue < usedLog.length() ? usedLog.get(queue) : -1;
    }
}
