/**
 * vhost-user framing and fd passing over AF_UNIX sockets (rust-vmm {@code vhost_user/connection.rs}).
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.1.0")
package com.vhost.user.connection;
