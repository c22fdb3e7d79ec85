package com.vhost.spi.backend;

import com.vhost.api.VhostException;
import com.vhost.api.VirtioDeviceException;
import com.vhost.api.virtio.GuestMemory;
import com.vhost.api.virtio.Interrupt;
import com.vhost.api.virtio.VirtioDevice;
import com.vhost.api.virtio.VirtioDeviceState;
import com.vhost.api.virtio.VirtqueueConfig;
import java.util.List;
import org.slf4j.Logger;

/**
 * The {@link VirtioDevice} life cycle of a back-end model that serves its queues itself (on a
 * {@link QueueWorker}): the {@link VirtioDeviceState} transitions of activate, reset, sleep, wake,
 * snapshot, restore and {@link RebindableDevice#rebind}, the acked-feature bookkeeping, and the
 * memory, interrupt and queue states a sleep keeps for the wake. A subclass starts and stops its
 * queues ({@link #startQueues} / {@link #stopQueues}), owns its config space, data path and
 * snapshot byte layout, and calls {@link #requireAsleep} / {@link #restored} around the latter.
 *
 * <p>A call in a state that does not allow it throws {@link VirtioDeviceException} naming the
 * operation and the state. All transitions hold the device's monitor ({@code synchronized} on
 * {@code this}), as a subclass's own queue operations may.
 *
 * <p>{@link #wake} from ASLEEP_ACTIVE resumes exactly the queues given: an empty list resumes no
 * queue (see {@link VirtioDevice#wake}), which the vhost-user server relies on after it stopped
 * the last ring with GET_VRING_BASE.
 */
public abstract class WorkerDevice implements VirtioDevice, RebindableDevice {
    private final Logger log;
    private final String prefix;

    private volatile VirtioDeviceState state = VirtioDeviceState.NEW;
    private volatile long acked;
    private GuestMemory memory;
    private volatile Interrupt interrupt;
    /** Queue states taken by the last sleep or restore, given back by wake; empty otherwise. */
    private List<VirtqueueConfig> sleptQueues = List.of();

    /**
     * @param log the subclass's logger (warnings about acked features go there)
     * @param prefix what error and log messages start with, e.g. {@code "blk disk.img"}
     */
    protected WorkerDevice(Logger log, String prefix) {
        this.log = log;
        this.prefix = prefix;
    }

    // ---- subclass hooks ----

    /**
     * Starts serving {@code queues} (possibly none) over {@code mem}, signalling {@code irq}; on
     * activate and on wake from ASLEEP_ACTIVE. Called with the monitor held, with {@link #memory()}
     * and {@link #interrupt()} already set to {@code mem} and {@code irq}, before the state
     * changes: a throw leaves the device in its state (activate then clears memory and interrupt).
     *
     * @throws VhostException for a queue the device does not have, given twice or too large
     *     ({@link com.vhost.api.VirtqueueException}), or a worker that could not start
     */
    protected abstract void startQueues(GuestMemory mem, Interrupt irq, List<VirtqueueConfig> queues)
            throws VhostException;

    /**
     * Stops serving every queue (no-op when none runs) and waits for the request in flight.
     *
     * @return the stopped queues' states sorted by index (nextAvail where the device stopped, kick
     *     and call fds as given, enabled), empty when nothing ran
     * @throws VhostException when the worker did not stop in time
     */
    protected abstract List<VirtqueueConfig> stopQueues() throws VhostException;

    /**
     * Sleep from ACTIVE: by default {@link #stopQueues}. A subclass may keep an idle worker for
     * the wake instead.
     *
     * @return the queue states the wake resumes with
     */
    protected List<VirtqueueConfig> sleepQueues() throws VhostException {
        return stopQueues();
    }

    /**
     * Checked by activate and by wake to ACTIVE after the state check (default: nothing).
     *
     * @throws VirtioDeviceException when the device can no longer run (e.g. closed)
     */
    protected void checkUsable() throws VirtioDeviceException {}

    /**
     * Called by {@link #rebind} with valid arguments before they replace the current memory and
     * interrupt (default: nothing).
     */
    protected void rebinding(GuestMemory mem, Interrupt irq) throws VirtioDeviceException {}

    // ---- state ----

    @Override
    public VirtioDeviceState state() {
        return state;
    }

    /** @return the message prefix given at construction */
    protected final String prefix() {
        return prefix;
    }

    /** @return an exception saying that {@code op} is not allowed in the current state */
    protected final VirtioDeviceException badState(String op) {
        return new VirtioDeviceException(prefix + ": " + op + " is not allowed in state " + state);
    }

    /** @throws VirtioDeviceException unless asleep (snapshot, restore) */
    protected final void requireAsleep(String op) throws VirtioDeviceException {
        if (!state.isAsleep()) {
            throw badState(op);
        }
    }

    /** @return the memory of the running (or slept active) device; null when inactive */
    protected final GuestMemory memory() {
        return memory;
    }

    /** @return the interrupt of the running (or slept active) device; null when inactive */
    protected final Interrupt interrupt() {
        return interrupt;
    }

    /** @return the queue states of the last sleep or restore (empty when awake) */
    protected final List<VirtqueueConfig> sleptQueues() {
        return sleptQueues;
    }

    // ---- features ----

    /** Acks {@code features}; bits this device did not offer ({@link #features()}) are dropped with a warning. */
    @Override
    public void ackFeatures(long features) {
        long offered = features();
        long unknown = features & ~offered;
        if (unknown != 0) {
            log.warn("{}: driver acked features 0x{} that were not offered; ignoring them", prefix,
                    Long.toHexString(unknown));
        }
        acked = features & offered;
    }

    @Override
    public long ackedFeatures() {
        return acked;
    }

    // ---- life cycle ----

    @Override
    public synchronized void activate(GuestMemory mem, Interrupt irq, List<VirtqueueConfig> queues) throws VhostException {
        if (state != VirtioDeviceState.NEW && state != VirtioDeviceState.INACTIVE) {
            throw badState("activate");
        }
        checkUsable();
        if (mem == null || irq == null || queues == null) {
            throw new VirtioDeviceException(prefix + ": activate needs memory, interrupt and queues");
        }
        // set first: the worker may signal as soon as it runs
        memory = mem;
        interrupt = irq;
        try {
            startQueues(mem, irq, queues);
        } catch (VhostException | RuntimeException e) {
            memory = null;
            interrupt = null;
            throw e;
        }
        state = VirtioDeviceState.ACTIVE;
    }

    @Override
    public synchronized void reset() throws VhostException {
        if (state != VirtioDeviceState.ACTIVE) {
            throw badState("reset");
        }
        stopQueues();
        memory = null;
        interrupt = null;
        acked = 0;
        state = VirtioDeviceState.INACTIVE;
    }

    @Override
    public synchronized List<VirtqueueConfig> sleep() throws VhostException {
        switch (state) {
            case NEW -> state = VirtioDeviceState.ASLEEP_NEW;
            case INACTIVE -> state = VirtioDeviceState.ASLEEP_INACTIVE;
            case ACTIVE -> {
                sleptQueues = sleepQueues();
                state = VirtioDeviceState.ASLEEP_ACTIVE;
                return sleptQueues;
            }
            default -> throw badState("sleep");
        }
        return List.of();
    }

    @Override
    public synchronized void wake(List<VirtqueueConfig> queues) throws VhostException {
        switch (state) {
            case ASLEEP_NEW, ASLEEP_INACTIVE -> {
                if (queues != null && !queues.isEmpty()) {
                    throw new VirtioDeviceException(prefix + ": wake from " + state + " takes no queues, got "
                            + queues.size());
                }
                state = state == VirtioDeviceState.ASLEEP_NEW ? VirtioDeviceState.NEW : VirtioDeviceState.INACTIVE;
            }
            case ASLEEP_ACTIVE -> {
                checkUsable();
                if (memory == null || interrupt == null) {
                    throw new VirtioDeviceException(prefix
                            + ": restored as active but never activated here: rebind(memory, interrupt) before wake");
                }
                // exactly the queues given (VirtioDevice.wake): none resumes none
                startQueues(memory, interrupt, queues == null ? List.of() : queues);
                sleptQueues = List.of();
                state = VirtioDeviceState.ACTIVE;
            }
            default -> throw badState("wake");
        }
    }

    /**
     * Replaces the guest memory and interrupt the next {@link #wake} resumes with, while asleep:
     * for a front-end that changed its memory table between sleep and wake (vhost-user
     * SET_MEM_TABLE / ADD_MEM_REG), or a device restored as active from another device's snapshot
     * (it was never activated here, so it has no memory of its own). Not part of
     * {@link VirtioDevice}.
     *
     * @throws VirtioDeviceException when the device is not asleep, or an argument is null
     */
    @Override
    public synchronized void rebind(GuestMemory mem, Interrupt irq) throws VirtioDeviceException {
        if (!state.isAsleep()) {
            throw badState("rebind");
        }
        if (mem == null || irq == null) {
            throw new VirtioDeviceException(prefix + ": rebind needs memory and interrupt");
        }
        rebinding(mem, irq);
        memory = mem;
        interrupt = irq;
    }

    /**
     * Ends a subclass's {@link #restore} once the snapshot was parsed and checked: takes its acked
     * features and queue states and moves to ASLEEP_ACTIVE or ASLEEP_INACTIVE. Restored as
     * inactive, queues still held (an idle worker) are stopped and memory and interrupt dropped.
     *
     * @param features acked features from the snapshot, already checked against {@link #features()}
     * @param active whether the snapshot was taken from ASLEEP_ACTIVE
     * @param queues queue states from the snapshot (empty unless {@code active})
     * @throws VhostException when stopping a held worker failed
     */
    protected final void restored(long features, boolean active, List<VirtqueueConfig> queues) throws VhostException {
        if (!active) {
            stopQueues(); // an idle worker kept across the sleep belongs to the active device
        }
        acked = features;
        sleptQueues = List.copyOf(queues);
        if (!active) {
            memory = null;
            interrupt = null;
        }
        state = active ? VirtioDeviceState.ASLEEP_ACTIVE : VirtioDeviceState.ASLEEP_INACTIVE;
    }
}
