package com.vhost.api.backend;

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

    /** Stops listening, ends the session (the socket file is removed) and closes the model. Idempotent. */
    @Override
    void close();
}
