/**
 * The generic vhost device ({@link com.vhost.spi.vhost.GenericVhostDevice}, QEMU
 * {@code hw/virtio/vhost.c}) that drives any {@link com.vhost.api.VhostBackend}.
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.4.0")
package com.vhost.spi.vhost;
