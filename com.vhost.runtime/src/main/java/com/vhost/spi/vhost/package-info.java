/**
 * The generic vhost device ({@link com.vhost.spi.vhost.GenericVhostDevice}, QEMU
 * {@code hw/virtio/vhost.c}) that drives any {@link com.vhost.api.VhostBackend}.
 *
 * <p>1.4.0: {@code GenericVhostDevice.stopsInOneBatch}; a one-batch stop switches the rings off in
 * reverse start order.
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.4.0")
package com.vhost.spi.vhost;
