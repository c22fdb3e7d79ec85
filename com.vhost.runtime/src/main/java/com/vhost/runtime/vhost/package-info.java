/**
 * The generic vhost device ({@link com.vhost.runtime.vhost.GenericVhostDevice}, QEMU
 * {@code hw/virtio/vhost.c}) that drives any {@link com.vhost.api.VhostBackend}.
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.1.0")
package com.vhost.runtime.vhost;
