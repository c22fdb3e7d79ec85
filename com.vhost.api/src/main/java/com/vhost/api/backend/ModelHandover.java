package com.vhost.api.backend;

import com.vhost.api.VhostException;
import org.osgi.annotation.versioning.ProviderType;

/**
 * A served device being handed over from one {@link DeviceModel} to another under a running
 * front-end ({@link ServedBackend#handOver}): the old model is asleep and snapshotted; the
 * session, its memory and rings wait. The usual order for a live upgrade of a device bundle:
 * {@link #snapshot()}, {@link #releaseModel()} (before the bundle that made the model is updated:
 * the framework drops the old bundle revision's classes), make the new model from the updated
 * bundle's {@link DeviceModelFactory}, {@link #complete(DeviceModel)}. Not thread-safe: one caller
 * drives a handover from start to end.
 */
@ProviderType
public interface ModelHandover extends AutoCloseable {
    /** @return the old model's snapshot ({@link com.vhost.api.virtio.VirtioDevice#snapshot()}, taken asleep) */
    byte[] snapshot();

    /** @return the model being replaced (asleep; closed after {@link #releaseModel()}) */
    DeviceModel model();

    /** @return whether a front-end session was connected when the handover began */
    boolean sessionConnected();

    /**
     * Closes the old model (its image or TAP, its threads) while the session waits. After this
     * the handover can only end by {@link #complete} with a new model; {@link #close()} without
     * one ends the session with DEVICE_NEEDS_RESET and stops the served back-end. Idempotent.
     */
    void releaseModel();

    /**
     * Ends the handover with {@code next}: it is put to sleep, restores the snapshot, is rebound to
     * the session's memory and interrupt and woken with the queues the old model ran (their next
     * avail indices, kick and call eventfds); the session then handles messages again. The old
     * model is closed if it was not released. {@code next} must offer the same features and queue
     * sizes as the old model (the front-end negotiated against them).
     *
     * @param next the new model; owned by the served back-end once this returns
     * @return the pause in nanoseconds: from the old model going to sleep to the new one running
     * @throws VhostException when {@code next} refuses the snapshot or differs in features or
     *     queues: the handover stays open (try another model, or {@link #close()}); {@code next}
     *     is left to the caller to close
     */
    long complete(DeviceModel next) throws VhostException;

    /**
     * Ends a handover that was not completed: the old model, if not released, is woken and keeps
     * serving; otherwise the session ends with DEVICE_NEEDS_RESET (logged) and the served back-end
     * is closed. Does nothing after {@link #complete}. Idempotent.
     */
    @Override
    void close();
}
