package com.vhost.api.backend;

import com.vhost.api.VhostException;
import java.nio.file.Path;
import org.osgi.annotation.versioning.ProviderType;

/** A {@link DeviceModel} being served by a {@link BackendServer}. */
@ProviderType
public interface ServedBackend extends AutoCloseable {
    /** @return the listening socket */
    Path socket();

    /** @return the model served */
    DeviceModel model();

    /** @return front-end sessions accepted so far */
    long acceptedConnections();

    /**
     * Waits until a front-end is connected.
     *
     * @param millis the longest wait, in milliseconds
     * @return whether one is connected
     */
    boolean awaitConnection(long millis) throws InterruptedException;

    /**
     * Starts handing the served device over to another model, as a live upgrade of the model's
     * bundle needs (issue #11): the session with the front-end (socket, memory table, rings, kick
     * and call eventfds, dirty log, inflight region) stays, the model is put to sleep (its queue
     * workers stopped, requests in flight completed) and snapshotted (crosvm's life cycle: sleep,
     * snapshot, then restore and wake on the new model). Until the handover ends no message of the
     * front-end is handled and no request is processed; the front-end's kicks wait in their
     * eventfds. Call {@link ModelHandover#complete} or {@link ModelHandover#close} on the same
     * handover, promptly: the front-end may time out.
     *
     * @param timeoutMs the longest wait, in milliseconds, for the message being handled to finish
     * @return the handover; the model asleep and its snapshot taken
     * @throws com.vhost.api.VhostTimeoutException when the session did not become free in time
     * @throws VhostException when the model cannot be put to sleep or snapshotted (it is woken
     *     again and keeps serving), or a device state transfer is running, or a handover is
     *     already under way, or the back-end is closed
     */
    ModelHandover handOver(long timeoutMs) throws VhostException;

    /** Stops listening, ends the session (the socket file is removed) and closes the model. Idempotent. */
    @Override
    void close();
}
