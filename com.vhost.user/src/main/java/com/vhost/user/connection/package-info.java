/**
 * vhost-user framing and fd passing over AF_UNIX sockets (rust-vmm {@code vhost_user/connection.rs}),
 * and the device-state pipe both sides use ({@link com.vhost.user.connection.StatePipe}).
 *
 * <p>Implementation package: private to its bundle (not exported); other bundles reach it only
 * through the services it registers.
 */
package com.vhost.user.connection;
