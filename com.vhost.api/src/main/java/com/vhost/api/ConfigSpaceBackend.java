package com.vhost.api;

import org.osgi.annotation.versioning.ProviderType;

/**
 * Capability: the back-end has the device's config space (VIRTIO 1.2 section 4.x "device
 * configuration layout" of each device type). vhost-user GET_CONFIG / SET_CONFIG (with protocol
 * feature CONFIG) and CONFIG_CHANGE_MSG on the backend request channel; vhost-vdpa
 * {@code VHOST_VDPA_GET_CONFIG} / {@code VHOST_VDPA_SET_CONFIG} and the config call eventfd
 * ({@code VHOST_VDPA_SET_CONFIG_CALL}). vhost-net has none: its front-end owns MAC and status.
 */
@ProviderType
public interface ConfigSpaceBackend extends VhostBackend {
    /**
     * GET_CONFIG: reads {@code size} bytes of device config space at {@code offset} bytes.
     *
     * @return exactly {@code size} bytes
     * @throws VhostFeatureException on vhost-user without CONFIG negotiated
     * @throws VhostException when the device refused (vDPA: EINVAL for a range past its config)
     */
    byte[] getConfig(int offset, int size) throws VhostException;

    /**
     * SET_CONFIG: writes {@code data} to device config space at {@code offset} bytes.
     *
     * @throws VhostFeatureException on vhost-user without CONFIG negotiated
     */
    void setConfig(int offset, byte[] data) throws VhostException;

    /**
     * Registers the listener run (on a transport thread) when the back-end reports a config
     * change; null unregisters.
     */
    void setConfigChangeListener(Runnable listener);
}
