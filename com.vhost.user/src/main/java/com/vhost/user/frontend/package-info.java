/**
 * vhost-user frontend (QEMU {@code docs/interop/vhost-user.rst}):
 * {@link com.vhost.user.frontend.VhostUserFrontend}, the {@link com.vhost.api.user.VhostUserBackend}
 * over one connection, its backend request channel, and the front-end's side of device-state
 * transfer (SET_DEVICE_STATE_FD, a pipe, CHECK_DEVICE_STATE).
 *
 * <p>Implementation package: private to its bundle (not exported); other bundles reach it only
 * through the services it registers.
 */
package com.vhost.user.frontend;
