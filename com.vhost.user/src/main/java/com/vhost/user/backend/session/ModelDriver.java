package com.vhost.user.backend.session;

import com.vhost.api.VhostException;
import com.vhost.api.virtio.GuestMemory;
import com.vhost.api.virtio.Interrupt;
import com.vhost.api.virtio.VirtioDevice;
import com.vhost.api.virtio.VirtioDeviceState;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.api.virtio.VirtqueueConfig;
import com.vhost.spi.backend.PerQueueDevice;
import com.vhost.spi.backend.RebindableDevice;
import com.vhost.spi.memory.GuestMemoryMap;
import java.util.ArrayList;
import java.util.List;

/**
 * Drives the device model through {@link VirtioDevice} (and {@link PerQueueDevice},
 * {@link RebindableDevice} where it has them) so that exactly the rings the session wants run
 * (crosvm {@code vhost_user_backend} {@code handler.rs}, rust-vmm {@code vhost-user-backend}).
 *
 * <p>Whenever the set of running rings changes the model is activated (NEW/INACTIVE); an ACTIVE
 * model that implements {@link PerQueueDevice} has just the rings that stopped stopped and those
 * that started started, the others running on; any other ACTIVE model is put to sleep and woken
 * with the new set. A new memory table resets a running model and activates it again over the new
 * memory. An active {@link RebindableDevice} model whose last ring stops is left asleep rather
 * than woken with no queue. An ASLEEP_ACTIVE model (left so then, or by a device state transfer)
 * is rebound to the session's memory and woken with the first rings. Each ring's next avail index is carried across in
 * {@link Vring#base}.
 *
 * <p>Not thread-safe: the session thread owns it.
 */
final class ModelDriver {
    private final VirtioDevice model;
    private final Interrupt interrupt;
    private final Vring[] rings;
    /** Queue indices the model runs now, ascending. */
    private List<Integer> running = List.of();
    /** The device feature bits the front-end acked (VHOST_USER_F_PROTOCOL_FEATURES excluded). */
    private long deviceFeatures;

    ModelDriver(VirtioDevice model, Interrupt interrupt, Vring[] rings) {
        this.model = model;
        this.interrupt = interrupt;
        this.rings = rings;
    }

    /**
     * @param next the model that took over from this one's (a model handover): it runs the same
     *     rings with the same acked features
     * @return a driver of {@code next} that knows which rings run and which features were acked
     */
    ModelDriver withModel(VirtioDevice next) {
        ModelDriver d = new ModelDriver(next, interrupt, rings);
        d.running = running;
        d.deviceFeatures = deviceFeatures;
        return d;
    }

    /** @return whether queue {@code index} runs on the model now */
    boolean isRunning(int index) {
        return running.contains(index);
    }

    /**
     * Acks {@code device} feature bits to the model (when they differ from what it has acked) and
     * remembers them, to ack again after a reset.
     *
     * @throws Refusal when the model refuses them
     */
    void ackFeatures(long device) throws Refusal {
        if (device != model.ackedFeatures()) {
            try {
                model.ackFeatures(device);
            } catch (RuntimeException e) {
                throw new Refusal("the device model refused features 0x" + Long.toHexString(device) + ": " + e.getMessage());
            }
        }
        deviceFeatures = device;
    }

    /** @return whether the acked features make the rings packed (VIRTIO_F_RING_PACKED) */
    boolean packed() {
        return VirtioFeatures.has(deviceFeatures, VirtioFeatures.F_RING_PACKED);
    }

    private void reackFeatures() throws Refusal {
        if (deviceFeatures != 0 && model.ackedFeatures() != deviceFeatures) {
            try {
                model.ackFeatures(deviceFeatures);
            } catch (RuntimeException e) {
                throw new Refusal("the device model refused features 0x" + Long.toHexString(deviceFeatures) + " after a reset: "
                        + e.getMessage());
            }
        }
    }

    /**
     * Brings the model in line with {@code want}. The new set is validated first (memory, sizes,
     * addresses), so a refusal leaves the model untouched.
     *
     * @param want the started and enabled rings, ascending
     * @param memory the session's memory (null before SET_MEM_TABLE: refused once a ring must run)
     * @param memoryChanged the memory table was replaced: a running model is reset and
     *     re-activated over the new memory (its queues keep their next avail index)
     * @param restartIndex a queue whose kick or call fd changed (-1: none): if it runs on an
     *     active model it is stopped and started again with the new fds (the whole model is put
     *     to sleep and woken when it cannot restart single queues), even when the set is the same
     * @throws Refusal when a ring cannot run (see {@link Vring#config}) or the model is in a state
     *     that cannot change its queues
     * @throws VhostException when the model fails
     */
    void apply(List<Integer> want, GuestMemory memory, boolean memoryChanged, int restartIndex) throws VhostException, Refusal {
        VirtioDeviceState st = model.state();
        boolean restart = restartIndex >= 0 && running.contains(restartIndex) && st == VirtioDeviceState.ACTIVE;
        if (want.equals(running) && !memoryChanged && !restart) {
            return;
        }
        // the real configs are built after sleep() reported the bases
        configs(want, memory);
        if (st == VirtioDeviceState.ACTIVE && !memoryChanged && model instanceof PerQueueDevice pq) {
            changeQueues(pq, want, restart ? restartIndex : -1, memory);
            return;
        }
        if (st == VirtioDeviceState.ACTIVE) {
            for (VirtqueueConfig c : model.sleep()) {
                if (c.index() >= 0 && c.index() < rings.length) {
                    rings[c.index()].base = c.nextAvail();
                }
            }
            if (memoryChanged) {
                model.wake(List.of());
                model.reset();
                running = List.of();
                // a reset forgets the acked features (VIRTIO 1.2, 2.1.2); ack them again
                reackFeatures();
                if (!want.isEmpty()) {
                    model.activate(memory, interrupt, configs(want, memory));
                }
            } else if (want.isEmpty() && model instanceof RebindableDevice) {
                // every ring stopped: the model stays asleep (ASLEEP_ACTIVE, no worker) until a
                // ring starts again, when it is rebound and woken below, as after a state
                // transfer; a swap's stop then costs no worker start, and its SAVE no stop
            } else {
                model.wake(configs(want, memory));
            }
        } else if (st == VirtioDeviceState.NEW || st == VirtioDeviceState.INACTIVE) {
            if (!want.isEmpty()) {
                reackFeatures();
                model.activate(memory, interrupt, configs(want, memory));
            }
        } else if (st == VirtioDeviceState.ASLEEP_ACTIVE) {
            // left asleep by a device state SAVE or LOAD while every ring was stopped: it runs
            // again with the first ring started, over this session's memory
            if (!want.isEmpty()) {
                if (model instanceof RebindableDevice r) {
                    r.rebind(memory, interrupt);
                    reackFeatures();
                    model.wake(configs(want, memory));
                } else {
                    // It would wake over the memory it slept with, which this session may have
                    // unmapped since (a new table, or a state loaded from another session): a
                    // model that cannot take new memory is woken with no queue, reset and
                    // activated over this session's memory instead.
                    model.wake(List.of());
                    model.reset();
                    reackFeatures();
                    model.activate(memory, interrupt, configs(want, memory));
                }
            }
        } else {
            throw new Refusal("the device model is " + st + "; cannot change its running queues");
        }
        running = List.copyOf(want);
    }

    /**
     * Stops the running queues that are not in {@code want} (and {@code restartIndex}), reading
     * their bases, then starts those of {@code want} that do not run; the others run on.
     */
    private void changeQueues(PerQueueDevice pq, List<Integer> want, int restartIndex, GuestMemory memory)
            throws VhostException, Refusal {
        List<Integer> now = new ArrayList<>(running);
        try {
            for (int i : running) {
                if (i == restartIndex || !want.contains(i)) {
                    VirtqueueConfig c = pq.stopQueue(i);
                    if (c != null) {
                        rings[i].base = c.nextAvail();
                    }
                    now.remove(Integer.valueOf(i));
                }
            }
            for (int i : want) {
                if (!now.contains(i)) {
                    pq.startQueue(rings[i].config(memory, packed()));
                    now.add(i);
                }
            }
        } finally {
            now.sort(null);
            running = List.copyOf(now);
        }
    }

    private List<VirtqueueConfig> configs(List<Integer> indices, GuestMemory memory) throws Refusal {
        List<VirtqueueConfig> out = new ArrayList<>(indices.size());
        for (int i : indices) {
            out.add(rings[i].config(memory, packed()));
        }
        return out;
    }

    /**
     * Brings the model to rest (INACTIVE, or NEW when never activated) and forgets the acked
     * features: an asleep one is woken first with no queue (over no memory when it was restored
     * here and never activated), an active one is reset.
     */
    void reset() throws VhostException {
        running = List.of();
        deviceFeatures = 0;
        VirtioDeviceState st = model.state();
        if (st == VirtioDeviceState.ASLEEP_ACTIVE && model instanceof RebindableDevice r) {
            r.rebind(GuestMemoryMap.of(List.of()), interrupt);
        }
        if (st.isAsleep()) {
            model.wake(List.of());
        }
        if (model.state() == VirtioDeviceState.ACTIVE) {
            model.reset();
        }
    }

    /** After a device state LOAD replaced the model's state: no queue runs. */
    void forgetRunning() {
        running = List.of();
    }
}
