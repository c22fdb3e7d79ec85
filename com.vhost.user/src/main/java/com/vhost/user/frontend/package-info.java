/**
 * vhost-user frontend (QEMU {@code docs/interop/vhost-user.rst}):
 * {@link com.vhost.user.frontend.VhostUserFrontend}, the {@link com.vhost.api.user.VhostUserBackend}
 * over one connection, its backend request channel, and the front-end's side of device-state
 * transfer (SET_DEVICE_STATE_FD, a pipe, CHECK_DEVICE_STATE).
 *
 * <p>2.0.0: the front-end implements {@code VhostUserBackend} (no {@code type()}; typed
 * device-state direction and phase).
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("2.0.0")
package com.vhost.user.frontend;
