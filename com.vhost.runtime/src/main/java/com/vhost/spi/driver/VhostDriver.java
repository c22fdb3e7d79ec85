package com.vhost.spi.driver;

import com.vhost.api.VhostBackend;
import com.vhost.api.VhostDisconnectedException;
import com.vhost.api.VhostException;
import com.vhost.api.VhostFeatureException;
import com.vhost.api.VirtioDeviceException;
import com.vhost.api.registry.VirtioDriver;
import com.vhost.api.virtio.GuestMemory;
import com.vhost.api.virtio.Interrupt;
import com.vhost.api.virtio.VirtioDeviceState;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.api.virtio.VirtqueueConfig;
import com.vhost.spi.vhost.GenericVhostDevice;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.slf4j.Logger;

/**
 * The engine every platform VirtIO driver (blk, net) runs on: it owns the backend in use, the
 * hot-swap state ({@link HotSwapState}), the driver's failure, and the templates of
 * {@link #rebind}, {@link #detach}, {@link #snapshot}, {@link #restore} and {@link #close}
 * (QEMU {@code vhost_dev_stop}/{@code vhost_dev_start} across back-ends). A device driver
 * supplies its geometry, memory layout and request queues through the protected hooks: how its
 * data path is held and resumed, how a ring is reaped, what is outstanding after a stop, which
 * queue configs restart it, what a snapshot records.
 *
 * <p><b>Quiesce</b> (every template): hold the data path ({@link #holdDataPath}); stop the rings
 * ({@link VhostFrontendDevice#sleep}: SET_VRING_ENABLE(0) and GET_VRING_BASE per queue, vhost-user
 * "Stopping rings"); reap until each used index reaches the base the back-end returned, bounded
 * by {@link DriverProfile#stragglerWaitNanos()} (chains it had taken may still complete); carry
 * the back-end's state to the next one when both offer DEVICE_STATE
 * ({@link HotSwapState#carryState}); take what is still outstanding ({@link #takeOutstanding});
 * close the old backend.
 *
 * <p><b>One failure rule</b> (the {@link VirtioDriver#rebind} contract): a swap that cannot
 * finish loses nothing. A refused backend (an acked feature missing, other geometry) leaves the
 * device on the backend it had, or detached if it had none; a new backend that fails to start
 * after the old one stopped leaves the device detached: requests are held and wait, up to
 * {@link #swapWaitNanos()} from the moment the device lost its backend, for another
 * {@link #rebind}, then fail with {@link VhostDisconnectedException}. A backend that fails under
 * a snapshot or restore is handled as a backend loss: detached under detach-on-loss (the
 * registry), else the driver fails.
 *
 * <p>Thread-safety: the templates run under the swap lock; the accessors read volatile state.
 *
 * @param <F> the driver's front-end (its {@link com.vhost.api.virtio.VirtioDevice})
 * @param <S> the driver's decoded snapshot
 */
public abstract class VhostDriver<F extends VhostFrontendDevice<?>, S extends VhostDriver.Snapshot> implements VirtioDriver {
    /** A driver's snapshot of its running device, as {@link #record} takes it and {@link #decode} reads it. */
    public interface Snapshot {
        /** @return the feature bits the device had acked (a restore needs the same) */
        long ackedFeatures();

        /** @return the snapshot's bytes, the driver's layout */
        byte[] encode();

        /** @return a one-line description for the log and shells */
        String describe();
    }

    protected final Logger log;
    private final DriverProfile profile;
    /** Swap lock, detached state, swap.wait.ms, detach-on-loss, counters. */
    protected final HotSwapState swap;
    private volatile GenericVhostDevice vhost;
    private volatile F frontend;
    private final AtomicReference<VhostException> failure = new AtomicReference<>();
    private final AtomicBoolean lossHandling = new AtomicBoolean();
    private volatile boolean closed;
    private volatile Layout layout;

    /**
     * Checks the back-end offers VIRTIO_F_VERSION_1 (VIRTIO 1.2, 6.1: this driver is not a
     * legacy one); the subclass's constructor then acks features, lays out its memory, calls
     * {@link #laidOut} and starts the first backend.
     *
     * @param vhost the vhost device the driver starts on (its backend describes the device)
     * @param frontend the front-end on {@code vhost}, features not acked yet
     * @param profile what differs between drivers (names, bounds)
     * @param log the driver's logger
     * @param defaultSwapWaitNanos the initial {@code swap.wait.ms}, ns
     * @throws VhostFeatureException when the back-end does not offer VIRTIO_F_VERSION_1
     */
    protected VhostDriver(GenericVhostDevice vhost, F frontend, DriverProfile profile, Logger log,
            long defaultSwapWaitNanos) throws VhostFeatureException {
        if (!VirtioFeatures.has(frontend.features(), VirtioFeatures.F_VERSION_1)) {
            throw new VhostFeatureException(String.format("%s on %s: back-end features 0x%x lack VIRTIO_F_VERSION_1",
                    profile.device(), vhost.backend().describe(), vhost.backendFeatures()));
        }
        this.vhost = Objects.requireNonNull(vhost, "vhost");
        this.frontend = Objects.requireNonNull(frontend, "frontend");
        this.profile = Objects.requireNonNull(profile, "profile");
        this.log = Objects.requireNonNull(log, "log");
        this.swap = new HotSwapState(profile.device(), profile.holders(), log, () -> this.vhost.backend().describe(),
                defaultSwapWaitNanos);
    }

    // ---- what the device is: set once by the subclass's constructor ----

    /**
     * The driver's memory and queues, the same for every backend; the subclass's constructor
     * calls this once, after laying out its memory and before starting the first backend.
     *
     * @param memory the driver's shared memory (guest-physical address = address here)
     * @param ackedFeatures the feature bits acked with the first backend; every later one must offer them
     * @param interrupt what the front-end signals (used rings, config change, needs-reset)
     * @param vhostQueues the virtqueues of the {@link GenericVhostDevice} (those the back-end runs)
     * @param rings the rings whose bases a stop records, by queue index (in-process ones included)
     */
    protected final void laidOut(GuestMemory memory, long ackedFeatures, Interrupt interrupt, int vhostQueues, int rings) {
        this.layout = new Layout(Objects.requireNonNull(memory, "memory"), ackedFeatures,
                Objects.requireNonNull(interrupt, "interrupt"), vhostQueues, rings);
    }

    /** What {@link #laidOut} set. */
    private record Layout(GuestMemory memory, long ackedFeatures, Interrupt interrupt, int vhostQueues, int rings) {}

    final GuestMemory memory() {
        return layout.memory();
    }

    final long ackedFeatures() {
        return layout.ackedFeatures();
    }

    final Interrupt interrupt() {
        return layout.interrupt();
    }

    final int vhostQueues() {
        return layout.vhostQueues();
    }

    final int ringCount() {
        return layout.rings();
    }

    // ---- hooks: rebind ----

    /** @return a front-end on {@code vhost} for the same queues (features not acked yet) */
    protected abstract F newFrontend(GenericVhostDevice vhost) throws VhostException;

    /**
     * Checks {@code next} can replace the backend: features, geometry.
     *
     * @throws VhostException (nothing has changed) naming what differs
     */
    protected abstract void checkCompatible(F next, String name, String from) throws VhostException;

    /** Carries the front-end's own state (e.g. control state) from {@code old} to {@code next}, acked, not started. */
    protected void adopt(F next, F old) {}

    /** @return why {@code what} (rebind, detach, snapshot, restore) is refused now, or null */
    protected VhostException refuseSwap(String what) {
        return null;
    }

    /**
     * @return whether this driver moves packed rings (VIRTIO_F_RING_PACKED) to another back-end on
     *     rebind and detach: {@link #takeOutstanding} then restarts them fresh (index 0x8000) rather
     *     than at the GET_VRING_BASE answer; false (the default): those are refused
     */
    protected boolean movesPackedRings() {
        return false;
    }

    /**
     * @return whether this driver snapshots and restores a device on packed rings
     *     (VIRTIO_F_RING_PACKED, VIRTIO 1.2 2.8): its {@link #record} keeps what is outstanding
     *     rather than ring indices, {@link #wakeAfter} restarts the rings fresh (index 0x8000) with
     *     the outstanding requests placed again, and {@link #resetRings} restores onto fresh rings;
     *     false (the default): snapshot and restore are refused on packed rings
     * @since 2.1
     */
    protected boolean snapshotsPackedRings() {
        return false;
    }

    /** Holds the data path: new requests wait, completion work stops (caller holds the swap lock). */
    protected abstract void holdDataPath();

    /**
     * Ends {@link #holdDataPath}.
     *
     * @param attached whether a started backend serves the rings now (false: detached or failed)
     * @return requests placed again on the rings
     */
    protected abstract int resumeDataPath(boolean attached);

    /** @return the driver ring of queue {@code ring} for the straggler wait, or null to skip it */
    protected abstract com.vhost.spi.virtqueue.DriverQueue ringQueue(int ring);

    /** Consumes the used elements of queue {@code ring} (rings stopped, data path held). */
    protected abstract void reap(int ring) throws VhostException;

    /**
     * After the rings stopped and the stragglers were reaped: takes what is still outstanding
     * and sets where each ring restarts.
     *
     * @param bases per queue the base the back-end returned, -1 when unknown
     * @return requests (chains) taken off the rings, to be placed again
     */
    protected abstract int takeOutstanding(int[] bases, String why);

    /** @return the queue configs that start {@code next} where the rings stopped */
    protected abstract List<VirtqueueConfig> restartConfigs(F next);

    /** A started backend replaced the old one: update what names it. */
    protected abstract void attachedTo(GenericVhostDevice vhost, String name);

    /** @return System.nanoTime() of the last completion on the old backend, 0 when none */
    protected abstract long lastCompletionNanos();

    /** Logs (and counts) a finished swap. */
    protected abstract void swapped(String from, String to, long switchNanos, int taken, int placed);

    /** Fails every request the driver holds or has on a ring with {@code e} (default: none held). */
    protected void failOutstanding(VhostException e) {}

    /** Called once the device is detached, with the {@link HotSwapState#detachedDeadline()}. */
    protected void onDetached(long deadline) {}

    /** Before the rings stop ({@code vhost} connected and running). */
    protected void beforeStop(GenericVhostDevice vhost) throws VhostException {}

    /**
     * A rebind negotiated with {@code next} (features and memory table sent) while the old backend
     * still serves, before the data path is held: the place to hand it ahead what does not depend
     * on the old backend's stop, so it stays out of the I/O pause (e.g. the inflight region,
     * {@link com.vhost.spi.vhost.InflightTracking#prepare}). A failure refuses the rebind: the
     * device stays on the backend it had. Default: nothing.
     *
     * @since 2.1
     */
    protected void prepareNext(GenericVhostDevice next) throws VhostException {}

    /**
     * A rebind is about to start the rings on {@code next} (features and memory table set, the old
     * backend quiesced or gone): the place to hand it what must reach it before its rings start,
     * e.g. the inflight region ({@link com.vhost.spi.vhost.InflightTracking}). Default: nothing.
     *
     * @since 2.1
     */
    protected void beforeRestart(GenericVhostDevice next) throws VhostException {}

    // ---- hooks: snapshot / restore / close ----

    /** Records the stopped device; the data path is held and the stragglers reaped. */
    protected abstract S record(F frontend, int[] bases, List<VirtqueueConfig> slept) throws VhostException;

    /**
     * @return the queue configs the rings restart with on the same backend after {@code s} was
     *     recorded; the default, an empty list, restarts them where they stopped
     */
    protected List<VirtqueueConfig> wakeAfter(S s) {
        return List.of();
    }

    /** @throws VhostException when the bytes are not a snapshot of this device type (nothing changed) */
    protected abstract S decode(byte[] snapshot) throws VhostException;

    /**
     * Checks {@code s} fits this device beyond its acked features (checked already: the same as
     * this device's).
     *
     * @throws VhostException naming what in {@code s} does not fit this device (nothing changed)
     */
    protected abstract void checkRestorable(S s) throws VhostException;

    /** Resets the stopped rings at {@code s}'s indices; @return the configs to wake them with */
    protected abstract List<VirtqueueConfig> resetRings(S s);

    /** Loads {@code s}'s device state into the asleep device before its rings restart. */
    protected abstract void loadState(F frontend, S s) throws VhostException;

    /** @return the one-line result of a restore done in {@code micros} µs that placed {@code placed} requests again */
    protected abstract String restored(S s, long micros, int placed);

    /** Before close stops the data path (e.g. a bounded wait for requests in flight). */
    protected void beforeClose() {}

    /** Stops the data path for good ({@link #isClosed()} is true). */
    protected abstract void stopForClose();

    /** Releases the driver's own resources (rings' eventfds, shared memory) after the backend closed. */
    protected abstract void closeResources();

    // ---- state for subclasses ----

    /** @return the vhost device in use (replaced by {@link #rebind}) */
    public final GenericVhostDevice vhost() {
        return vhost;
    }

    /** @return the front-end in use: the {@link com.vhost.api.virtio.VirtioDevice} view (life cycle, config) */
    public final F frontend() {
        return frontend;
    }

    @Override
    public final com.vhost.api.virtio.VirtioDevice device() {
        return frontend;
    }

    /** @return this driver when {@code type} is one of its {@link DriverProfile#apis()}, else null */
    @Override
    public final <T> T api(Class<T> type) {
        return type != null && profile.apis().contains(type) ? type.cast(this) : null;
    }

    protected final DriverProfile profile() {
        return profile;
    }

    /** @return the attached backend's description, or {@code (no backend; was NAME)} while detached */
    public final String backendName() {
        return swap.backendName();
    }

    /** @return whether {@link #close()} ran */
    protected final boolean isClosed() {
        return closed;
    }

    /** @return why the driver failed, or null */
    protected final VhostException failure() {
        return failure.get();
    }

    /**
     * Records {@code e} as the driver's failure unless one is recorded already.
     *
     * @return the failure recorded (the first one)
     */
    protected final VhostException fail(VhostException e) {
        failure.compareAndSet(null, e);
        return failure.get();
    }

    /**
     * @throws VhostDisconnectedException when closed ("DEVICE on NAME is closed")
     * @throws VhostException the driver's failure, when it failed
     */
    protected final void checkUsable() throws VhostException {
        if (closed) {
            throw new VhostDisconnectedException(profile.device() + " on " + backendName() + " is closed");
        }
        VhostException f = failure.get();
        if (f != null) {
            throw f;
        }
    }

    // ---- settings and measurements (VirtioDriver users and shells) ----

    /** @return whether no backend is attached ({@link #detach()} without a later {@link #rebind}) */
    public final boolean isDetached() {
        return swap.isDetached();
    }

    /** @return how long requests wait for a swap in progress, and a detached device for a backend, in nanoseconds */
    public final long swapWaitNanos() {
        return swap.swapWaitNanos();
    }

    /**
     * @param nanos how long requests wait while no backend is attached (0: they fail at once)
     * @throws IllegalArgumentException when negative
     */
    public final void setSwapWaitNanos(long nanos) {
        swap.setSwapWaitNanos(nanos);
    }

    /**
     * @param on true: a backend found disconnected detaches the device (requests wait, bounded by
     *     {@link #swapWaitNanos()}, for {@link #rebind}) instead of failing it. The registry turns
     *     this on; a driver opened directly has it off.
     */
    public final void setDetachOnLoss(boolean on) {
        swap.setDetachOnLoss(on);
    }

    /**
     * @return the pause of the last swap in nanoseconds: from the last completion on the old
     *     backend to the first on the new one; -1 before any was measured
     */
    public final long lastPauseNanos() {
        return swap.lastPauseNanos();
    }

    /** @return swaps whose pause has been measured (a first completion on the new backend seen) */
    public final long pausesMeasured() {
        return swap.pausesMeasured();
    }

    // ---- loss ----

    /**
     * Marks the driver failed (backend lost or device broken) and fails what it holds.
     *
     * @param noticed where the loss was seen, appended to the default message (e.g.
     *     {@code " (noticed on queue 1)"}), or empty
     * @param cause the failure, or null for "DEVICE: backend NAME lost"
     */
    protected final void lost(String noticed, VhostException cause) {
        VhostException e = cause != null ? cause
                : new VhostDisconnectedException(profile.device() + ": backend " + backendName() + " lost" + noticed);
        if (failure.compareAndSet(null, e)) {
            log.warn("{} on {}: {}", profile.device(), backendName(), e.getMessage());
        }
        failOutstanding(failure.get());
    }

    /**
     * The data path found the backend disconnected. Under detach-on-loss the device detaches on
     * a thread of its own (the caller may hold what detaching waits for) and its requests wait
     * for {@link #rebind}; otherwise the driver fails ({@link #lost}).
     *
     * @param noticed where it was seen, e.g. {@code " (noticed on queue 1)"}, or empty
     */
    protected final void backendLost(String noticed) {
        if (!swap.detachOnLoss() || closed || failure.get() != null || swap.isDetached()) {
            if (!swap.isDetached()) {
                lost(noticed, null);
            }
            return;
        }
        if (lossHandling.compareAndSet(false, true)) {
            DriverSwaps.detachOnLoss(this, noticed, () -> lossHandling.set(false));
        }
    }

    /**
     * Fails what the driver holds ({@link #failOutstanding}) once the detached wait that ends at
     * {@code deadline} is over, unless a rebind came first; on a thread of its own.
     */
    protected final void expireHeldAt(long deadline) {
        DriverSwaps.expireHeldAt(this, deadline);
    }

    // ---- rebind / detach ----

    /**
     * {@inheritDoc}
     *
     * <p>Steps: negotiate with {@code newBackend} while the old one still serves (every acked
     * feature, the same geometry: {@link #checkCompatible}); hold the data path; quiesce the old
     * backend (stop its rings, reap stragglers, carry DEVICE_STATE, take what is outstanding,
     * close it); start {@code newBackend} on the same memory, rings and eventfds at the stopped
     * bases; place the outstanding requests again and resume. When {@code newBackend} fails to
     * start the device is detached (the one failure rule, see the class comment).
     *
     * @throws com.vhost.api.VhostFeatureException when {@code newBackend} lacks an acked feature
     *     or serves another device type (the device stays as it was)
     * @throws VirtioDeviceException when its geometry differs, or the driver is closed, failed
     *     or refuses ({@link #refuseSwap})
     * @throws com.vhost.api.VhostTimeoutException when another swap holds the device for 30 s
     * @throws VhostException from {@code newBackend} while starting it; the device is then detached
     */
    @Override
    public final void rebind(VhostBackend newBackend) throws VhostException {
        swap.lock("rebind", newBackend);
        try {
            refuse("rebind", newBackend);
            DriverSwaps.rebind(this, newBackend);
        } finally {
            swap.unlock();
        }
    }

    final void refuse(String what, VhostBackend toClose) throws VhostException {
        VhostException f = failure.get();
        VhostException refusal = closed || (f != null && !(f instanceof VhostDisconnectedException))
                ? swap.refusal(what, closed, f) : packedRefusal(what);
        if (refusal == null) {
            refusal = refuseSwap(what);
        }
        if (refusal != null) {
            if (toClose != null) {
                toClose.close();
            }
            throw refusal;
        }
    }

    /**
     * Packed rings (VIRTIO_F_RING_PACKED) are not carried at their GET_VRING_BASE index: a used
     * element written out of order overwrites the descriptors of a buffer the old back-end still
     * held, so the ring after that index does not say what is left. A driver that
     * {@link #movesPackedRings} restarts them fresh on rebind and detach, one that
     * {@link #snapshotsPackedRings} on snapshot and restore; what a driver does neither for is
     * refused.
     *
     * @return the refusal of {@code what} (rebind, detach, snapshot, restore), a
     *     {@link VirtioDeviceException} naming the operation, the backend and VIRTIO_F_RING_PACKED;
     *     null when the rings are split or the driver moves packed rings for {@code what}
     */
    private VhostException packedRefusal(String what) {
        if (!VirtioFeatures.has(ackedFeatures(), VirtioFeatures.F_RING_PACKED)) {
            return null;
        }
        boolean moving = what.equals("rebind") || what.equals("detach");
        if (moving ? movesPackedRings() : snapshotsPackedRings()) {
            return null;
        }
        String cannot = movesPackedRings() ? "snapshot or restore;"
                : snapshotsPackedRings() ? "move between back-ends;" : "move between back-ends or snapshot;";
        return new VirtioDeviceException(what + " refused on " + backendName() + ": the device negotiated packed"
                + " virtqueues (VIRTIO_F_RING_PACKED), which this driver does not " + cannot + " open it without --packed to "
                + what + " it");
    }

    /** A started {@code next} on {@code nv} replaces the backend in use; a failure by a lost backend is forgotten. */
    final void attach(GenericVhostDevice nv, F next) {
        this.vhost = nv;
        this.frontend = next;
        if (failure.get() instanceof VhostDisconnectedException d) {
            failure.compareAndSet(d, null); // the lost backend is replaced
        }
    }

    /**
     * {@inheritDoc} A device already detached stays so.
     *
     * @throws VirtioDeviceException when the driver is closed, failed or refuses ({@link #refuseSwap})
     * @throws com.vhost.api.VhostTimeoutException when another swap holds the device for 30 s
     */
    @Override
    public final void detach() throws VhostException {
        swap.lock("detach", null);
        try {
            refuse("detach", null);
            if (swap.isDetached()) {
                return;
            }
            DriverSwaps.detach(this);
        } finally {
            swap.unlock();
        }
    }

    // ---- snapshot / restore ----

    /**
     * {@inheritDoc} The layout is the driver's ({@link #record}). When the backend offers
     * DEVICE_STATE the driver may record its state too.
     *
     * @throws VirtioDeviceException when the driver is closed, failed, detached or refuses
     * @throws com.vhost.api.VhostTimeoutException when another swap holds the device for 30 s
     * @throws VhostException when the backend refused to stop or restart its rings; the device is
     *     then handled as after a backend loss (detached under the registry, else failed)
     */
    @Override
    public final byte[] snapshot() throws VhostException {
        swap.lock("snapshot", null);
        try {
            refuse("snapshot", null);
            swap.requireAttached("snapshot");
            return DriverSnapshots.snapshot(this);
        } finally {
            swap.unlock();
        }
    }

    /**
     * {@inheritDoc} The snapshot must fit this device ({@link #checkRestorable}); otherwise
     * nothing changes. Then the device is quiesced on its backend (not closed), the rings are
     * reset at the snapshot's indices ({@link #resetRings}), its device state is loaded and the
     * rings restart there; the requests outstanding now are placed again.
     *
     * @throws VirtioDeviceException naming the mismatch or the truncation (nothing changed), or
     *     when the driver is closed, failed, detached or refuses
     * @throws VhostException when the backend refused to restart; the device is then handled as
     *     after a backend loss
     */
    @Override
    public final String restore(byte[] snapshot) throws VhostException {
        S s = decode(snapshot);
        swap.lock("restore", null);
        try {
            refuse("restore", null);
            swap.requireAttached("restore");
            SnapshotFrames.checkAcked(s.ackedFeatures(), ackedFeatures());
            checkRestorable(s);
            return DriverSnapshots.restore(this, s);
        } finally {
            swap.unlock();
        }
    }

    // ---- close ----

    /**
     * Stops the device and releases everything: waits (at most {@value HotSwapState#LOCK_WAIT_SECONDS}
     * s) for a swap in progress, stops the data path, resets the device on its backend, closes
     * the backend, the eventfds and the shared memory. Idempotent.
     */
    @Override
    public final void close() {
        if (closed) {
            return;
        }
        boolean locked = swap.tryLock();
        if (!locked) {
            log.warn("{} on {}: {}", profile.device(), backendName(), profile.closeBusy());
        }
        try {
            if (!closed) {
                beforeClose();
                closed = true;
                stopForClose();
                try {
                    if (!swap.isDetached() && vhost.backend().isConnected()
                            && frontend.state() == VirtioDeviceState.ACTIVE) {
                        frontend.reset();
                    }
                } catch (VhostException | RuntimeException e) {
                    log.debug("{} on {}: stop on close failed: {}", profile.device(), backendName(), e.toString());
                }
                vhost.close();
                closeResources();
            }
        } finally {
            if (locked) {
                swap.unlock();
            }
        }
    }
}
