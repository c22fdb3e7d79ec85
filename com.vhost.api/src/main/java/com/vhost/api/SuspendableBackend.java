package com.vhost.api;

import org.osgi.annotation.versioning.ProviderType;

/**
 * Capability: every ring stops where it is and the device keeps its state, so GET_VRING_BASE
 * afterwards is exact and a resume continues without a new setup (Linux {@code VHOST_VDPA_SUSPEND}
 * and {@code VHOST_VDPA_RESUME}, backend features SUSPEND bit 4 and RESUME bit 5; QEMU
 * {@code vhost_vdpa_suspend}).
 */
@ProviderType
public interface SuspendableBackend extends VhostBackend {
    /**
     * Suspends the device.
     *
     * @throws VhostFeatureException when backend feature SUSPEND was not set
     */
    void suspend() throws VhostException;

    /**
     * Undoes {@link #suspend()}.
     *
     * @throws VhostFeatureException when backend feature RESUME was not set
     */
    void resume() throws VhostException;
}
