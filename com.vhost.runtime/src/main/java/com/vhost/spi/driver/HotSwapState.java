package com.vhost.spi.driver;

import com.vhost.api.VhostBackend;
import com.vhost.api.VhostDisconnectedException;
import com.vhost.api.VhostException;
import com.vhost.api.VhostTimeoutException;
import com.vhost.api.VirtioDeviceException;
import com.vhost.spi.vhost.GenericVhostDevice;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Supplier;
import org.slf4j.Logger;

/**
 * The hot-swap bookkeeping a virtio driver (blk, net) keeps beside its rings, held by the driver
 * (composition): the bounded swap lock, whether and since when no backend is attached
 * ({@code swap.wait.ms}), detach-on-loss, the swap counters and the pause/switch measurement.
 * What a driver does to its rings and backends during a swap stays in the driver.
 *
 * <p>Thread-safety: the fields are volatile or atomic; the driver writes the detached state and
 * the swap results with its swap lock held (and whatever data-path locks it takes), and reads
 * them from any thread. No method allocates except those that build a message or an exception,
 * so the data-path checks ({@link #expired}, {@link #isDetached}, {@link #firstCompletion}) cost
 * no allocation per request or frame.
 */
public final class HotSwapState {
    /** Bound on taking the swap lock: another rebind/detach/close (or command) may hold it that long, 30 s. */
    public static final long LOCK_WAIT_SECONDS = 30;

    private final String device;
    private final String holders;
    private final Logger log;
    private final Supplier<String> attachedName;
    private final ReentrantLock lock = new ReentrantLock();
    /** System.nanoTime() after which a detached device's held work fails; 0 while a backend is attached. */
    private volatile long detachedDeadline;
    private volatile String detachedFrom;
    private volatile long swapWaitNanos;
    private volatile boolean detachOnLoss;
    private final AtomicLong swaps = new AtomicLong();
    private final AtomicLong statesCarried = new AtomicLong();
    /** Nonzero while the first completion after a swap is awaited: the old backend's last completion time. */
    private final AtomicLong pauseFrom = new AtomicLong();
    private final AtomicLong pausesMeasured = new AtomicLong();
    private volatile long lastPauseNanos = -1;
    private volatile long lastSwitchNanos = -1;

    /**
     * @param device the device's name in messages, e.g. {@code virtio-blk}
     * @param holders what may hold the swap lock, in the timeout message, e.g.
     *     {@code rebind/detach/close}
     * @param log the driver's logger (state carrying is logged there)
     * @param attachedName the attached backend's description ({@link VhostBackend#describe()}),
     *     asked only while a backend is attached
     * @param swapWaitNanos the initial {@code swap.wait.ms} in nanoseconds, not negative
     * @throws IllegalArgumentException when {@code swapWaitNanos} is negative
     */
    public HotSwapState(String device, String holders, Logger log, Supplier<String> attachedName, long swapWaitNanos) {
        this.device = Objects.requireNonNull(device, "device");
        this.holders = Objects.requireNonNull(holders, "holders");
        this.log = Objects.requireNonNull(log, "log");
        this.attachedName = Objects.requireNonNull(attachedName, "attachedName");
        setSwapWaitNanos(swapWaitNanos);
    }

    // ---- the swap lock ----

    /**
     * Takes the swap lock, waiting at most {@value #LOCK_WAIT_SECONDS} s.
     *
     * @param what the operation, first in the message (e.g. {@code rebind})
     * @param toClose closed when the lock is refused (a backend handed to the driver), or null
     * @throws VhostTimeoutException when another holder keeps it longer, or the wait is interrupted
     *     (the interrupt flag is set again)
     */
    public void lock(String what, VhostBackend toClose) throws VhostException {
        if (!tryLock()) {
            if (toClose != null) {
                toClose.close();
            }
            throw new VhostTimeoutException(what + ": another " + holders + " of " + device + " on " + backendName()
                    + " did not finish within " + LOCK_WAIT_SECONDS + " s");
        }
    }

    /**
     * Takes the swap lock, waiting at most {@value #LOCK_WAIT_SECONDS} s (for close, which goes on
     * without it).
     *
     * @return whether it was taken; false also when interrupted (the interrupt flag is set again)
     */
    public boolean tryLock() {
        try {
            return lock.tryLock(LOCK_WAIT_SECONDS, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    /** Releases the swap lock taken by {@link #lock} or {@link #tryLock}. */
    public void unlock() {
        lock.unlock();
    }

    /**
     * @param what the operation refused (e.g. {@code detach})
     * @param closed whether the driver is closed (else it failed)
     * @param failure why it failed; read only when not {@code closed}
     * @return the refusal of a swap operation on a closed or failed driver, naming which
     */
    public VirtioDeviceException refusal(String what, boolean closed, VhostException failure) {
        return new VirtioDeviceException(what + ": " + device + " on " + backendName() + " is "
                + (closed ? "closed" : "failed: " + failure.getMessage()));
    }

    // ---- attached / detached ----

    /** @return the attached backend's description, or {@code (no backend; was NAME)} while detached */
    public String backendName() {
        return detachedDeadline != 0 ? "(no backend; was " + detachedFrom + ")" : attachedName.get();
    }

    /** @return whether no backend is attached */
    public boolean isDetached() {
        return detachedDeadline != 0;
    }

    /** @return System.nanoTime() after which held work fails; 0 while a backend is attached */
    public long detachedDeadline() {
        return detachedDeadline;
    }

    /** @return the description of the last backend closed by a swap or detach, or null after a rebind */
    public String detachedFrom() {
        return detachedFrom;
    }

    /**
     * Records the backend a swap or detach is closing, so that messages name it once it is gone.
     *
     * @param backend its {@link VhostBackend#describe()}
     */
    public void leaving(String backend) {
        detachedFrom = backend;
    }

    /**
     * Marks the device detached from {@code from}: held work may wait {@link #swapWaitNanos()}
     * from now.
     *
     * @param from the description of the backend that went away
     * @return the deadline stored (System.nanoTime() based, never 0)
     */
    public long markDetached(String from) {
        long deadline = System.nanoTime() + swapWaitNanos;
        long stored = deadline == 0 ? 1 : deadline;
        detachedFrom = from;
        detachedDeadline = stored;
        return stored;
    }

    /**
     * Marks a new backend attached; the pause measurement starts at {@code pauseFrom}.
     *
     * @param pauseFrom System.nanoTime() of the last completion on the old backend (or the swap's
     *     start), not 0
     */
    public void attached(long pauseFrom) {
        this.pauseFrom.set(pauseFrom);
        detachedDeadline = 0;
        detachedFrom = null;
    }

    /**
     * @return the error held work fails with because the device has been without a backend longer
     *     than its swap wait, or null while it may still wait (or a backend is attached)
     */
    public VhostDisconnectedException expired() {
        long d = detachedDeadline;
        if (d != 0 && System.nanoTime() - d > 0) {
            return new VhostDisconnectedException(device + ": no backend since " + detachedFrom + " went away; waited "
                    + TimeUnit.NANOSECONDS.toMillis(swapWaitNanos) + " ms (swap.wait.ms) for a new one");
        }
        return null;
    }

    /**
     * @param what the operation (e.g. {@code snapshot})
     * @throws VirtioDeviceException when no backend is attached
     */
    public void requireAttached(String what) throws VirtioDeviceException {
        if (detachedDeadline != 0) {
            throw new VirtioDeviceException(what + ": " + device + " has no backend since " + detachedFrom
                    + " went away; bind it first (vhost:swap)");
        }
    }

    // ---- settings ----

    /** @return {@code swap.wait.ms} in nanoseconds: how long held work waits for a backend */
    public long swapWaitNanos() {
        return swapWaitNanos;
    }

    /**
     * @param nanos how long held work waits for a backend (0: it fails at once)
     * @throws IllegalArgumentException when negative
     */
    public void setSwapWaitNanos(long nanos) {
        if (nanos < 0) {
            throw new IllegalArgumentException("swap wait " + nanos + " ns is negative");
        }
        swapWaitNanos = nanos;
    }

    /** @return whether a lost backend detaches the device rather than failing it */
    public boolean detachOnLoss() {
        return detachOnLoss;
    }

    /** @param on whether a lost backend detaches the device rather than failing it */
    public void setDetachOnLoss(boolean on) {
        detachOnLoss = on;
    }

    // ---- measurement and counters ----

    /**
     * Notes a completion at {@code now}; the first one after a swap ends its pause (measured once,
     * whichever thread sees it first).
     *
     * @param now System.nanoTime()
     * @return the pause it ended in nanoseconds, or -1 when no pause was being measured
     */
    public long firstCompletion(long now) {
        long from = pauseFrom.get();
        if (from != 0 && pauseFrom.compareAndSet(from, 0)) {
            long pause = now - from;
            lastPauseNanos = pause;
            pausesMeasured.incrementAndGet();
            return pause;
        }
        return -1;
    }

    /**
     * Counts a finished swap.
     *
     * @param t0 System.nanoTime() when the swap started holding the data path
     */
    public void swapped(long t0) {
        lastSwitchNanos = System.nanoTime() - t0;
        swaps.incrementAndGet();
    }

    /**
     * Moves the old back-end's internal state to the new one when both negotiated DEVICE_STATE:
     * SAVE from {@code from}, whose rings were just stopped, LOAD into {@code to}, whose rings are
     * not started yet (vhost-user "Migrating back-end state"; {@link DeviceStateTransfer}).
     * Optional: a failure is logged and the swap goes on without it; a carried state is counted.
     *
     * @param timeoutMs bound on the SAVE and on the LOAD, in milliseconds
     */
    public void carryState(GenericVhostDevice from, GenericVhostDevice to, long timeoutMs) {
        long t0 = System.nanoTime();
        try {
            int n = DeviceStateTransfer.carry(from, to, timeoutMs);
            if (n >= 0) {
                statesCarried.incrementAndGet();
                log.debug("{}: device state ({} bytes) carried from {} to {} in {} us", device, n, from.backend().describe(),
                        to.backend().describe(), (System.nanoTime() - t0) / 1000);
            }
        } catch (VhostException | RuntimeException e) {
            log.warn("{}: carrying the device state of {} to {} failed ({}); the swap goes on", device,
                    from.backend().describe(), to.backend().describe(), e.getMessage());
        }
    }

    /** @return swaps finished */
    public long swaps() {
        return swaps.get();
    }

    /** @return swaps that moved the back-end's state through DEVICE_STATE */
    public long statesCarried() {
        return statesCarried.get();
    }

    /** @return the pause of the last swap in nanoseconds; -1 before any was measured */
    public long lastPauseNanos() {
        return lastPauseNanos;
    }

    /** @return swaps whose pause has been measured */
    public long pausesMeasured() {
        return pausesMeasured.get();
    }

    /** @return how long the last swap held the data path in nanoseconds; -1 before any */
    public long lastSwitchNanos() {
        return lastSwitchNanos;
    }

    /**
     * Puts {@code states.carried}, {@code pauses.measured}, {@code last.pause.us},
     * {@code last.pause.ns} and {@code last.switch.us} (-1 when none) into {@code m}, in that order.
     */
    public void putSwapCounters(Map<String, Long> m) {
        m.put("states.carried", statesCarried.get());
        m.put("pauses.measured", pausesMeasured.get());
        long p = lastPauseNanos;
        m.put("last.pause.us", p < 0 ? -1 : TimeUnit.NANOSECONDS.toMicros(p));
        m.put("last.pause.ns", p);
        long sw = lastSwitchNanos;
        m.put("last.switch.us", sw < 0 ? -1 : TimeUnit.NANOSECONDS.toMicros(sw));
    }
}
