/**
 * The vhost-user extension of the backend API (QEMU {@code docs/interop/vhost-user.rst}): the
 * {@link com.vhost.api.user.VhostUserBackend} operations only a vhost-user connection has
 * (protocol features, queue number, memory slots, inflight region, device-state transfer), their
 * {@link com.vhost.api.user.VhostUserProtocolFeature protocol feature bits}, and the typed
 * SET_DEVICE_STATE_FD {@link com.vhost.api.user.DeviceStateDirection direction} and
 * {@link com.vhost.api.user.DeviceStatePhase phase}. A sub-package of the API, not of the
 * vhost-user bundle, because drivers and the generic vhost device (runtime bundle) use these
 * types without depending on the vhost-user implementation; the transport-neutral root package
 * {@code com.vhost.api} names no vhost-user type.
 *
 * <p>1.1.0: {@link com.vhost.api.user.VhostUserBackend#pipeline} sends ring requests as one batch
 * ({@link com.vhost.api.user.VringRequest}).
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.1.0")
package com.vhost.api.user;
