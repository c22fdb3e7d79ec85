package com.vhost.api;

import org.osgi.annotation.versioning.ProviderType;

/**
 * Capability: rings are switched on and off one by one. vhost-user SET_VRING_ENABLE (in force
 * with {@code VHOST_USER_F_PROTOCOL_FEATURES}: rings then start disabled; vhost-user spec "Ring
 * states"), {@code VHOST_VDPA_SET_VRING_ENABLE}, and on vhost-net {@code VHOST_NET_SET_BACKEND}
 * (enable attaches the ring to its TAP queue, disable detaches it; QEMU {@code vhost_net_start_one}).
 */
@ProviderType
public interface VringEnableBackend extends VhostBackend {
    /**
     * Enables or disables queue {@code index}.
     *
     * @throws VhostFeatureException on vhost-user without PROTOCOL_FEATURES negotiated, or on
     *     vhost-net opened without a TAP (option {@code tap=NAME})
     * @throws VhostException when the back-end refused (naming the request and queue)
     */
    void setVringEnable(int index, boolean enable) throws VhostException;
}
