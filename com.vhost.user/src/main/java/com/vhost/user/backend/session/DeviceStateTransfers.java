package com.vhost.user.backend.session;

import com.vhost.api.VhostException;
import com.vhost.api.user.DeviceStateDirection;
import com.vhost.api.virtio.VirtioDevice;
import com.vhost.api.virtio.VirtioDeviceState;
import com.vhost.api.virtio.VirtqueueConfig;
import com.vhost.spi.backend.RebindableDevice;
import com.vhost.spi.nativeio.OwnedFd;
import com.vhost.user.message.DeviceStatePayload;
import java.util.List;
import java.util.concurrent.Executor;
import java.util.function.IntSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * SET_DEVICE_STATE_FD and CHECK_DEVICE_STATE (protocol feature DEVICE_STATE; QEMU
 * {@code docs/interop/vhost-user.rst}, "Migrating back-end state"): the model's
 * {@link VirtioDevice#snapshot()} saved into, or its state loaded from, the front-end's pipe.
 *
 * <p>With every ring stopped, SAVE takes the model's snapshot (the model asleep) and writes it into
 * the pipe (at once when it fits in PIPE_BUF, else on a thread of the server's pool); LOAD reads
 * the pipe to end of file on such a thread; both reply "no back-end fd" (bit 8). CHECK_DEVICE_STATE
 * waits for the transfer and, for LOAD, restores the bytes into the model; it answers 0, or
 * {@link #STATE_ERROR} after a refused or failed transfer, whose reason is logged. Bad state bytes
 * leave the model as it was. A model saved or restored as active stays asleep (running no queue)
 * until the first ring starts, when {@link ModelDriver} rebinds and wakes it.
 *
 * <p>Not thread-safe: the session thread calls it; only the pipe I/O runs elsewhere.
 */
final class DeviceStateTransfers {
    private static final Logger LOG = LoggerFactory.getLogger(DeviceStateTransfers.class);
    /** Bound on one device state transfer through the front-end's pipe, ms. */
    static final long TRANSFER_TIMEOUT_MS = 10_000;
    /** CHECK_DEVICE_STATE's (and a refused SET_DEVICE_STATE_FD's) error code. */
    static final long STATE_ERROR = 1;
    /** Largest SAVE written on the session thread (PIPE_BUF: a pipe with room takes it whole). */
    static final int INLINE_SAVE_BYTES = 4096;

    private final String name;
    private final VirtioDevice model;
    private final Executor threads;
    private final IntSupplier startedRing;
    private final Runnable restored;
    private StateTransfer transfer;
    /** What CHECK_DEVICE_STATE reports: null after a successful transfer. */
    private String result = "no state transfer was started with SET_DEVICE_STATE_FD";

    /**
     * @param name for log messages
     * @param threads runs transfers (the server's pool)
     * @param startedRing the index of a started ring, -1 when every ring is stopped
     * @param restored called after a LOAD replaced the model's state (no queue runs then)
     */
    DeviceStateTransfers(String name, VirtioDevice model, Executor threads, IntSupplier startedRing, Runnable restored) {
        this.name = name;
        this.model = model;
        this.threads = threads;
        this.startedRing = startedRing;
        this.restored = restored;
    }

    /**
     * SET_DEVICE_STATE_FD: refuses (error 1, reason logged and kept for CHECK_DEVICE_STATE) while
     * a ring is started or a transfer still runs; SAVE snapshots the model now; then the bytes
     * move. {@code fd} is owned from here on.
     *
     * @return the reply: {@link DeviceStatePayload#REPLY_NO_FD}, plus error 1 when refused
     */
    long start(DeviceStateDirection direction, OwnedFd fd) {
        String why = null;
        if (transfer != null && transfer.running()) {
            why = "the previous state transfer (" + transfer.direction + ") is still running";
        }
        int started = startedRing.getAsInt();
        if (why == null && started >= 0) {
            why = "ring " + started + " is started; stop every ring (GET_VRING_BASE) first";
        }
        byte[] state = null;
        if (why == null && direction == DeviceStateDirection.SAVE) {
            try {
                state = snapshotModel();
            } catch (VhostException | RuntimeException e) {
                why = "taking the device model's snapshot failed: " + e.getMessage();
            }
        }
        if (why == null) {
            result = null;
            try {
                transfer = new StateTransfer(threads, direction, fd, state);
                LOG.debug("{}: device state {} started{}", name, direction, state != null ? " (" + state.length + " bytes)" : "");
                return DeviceStatePayload.REPLY_NO_FD;
            } catch (RuntimeException e) { // the server is closing: its transfer threads are gone
                why = "no thread to run it: " + e;
            }
        }
        fd.close();
        transfer = null;
        result = direction + " refused: " + why;
        LOG.warn("{}: SET_DEVICE_STATE_FD {}", name, result);
        return DeviceStatePayload.REPLY_NO_FD | STATE_ERROR;
    }

    /** @return whether a transfer was started and not yet checked (CHECK_DEVICE_STATE) or is still running */
    boolean busy() {
        return transfer != null;
    }

    /**
     * The model's snapshot, taken asleep. An active model (running no queue: every ring is
     * stopped) stays asleep until a ring starts, which saves a worker stop and start per
     * transfer; a NEW or INACTIVE one is woken at once.
     */
    private byte[] snapshotModel() throws VhostException {
        if (model.state().isAsleep()) {
            return model.snapshot();
        }
        boolean active = model.state() == VirtioDeviceState.ACTIVE;
        List<VirtqueueConfig> slept = model.sleep();
        try {
            return model.snapshot();
        } finally {
            if (!active || !slept.isEmpty()) {
                model.wake(slept);
            }
        }
    }

    /** CHECK_DEVICE_STATE: waits for the transfer, applies a LOAD. @return 0 or {@link #STATE_ERROR} */
    long check() {
        StateTransfer t = transfer;
        transfer = null;
        if (t != null) {
            String err;
            try {
                err = t.finish(TRANSFER_TIMEOUT_MS + 1000) ? t.error() : "the transfer did not end within " + TRANSFER_TIMEOUT_MS + " ms";
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                err = "interrupted while waiting for the transfer";
            }
            if (err == null && t.direction == DeviceStateDirection.LOAD) {
                err = restoreModel(t.loaded());
            }
            result = err == null ? null : t.direction + " failed: " + err;
        }
        if (result != null) {
            LOG.warn("{}: CHECK_DEVICE_STATE reports an error: {}", name, result);
            return STATE_ERROR;
        }
        return 0;
    }

    /**
     * Restores loaded state bytes into the model while every ring is stopped. On any failure the
     * model gets its own state back, so the session goes on as before.
     *
     * @return null, or why the state was not applied
     */
    private String restoreModel(byte[] bytes) {
        int started = startedRing.getAsInt();
        if (started >= 0) {
            return "ring " + started + " was started before CHECK_DEVICE_STATE; the state is not applied";
        }
        VirtioDeviceState before = model.state();
        List<VirtqueueConfig> slept;
        byte[] own;
        try {
            slept = before.isAsleep() ? List.of() : model.sleep();
        } catch (VhostException | RuntimeException e) {
            return "putting the device model to sleep failed: " + e.getMessage();
        }
        try {
            own = model.snapshot();
        } catch (VhostException | RuntimeException e) {
            wakeAsBefore(before, slept);
            return "putting the device model to sleep failed: " + e.getMessage();
        }
        try {
            model.restore(bytes);
            wakeRestored();
            LOG.info("{}: device state of {} bytes loaded; model {}", name, bytes.length, model.state());
            return null;
        } catch (VhostException | RuntimeException e) {
            String why = "the device model refused the " + bytes.length + "-byte state: " + e.getMessage();
            try {
                if (model.state().isAsleep()) {
                    model.restore(own);
                    wakeAsBefore(before, slept);
                }
            } catch (VhostException | RuntimeException again) {
                LOG.error("{}: putting the device model back as it was failed too: {}", name, again.getMessage());
            }
            return why;
        }
    }

    /** Wakes a model put to sleep for a LOAD with the queues it ran, unless it was asleep {@code before}. */
    private void wakeAsBefore(VirtioDeviceState before, List<VirtqueueConfig> slept) {
        if (before.isAsleep()) {
            return;
        }
        try {
            model.wake(slept);
        } catch (VhostException | RuntimeException e) {
            LOG.error("{}: putting the device model back as it was failed too: {}", name, e.getMessage());
        }
    }

    /**
     * Wakes a model just restored as NEW or INACTIVE. One restored as active stays asleep until
     * the first ring starts (then it is rebound to this session's memory and woken with the
     * rings); a model that cannot be rebound must wake now, over its own memory.
     */
    private void wakeRestored() throws VhostException {
        if (model.state() != VirtioDeviceState.ASLEEP_ACTIVE || !(model instanceof RebindableDevice)) {
            model.wake(List.of());
        }
        restored.run();
    }
}
