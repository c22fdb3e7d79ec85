package com.vhost.spi.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.vhost.api.VhostBackend;
import com.vhost.api.VhostDisconnectedException;
import com.vhost.api.VhostException;
import com.vhost.api.VirtioDeviceException;
import com.vhost.api.registry.DeviceConfigKeys;
import com.vhost.api.registry.VirtioDriver;
import com.vhost.api.registry.VirtioDriverFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The contract every driver made by a {@link VirtioDriverFactory} passes (DESIGN lesson 18; for
 * drivers what the second seed's suspendable test macro is for devices), written once against the
 * API ({@link VirtioDriverFactory#create}, {@link VirtioDriver} and the application handle from
 * {@link VirtioDriver#api}) so that it holds whatever the drivers' insides become:
 *
 * <ul>
 *   <li>rebind under a verified workload, back and forth between two back-ends: nothing lost,
 *       duplicated, corrupted or reordered, the application's handle the same object throughout;
 *   <li>detach, requests held, rebind: they complete on the new back-end;
 *   <li>detach and no rebind: requests fail with {@link VhostDisconnectedException} naming
 *       {@code swap.wait.ms} once that wait is over, and a late rebind still resumes the device;
 *   <li>back-ends lacking an acked feature or of another geometry are refused by name, the device
 *       keeps working on its own, and the refused back-ends serve drivers of their own afterwards;
 *   <li>snapshot, restore, snapshot: equal bytes; snapshots under load lose nothing; bad or foreign
 *       snapshots are refused by name and change nothing;
 *   <li>a back-end that dies under load (SIGKILL, or its server closed): the device detaches, and a
 *       rebind resumes the workload.
 * </ul>
 *
 * <p>A device's subclass supplies the factory and its configuration, back-ends to bind (started
 * as the test needs them; they are closed after it, in reverse order), a verified workload on the
 * application handle, one held request, and the back-ends the driver must refuse. Hooks let it add
 * device-specific checks at fixed points ({@link #checkDetached}, {@link #checkAttached},
 * {@link #checkAfterRebindsUnderLoad}, {@link #checkRestored}).
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
public abstract class VirtioDriverContract {
    /** Bound on every wait for a condition. */
    protected static final Duration AWAIT = Duration.ofSeconds(20);
    /** {@code swap.wait.ms} of the drivers that must hold requests across a detach. */
    protected static final long HOLD_WAIT_MS = 10_000;
    /** {@code swap.wait.ms} of the driver whose requests must fail after a detach. */
    protected static final long SHORT_WAIT_MS = 150;
    /** How long a held request must stay pending while the device has no back-end. */
    protected static final Duration HELD_FOR = Duration.ofMillis(200);

    /** A directory for the test's files (images, sockets, logs). */
    @TempDir
    protected Path dir;

    private final Deque<AutoCloseable> toClose = new ArrayDeque<>();

    // ---- what a device's subclass supplies ---------------------------------------------------

    /** A running back-end a driver can be bound to. */
    public interface Backend extends AutoCloseable {
        /** @return a name that {@link VirtioDriver#summary()} shows while the driver is bound to it (a socket file name) */
        String name();

        /** @return a new open connection to it, for {@link VirtioDriverFactory#create} or {@link VirtioDriver#rebind} */
        VhostBackend connect() throws Exception;

        /**
         * Makes it die abruptly under its sessions (SIGKILL of its process, or its server
         * closed); default {@link #close()}.
         */
        default void kill() throws Exception {
            close();
        }
    }

    /**
     * A back-end {@link VirtioDriver#rebind} must refuse.
     *
     * @param backend the back-end
     * @param refusedWith the exception type of the refusal
     * @param because parts of the refusal's message (name what is missing or differs)
     * @param ownConfig a driver configuration this back-end does serve (a driver of its own after the refusal)
     * @param snapshotRefusal a part of the message with which a driver created by the contract refuses
     *     to restore a snapshot taken by a driver on this back-end
     */
    public record Incompatible(Backend backend, Class<? extends Throwable> refusedWith, List<String> because,
            Map<String, Object> ownConfig, String snapshotRefusal) {}

    /**
     * What a verified workload saw.
     *
     * @param completed operations completed and verified (blk: writes and reads; net: frames back intact)
     * @param lost operations that failed, timed out or never came back
     * @param duplicated operations completed more than once
     * @param corrupted operations whose data did not verify
     * @param reordered operations completed out of the order the device type promises (0 where it promises none)
     * @param lossAllowed losses the device type permits in this run (net: frames the echo back-end
     *     dropped for want of a receive buffer; 0 for blk)
     * @param firstError the first problem the workload met, or null
     */
    public record Tally(long completed, long lost, long duplicated, long corrupted, long reordered, long lossAllowed,
            String firstError) {}

    /** A verified workload running on a driver's application handle, on threads of its own. */
    public interface Workload {
        /** @return operations completed and verified so far */
        long progress();

        /** Stops it (bounded), lets what is outstanding complete, verifies and tallies. */
        Tally stop() throws Exception;
    }

    /** One request made while the device has no back-end. */
    public interface HeldRequest {
        /** @return whether it completed (well or not) within {@code d} */
        boolean completedWithin(Duration d) throws Exception;

        /** Waits up to {@code timeout} for it to complete well and checks its result. */
        void assertCompleted(Duration timeout) throws Exception;
    }

    /** @return the factory under test */
    protected abstract VirtioDriverFactory factory();

    /** @return the application API type {@link VirtioDriver#api} hands out ({@code BlockDevice.class}, ...) */
    protected abstract Class<?> apiType();

    /**
     * @return the driver configuration for the back-ends of {@link #startBackend} (queues, queue
     *     size, ...); the contract adds {@code swap.wait.ms}
     */
    protected abstract Map<String, Object> config();

    /**
     * Starts a back-end; every back-end it starts in one test serves the same device (features,
     * geometry and, for storage, the same data), so a driver may move between them.
     *
     * @param name distinguishes the back-ends of one test ("a", "b")
     */
    protected abstract Backend startBackend(String name) throws Exception;

    /**
     * Starts a back-end like {@link #startBackend} whose {@link Backend#kill} is an abrupt death
     * (best: a process of its own, killed with SIGKILL). Default {@link #startBackend}.
     */
    protected Backend startMortalBackend(String name) throws Exception {
        return startBackend(name);
    }

    /** Starts the back-ends {@link VirtioDriver#rebind} must refuse (at least one). */
    protected abstract List<Incompatible> startIncompatibleBackends() throws Exception;

    /** Starts a verified workload on {@code driver}'s application handle. */
    protected abstract Workload startWorkload(VirtioDriver driver) throws Exception;

    /** @return how much {@link Workload#progress()} must grow to count as the device working (per step) */
    protected abstract long progressPerStep();

    /** Makes one request on {@code driver}, which has no back-end now, that will complete after a rebind. */
    protected abstract HeldRequest submitWhileDetached(VirtioDriver driver) throws Exception;

    /**
     * Makes requests on {@code driver}, which has no back-end, until one fails (waiting at most
     * {@code atMost}), and returns what it failed with (blk: the future's cause; net: the call's
     * exception).
     */
    protected abstract Throwable awaitDisconnectedFailure(VirtioDriver driver, Duration atMost) throws Exception;

    /** @return rebinds of {@link #rebindsUnderLoadLoseNothingAndKeepTheHandle}; default 20 */
    protected int swapsUnderLoad() {
        return 20;
    }

    /** @return operations a back-end that dies may take with it (net: frames in flight); default 0 */
    protected long lossAllowedWhenTheBackendDies() {
        return 0;
    }

    /** Device-specific checks on a device without a back-end (detached by hand, or after a loss). Default none. */
    protected void checkDetached(VirtioDriver driver) throws Exception {
    }

    /** Device-specific checks on a device rebound after a detach. Default none. */
    protected void checkAttached(VirtioDriver driver) throws Exception {
    }

    /** Device-specific checks after {@code swaps} rebinds under {@code workload} (stopped, tallied as {@code tally}). Default none. */
    protected void checkAfterRebindsUnderLoad(VirtioDriver driver, Workload workload, Tally tally, int swaps) throws Exception {
    }

    /** Device-specific checks of {@link VirtioDriver#restore}'s summary line. Default none. */
    protected void checkRestored(VirtioDriver driver, String result) throws Exception {
    }

    // ---- helpers --------------------------------------------------------------------------------

    /** Registers {@code c} to be closed after the test (in reverse order of registration); @return c */
    protected final <C extends AutoCloseable> C closeAfter(C c) {
        toClose.push(c);
        return c;
    }

    @AfterEach
    final void closeAll() throws Exception {
        Exception first = null;
        while (!toClose.isEmpty()) {
            try {
                toClose.pop().close();
            } catch (Exception e) {
                if (first == null) {
                    first = e;
                } else {
                    first.addSuppressed(e);
                }
            }
        }
        if (first != null) {
            throw first;
        }
    }

    private Backend started(Backend b) {
        return closeAfter(b);
    }

    private VirtioDriver create(Backend on, Map<String, Object> config, long swapWaitMs) throws Exception {
        Map<String, Object> c = new HashMap<>(config);
        c.put(DeviceConfigKeys.SWAP_WAIT_MS, swapWaitMs);
        VirtioDriver d = closeAfter(factory().create(on.connect(), c));
        assertThat(d.api(apiType())).as("the application handle").isNotNull();
        assertThat(d.api(Runnable.class)).as("an API the driver does not provide").isNull();
        assertThat(d.summary()).as("summary while bound to %s", on.name()).contains(on.name());
        return d;
    }

    /** Waits (bounded by {@link #AWAIT}) until {@code c} holds; fails naming {@code what} otherwise. */
    protected static void await(BooleanSupplier c, String what) throws InterruptedException {
        long deadline = System.nanoTime() + AWAIT.toNanos();
        while (!c.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out after " + AWAIT.toSeconds() + " s waiting for " + what);
            }
            Thread.sleep(2);
        }
    }

    private void awaitProgress(Workload w, String what) throws InterruptedException {
        long from = w.progress();
        await(() -> w.progress() >= from + progressPerStep(), "workload progress (" + progressPerStep() + " more) " + what);
    }

    private static void assertClean(Tally t, long extraLossAllowed) {
        assertThat(t.firstError()).as("first workload error (%s)", t).isNull();
        assertThat(t.corrupted()).as("corrupted (%s)", t).isZero();
        assertThat(t.duplicated()).as("duplicated (%s)", t).isZero();
        assertThat(t.reordered()).as("reordered (%s)", t).isZero();
        assertThat(t.lost()).as("lost (%s)", t).isLessThanOrEqualTo(t.lossAllowed() + extraLossAllowed);
    }

    /** Runs a workload on {@code d} until it made progress, stops it and checks it is clean. */
    private void exercise(VirtioDriver d, String what) throws Exception {
        Workload w = startWorkload(d);
        awaitProgress(w, what);
        Tally t = w.stop();
        assertClean(t, 0);
        assertThat(t.completed()).as("completed %s", what).isGreaterThanOrEqualTo(progressPerStep());
    }

    private static long counter(VirtioDriver d, String name) {
        Long v = d.counters().get(name);
        assertThat(v).as("counter %s of %s", name, d.counters()).isNotNull();
        return v;
    }

    // ---- the contract -------------------------------------------------------------------------

    @Test
    void rebindsUnderLoadLoseNothingAndKeepTheHandle() throws Exception {
        Backend a = started(startBackend("a"));
        Backend b = started(startBackend("b"));
        VirtioDriver d = create(a, config(), HOLD_WAIT_MS);
        Object handle = d.api(apiType());
        int swaps = swapsUnderLoad();
        List<Long> pausesUs = new ArrayList<>();
        Workload w = startWorkload(d);
        Tally t;
        try {
            for (int i = 0; i < swaps; i++) {
                awaitProgress(w, "before rebind " + (i + 1));
                Backend to = i % 2 == 0 ? b : a;
                d.rebind(to.connect());
                assertThat(d.api(apiType())).as("handle after rebind %d", i + 1).isSameAs(handle);
                assertThat(d.summary()).as("summary after rebind %d", i + 1).contains(to.name());
                awaitProgress(w, "on " + to.name() + " after rebind " + (i + 1));
                pausesUs.add(counter(d, "last.pause.us"));
            }
        } finally {
            t = w.stop();
        }
        System.out.printf("%s: %d rebinds under load, %s; pauses (us) %s%n", getClass().getSimpleName(), swaps, t, pausesUs);
        assertClean(t, 0);
        assertThat(t.completed()).isGreaterThan(swaps * progressPerStep());
        assertThat(counter(d, "swaps")).isEqualTo(swaps);
        assertThat(counter(d, "detached")).isZero();
        assertThat(pausesUs).as("pause of each rebind, last completion on the old back-end to first on the new (us)")
                .hasSize(swaps).allSatisfy(p -> assertThat(p).isBetween(0L, 5_000_000L));
        checkAfterRebindsUnderLoad(d, w, t, swaps);
    }

    @Test
    void aDetachedDeviceHoldsRequestsUntilARebindCompletesThem() throws Exception {
        Backend a = started(startBackend("a"));
        Backend b = started(startBackend("b"));
        VirtioDriver d = create(a, config(), HOLD_WAIT_MS);
        Object handle = d.api(apiType());
        exercise(d, "before the detach");
        d.detach();
        assertThat(counter(d, "detached")).isEqualTo(1);
        assertThat(d.api(apiType())).isSameAs(handle);
        checkDetached(d);
        HeldRequest r = submitWhileDetached(d);
        assertThat(r.completedWithin(HELD_FOR)).as("a request completed while the device had no back-end").isFalse();
        d.rebind(b.connect());
        assertThat(counter(d, "detached")).isZero();
        assertThat(d.summary()).contains(b.name());
        assertThat(d.api(apiType())).isSameAs(handle);
        r.assertCompleted(AWAIT);
        checkAttached(d);
        exercise(d, "after the rebind");
        assertThat(counter(d, "swaps")).isEqualTo(1);
    }

    @Test
    void aDetachedDeviceFailsRequestsAfterItsSwapWaitAndALateRebindStillResumesIt() throws Exception {
        Backend a = started(startBackend("a"));
        Backend b = started(startBackend("b"));
        VirtioDriver d = create(a, config(), SHORT_WAIT_MS);
        Object handle = d.api(apiType());
        long t0 = System.nanoTime();
        d.detach();
        Throwable f = awaitDisconnectedFailure(d, AWAIT);
        long waitedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
        assertThat(f).isInstanceOf(VhostDisconnectedException.class).hasMessageContaining("swap.wait.ms");
        assertThat(waitedMs).as("ms from the detach to the failure").isGreaterThanOrEqualTo(SHORT_WAIT_MS);
        assertThat(counter(d, "detached")).isEqualTo(1);
        d.rebind(b.connect());
        assertThat(d.api(apiType())).isSameAs(handle);
        checkAttached(d);
        exercise(d, "after the late rebind");
        assertThat(counter(d, "swaps")).isEqualTo(1);
        assertThat(counter(d, "detached")).isZero();
    }

    @Test
    void incompatibleBackendsAreRefusedByNameAndTheDeviceKeepsWorkingOnItsOwn() throws Exception {
        Backend a = started(startBackend("a"));
        List<Incompatible> refused = startIncompatibleBackends();
        refused.forEach(i -> closeAfter(i.backend()));
        assertThat(refused).isNotEmpty();
        VirtioDriver d = create(a, config(), HOLD_WAIT_MS);
        Object handle = d.api(apiType());
        Workload w = startWorkload(d);
        Tally t;
        try {
            awaitProgress(w, "before the refused rebinds");
            for (Incompatible i : refused) {
                assertThatThrownBy(() -> d.rebind(i.backend().connect())).as("rebind to %s", i.backend().name())
                        .isInstanceOf(i.refusedWith()).hasMessageContainingAll(i.because().toArray(String[]::new));
                assertThat(d.api(apiType())).isSameAs(handle);
                assertThat(d.summary()).contains(a.name());
            }
            awaitProgress(w, "after the refused rebinds");
        } finally {
            t = w.stop();
        }
        assertClean(t, 0);
        assertThat(counter(d, "swaps")).isZero();
        assertThat(counter(d, "detached")).isZero();
        // a refusal closes the session it opened: each refused back-end serves a driver of its own
        for (Incompatible i : refused) {
            VirtioDriver own = create(i.backend(), i.ownConfig(), HOLD_WAIT_MS);
            exercise(own, "on " + i.backend().name() + " after it was refused");
        }
    }

    @Test
    void aSnapshotTakenAfterRestoreEqualsTheSnapshotRestored() throws Exception {
        Backend a = started(startBackend("a"));
        VirtioDriver d = create(a, config(), HOLD_WAIT_MS);
        Object handle = d.api(apiType());
        exercise(d, "before the snapshot");
        byte[] s1 = d.snapshot();
        assertThat(s1).isNotEmpty();
        exercise(d, "after the snapshot"); // moves the ring indices away from the snapshot's
        assertThat(d.snapshot()).as("a snapshot after I/O (indices moved)").isNotEqualTo(s1);
        String result = d.restore(s1);
        assertThat(result).contains("restored on");
        checkRestored(d, result);
        assertThat(d.snapshot()).as("snapshot after restore equals the snapshot restored").isEqualTo(s1);
        assertThat(d.api(apiType())).isSameAs(handle);
        exercise(d, "after the restore");
    }

    @Test
    void snapshotsUnderLoadLoseNothing() throws Exception {
        Backend a = started(startBackend("a"));
        VirtioDriver d = create(a, config(), HOLD_WAIT_MS);
        int snapshots = 15;
        Workload w = startWorkload(d);
        Tally t;
        try {
            for (int i = 0; i < snapshots; i++) {
                awaitProgress(w, "before snapshot " + (i + 1));
                assertThat(d.snapshot()).as("snapshot %d", i + 1).isNotEmpty();
            }
        } finally {
            t = w.stop();
        }
        assertClean(t, 0);
        assertThat(t.lost()).as("a snapshot restarts the rings in place: nothing lost (%s)", t).isZero();
        assertThat(t.completed()).isGreaterThan(snapshots * progressPerStep());
    }

    @Test
    void badOrForeignSnapshotsAreRefusedByNameAndChangeNothing() throws Exception {
        Backend a = started(startBackend("a"));
        List<Incompatible> foreign = startIncompatibleBackends();
        foreign.forEach(i -> closeAfter(i.backend()));
        VirtioDriver d = create(a, config(), HOLD_WAIT_MS);
        exercise(d, "before the snapshot");
        byte[] good = d.snapshot();
        assertThatThrownBy(() -> d.restore("not a snapshot at all".getBytes(StandardCharsets.US_ASCII)))
                .isInstanceOf(VirtioDeviceException.class).hasMessageContaining("magic");
        assertThatThrownBy(() -> d.restore(Arrays.copyOf(good, good.length / 2)))
                .isInstanceOf(VirtioDeviceException.class).hasMessageContaining("truncated");
        for (Incompatible i : foreign) {
            byte[] theirs;
            try (VirtioDriver other = factory().create(i.backend().connect(), i.ownConfig())) {
                theirs = other.snapshot();
            }
            assertThatThrownBy(() -> d.restore(theirs)).as("a snapshot of a driver on %s", i.backend().name())
                    .isInstanceOf(VhostException.class).hasMessageContaining(i.snapshotRefusal());
        }
        assertThat(d.snapshot()).as("the refusals changed nothing").isEqualTo(good);
        exercise(d, "after the refusals");
    }

    @Test
    void aBackendThatDiesUnderLoadDetachesTheDeviceAndARebindResumesIt() throws Exception {
        Backend mortal = started(startMortalBackend("mortal"));
        Backend b = started(startBackend("b"));
        VirtioDriver d = create(mortal, config(), HOLD_WAIT_MS);
        Object handle = d.api(apiType());
        Workload w = startWorkload(d);
        Tally t;
        try {
            awaitProgress(w, "before the back-end dies");
            mortal.kill();
            await(() -> d.counters().getOrDefault("detached", 0L) == 1L, "the device to detach after its back-end died");
            checkDetached(d);
            d.rebind(b.connect());
            assertThat(d.api(apiType())).isSameAs(handle);
            assertThat(d.summary()).contains(b.name());
            checkAttached(d);
            awaitProgress(w, "after the rebind");
        } finally {
            t = w.stop();
        }
        System.out.printf("%s: a back-end died under load, %s%n", getClass().getSimpleName(), t);
        assertClean(t, lossAllowedWhenTheBackendDies());
        assertThat(counter(d, "swaps")).isEqualTo(1);
        assertThat(counter(d, "detached")).isZero();
    }
}
