package com.vhost.api;

import org.osgi.annotation.versioning.ProviderType;

/**
 * Capability: the front-end drives the device status byte (VIRTIO 1.2 section 2.1, bits in
 * {@link com.vhost.api.virtio.DeviceStatus}): vhost-user SET_STATUS / GET_STATUS (with protocol
 * feature STATUS), {@code VHOST_VDPA_SET_STATUS} / {@code VHOST_VDPA_GET_STATUS}. The status is
 * a u8, as in QEMU's and rust-vmm's {@code set_status}.
 */
@ProviderType
public interface DeviceStatusBackend extends VhostBackend {
    /**
     * SET_STATUS. @param status a status byte ({@link com.vhost.api.virtio.DeviceStatus#mask}); 0 resets
     *
     * @throws VhostFeatureException on vhost-user without STATUS negotiated
     */
    void setStatus(int status) throws VhostException;

    /**
     * GET_STATUS. @return the status byte, 0..255
     *
     * @throws VhostFeatureException on vhost-user without STATUS negotiated
     */
    int getStatus() throws VhostException;
}
