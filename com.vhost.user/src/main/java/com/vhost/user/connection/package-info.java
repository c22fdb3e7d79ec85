/**
 * vhost-user framing and fd passing over AF_UNIX sockets (rust-vmm {@code vhost_user/connection.rs}),
 * and the device-state pipe both sides use ({@link com.vhost.user.connection.StatePipe}, 1.2.0).
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.2.0")
package com.vhost.user.connection;
