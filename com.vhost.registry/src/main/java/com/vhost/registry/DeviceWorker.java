package com.vhost.registry;

import com.vhost.api.VhostException;
import com.vhost.api.VhostTimeoutException;
import com.vhost.api.VirtioDeviceException;
import com.vhost.api.registry.DeviceInfo;
import com.vhost.api.registry.VirtioDriver;
import com.vhost.registry.BindingAction.*;
import com.vhost.registry.BindingInput.*;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Carries out the {@link BindingAction}s of one device's {@link DeviceBinding} and feeds their
 * results back. One daemon thread ({@code vhost-device}) per device runs the slow actions (open,
 * rebind), the retry timers and the health check every {@link DeviceBinding#HEALTH_PERIOD_MS} ms;
 * detach and close run on the thread whose input called for them, so a DS unbind returns only
 * once the driver is off the leaving service.
 *
 * <p>Locking: the machine is fed under its own monitor (never held while a driver or backend is
 * called); {@link #driverLock} serialises everything that touches the driver (open and rebind on
 * the worker, detach and close on DS threads, snapshot and restore). Inputs whose answer depends on
 * where the driver is (a backend or factory leaving, a configuration change, deactivation) take the
 * driver lock before they are fed, so a move in progress finishes first.
 */
final class DeviceWorker {
    /** Logged under the component's name: the integration tests and operators match these lines. */
    private static final Logger LOG = LoggerFactory.getLogger(DeviceComponent.class);
    /** Bound (s) on waiting for an open or move in progress at deactivation, and for the thread to end. */
    static final long STOP_SECONDS = 10;
    /** Bound (s) on an operator's swap waiting for the move. */
    static final long SWAP_WAIT_SECONDS = 2 * STOP_SECONDS + 30;

    private final DeviceBinding machine = new DeviceBinding();
    private final ReentrantLock driverLock = new ReentrantLock();
    private final ScheduledThreadPoolExecutor executor = new ScheduledThreadPoolExecutor(1, r -> {
        Thread t = new Thread(r, "vhost-device");
        t.setDaemon(true);
        return t;
    });
    /** System.nanoTime() of the last detach: the pause of a detached driver's next move counts from it. */
    private volatile long detachedAt;
    private final AtomicLong snapshots = new AtomicLong();
    private final AtomicLong restores = new AtomicLong();

    DeviceWorker() {
        executor.setExecuteExistingDelayedTasksAfterShutdownPolicy(false);
    }

    /**
     * Feeds a DS event; a detach or close it calls for is done before this returns. A backend or
     * factory leaving and a configuration change first wait (at most 20 s, then go on without)
     * for an open or move in progress, whose result decides what the driver has to leave.
     */
    void fire(BindingInput input) {
        boolean waits = input instanceof BackendRemoved || input instanceof FactoryRemoved
                || input instanceof Reconfigured;
        boolean locked = waits && lockDriver(2 * STOP_SECONDS);
        try {
            execute(apply(input), waits);
        } finally {
            if (locked) {
                driverLock.unlock();
            }
        }
    }

    /** Runs {@code actions}, taking the driver lock for a detach or close unless the caller already tried to. */
    private void execute(List<BindingAction> actions, boolean triedLock) {
        boolean locked = !triedLock && actions.stream().anyMatch(a -> a instanceof Detach || a instanceof Close)
                && lockDriver(2 * STOP_SECONDS);
        try {
            run(actions);
        } finally {
            if (locked) {
                driverLock.unlock();
            }
        }
    }

    private List<BindingAction> apply(BindingInput input) {
        synchronized (machine) {
            List<BindingAction> actions = machine.apply(input);
            machine.notifyAll(); // swap() waits for the machine to settle
            return actions;
        }
    }

    /** Carries out {@code actions} in order; the caller holds {@link #driverLock} when they touch the driver. */
    private void run(List<BindingAction> actions) {
        for (BindingAction a : actions) {
            switch (a) {
                case Log l -> log(l);
                case Open o -> submit(o.ticket(), () -> DriverCalls.open(o, id()));
                case Rebind r -> submit(r.ticket(), () -> DriverCalls.rebind(r, detachedAt, id()));
                case Detach d -> {
                    long t0 = System.nanoTime();
                    BindingInput result = DriverCalls.detach(d, id());
                    if (result instanceof Detached) {
                        detachedAt = t0;
                    }
                    run(apply(result));
                }
                case Close c -> DriverCalls.close(c.driver(), c.reason(), id());
                case ScheduleRetry r -> schedule(() -> onWorker(() -> new RetryFired(r.ticket())), r.delayMs());
                case StartHealthChecks h -> {
                    try {
                        executor.scheduleWithFixedDelay(this::healthTick, h.periodMs(), h.periodMs(), TimeUnit.MILLISECONDS);
                    } catch (RejectedExecutionException e) {
                        // Deactivating.
                    }
                }
                case ProbeHealth p -> run(apply(new HealthChecked(p.connection(), DriverCalls.connected(p.connection()))));
                case Refuse r -> { } // swap() answers it
            }
        }
    }

    private static void log(Log l) {
        switch (l.level()) {
            case DEBUG -> LOG.debug(l.message());
            case INFO -> LOG.info(l.message());
            case WARN -> LOG.warn(l.message());
            case ERROR -> LOG.error(l.message());
        }
    }

    /** Runs an open or move on the worker with the driver lock, unless by then the machine no longer wants it. */
    private void submit(long ticket, Supplier<BindingInput> work) {
        try {
            executor.execute(() -> onWorker(() -> wanted(ticket) ? work.get() : new Abandoned(ticket)));
        } catch (RejectedExecutionException e) {
            run(apply(new Abandoned(ticket))); // deactivated: nothing left to do
        }
    }

    private boolean wanted(long ticket) {
        synchronized (machine) {
            return machine.isWanted(ticket);
        }
    }

    private void schedule(Runnable r, long delayMs) {
        try {
            executor.schedule(r, delayMs, TimeUnit.MILLISECONDS);
        } catch (RejectedExecutionException e) {
            // Deactivating.
        }
    }

    /** Feeds the input {@code work} gives (it may call the driver) with the driver lock held; on the worker only. */
    private void onWorker(Supplier<BindingInput> work) {
        try {
            driverLock.lockInterruptibly();
        } catch (InterruptedException e) {
            return; // deactivation interrupted the thread
        }
        try {
            run(apply(work.get()));
        } finally {
            driverLock.unlock();
        }
    }

    private void healthTick() {
        if (driverLock.tryLock()) { // busy: the next period tries again
            try {
                run(apply(new HealthTick()));
            } catch (RuntimeException e) {
                LOG.warn("device {}: health check failed: {}", id(), e.toString()); // a throw would end the timer
            } finally {
                driverLock.unlock();
            }
        }
    }

    /**
     * Waits up to {@code seconds} s for {@link #driverLock}.
     *
     * @return whether it is held; false after the bound or an interrupt (logged): the caller goes on
     *     without it, relying on the driver's own bounded serialisation of rebind/detach/close
     */
    private boolean lockDriver(long seconds) {
        try {
            if (driverLock.tryLock(seconds, TimeUnit.SECONDS)) {
                return true;
            }
            LOG.warn("device {}: a backend move is still running after {} s; going on without waiting", id(), seconds);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return false;
    }

    /**
     * Deactivation: waits (at most {@link #STOP_SECONDS} s) for an open or move in progress,
     * closes the driver, then ends the thread (at most {@link #STOP_SECONDS} s more, then
     * interrupts it). Idempotent.
     */
    void stop() {
        boolean locked = lockDriver(STOP_SECONDS);
        try {
            run(apply(new Deactivated()));
        } finally {
            if (locked) {
                driverLock.unlock();
            }
        }
        executor.shutdown();
        try {
            if (!executor.awaitTermination(STOP_SECONDS, TimeUnit.SECONDS)) {
                LOG.warn("device {}: connect still running after {} s; interrupting it", id(), STOP_SECONDS);
                executor.shutdownNow();
            }
        } catch (InterruptedException e) {
            executor.shutdownNow();
            Thread.currentThread().interrupt();
        }
    }

    /**
     * The operator's swap: feeds {@link SwapRequested} and waits (at most {@link #SWAP_WAIT_SECONDS} s)
     * for the move.
     *
     * @throws VirtioDeviceException no running driver, the device is being removed, or the move failed
     * @throws VhostTimeoutException the move did not end in time, or the wait was interrupted
     */
    String swap(DeviceBinding.Backend to, String target) throws VhostException {
        if (executor.isShutdown()) {
            throw new VirtioDeviceException("swap: device " + id() + " is being removed");
        }
        List<BindingAction> actions = apply(new SwapRequested(to, target));
        for (BindingAction a : actions) {
            if (a instanceof Refuse r) {
                throw new VirtioDeviceException(r.message());
            }
        }
        execute(actions, false);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(SWAP_WAIT_SECONDS);
        DeviceInfo i;
        String moveError;
        long switchMs;
        synchronized (machine) {
            while (machine.busy()) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    throw new VhostTimeoutException("swap: device " + machine.id() + " did not finish moving in time");
                }
                try {
                    machine.wait(Math.max(1, TimeUnit.NANOSECONDS.toMillis(left)));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new VhostTimeoutException("swap: interrupted while device " + machine.id() + " was moving");
                }
            }
            i = machine.info();
            moveError = machine.lastMoveError();
            switchMs = machine.lastSwapMillis();
        }
        if (moveError != null) {
            throw new VirtioDeviceException(i.id() + ": " + i.detail());
        }
        if (i.status() != DeviceInfo.Status.BOUND) {
            throw new VirtioDeviceException("swap of " + i.id() + " did not complete: " + i.status() + ": " + i.detail());
        }
        return i.id() + " now on " + i.backendName() + " (" + i.target() + "), switch " + switchMs + " ms";
    }

    /** The running driver for an operator's command, with {@link #driverLock} held on return. */
    private VirtioDriver driverForCommand(String what) throws VhostException {
        if (!lockDriver(2 * STOP_SECONDS)) {
            throw new VhostTimeoutException(what + ": device " + id() + " is busy moving between backends");
        }
        synchronized (machine) {
            VirtioDriver d = machine.boundDriver();
            if (d == null) {
                driverLock.unlock();
                DeviceInfo i = machine.info();
                throw new VirtioDeviceException(what + ": device " + i.id() + " has no running driver (" + i.status()
                        + ": " + i.detail() + ")");
            }
            return d;
        }
    }

    /** {@link VirtioDriver#snapshot()} of the running driver, logged with its size and duration (ms). */
    byte[] snapshot() throws VhostException {
        VirtioDriver d = driverForCommand("snapshot");
        try {
            long t0 = System.nanoTime();
            byte[] s = d.snapshot();
            snapshots.incrementAndGet();
            LOG.info("device {}: snapshot of {} bytes on {} in {} ms", id(), s.length, info().backendName(),
                    TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0));
            return s;
        } finally {
            driverLock.unlock();
        }
    }

    /** {@link VirtioDriver#restore(byte[])} on the running driver. */
    String restore(byte[] snapshot) throws VhostException {
        VirtioDriver d = driverForCommand("restore");
        try {
            String r = d.restore(snapshot);
            restores.incrementAndGet();
            LOG.info("device {}: {}", id(), r);
            return id() + " " + r;
        } finally {
            driverLock.unlock();
        }
    }

    /** @return {@code registry.swaps}, {@code registry.last.switch.ms}, {@code registry.snapshots}, {@code registry.restores} and the driver's */
    Map<String, Long> counters() {
        VirtioDriver d;
        Map<String, Long> m = new LinkedHashMap<>();
        synchronized (machine) {
            d = machine.driver();
            m.put("registry.swaps", machine.swapCount());
            m.put("registry.last.switch.ms", machine.lastSwapMillis());
        }
        m.put("registry.snapshots", snapshots.get());
        m.put("registry.restores", restores.get());
        if (d != null) {
            try {
                m.putAll(d.counters());
            } catch (RuntimeException e) {
                LOG.debug("device {}: counters: {}", id(), e.toString());
            }
        }
        return m;
    }

    DeviceInfo info() {
        synchronized (machine) {
            return machine.info();
        }
    }

    /** @return the driver's application handle of {@code type}, or null when there is no driver or it has none */
    <T> T api(Class<T> type) {
        VirtioDriver d;
        synchronized (machine) {
            d = machine.driver();
        }
        return d == null ? null : d.api(type);
    }

    String id() {
        synchronized (machine) {
            return machine.id();
        }
    }
}
