/**
 * SPI: host TAP interfaces ({@code /dev/net/tun}, Linux {@code include/uapi/linux/if_tun.h}) for
 * the bundles that need one: the vhost-kernel backend attaches a TAP queue to each vhost-net ring
 * pair ({@code VHOST_NET_SET_BACKEND}), and the virtio-net device bundle's TAP back-end model
 * reads and writes frames on it. Here, in the runtime bundle, so that a device bundle uses a TAP
 * without importing a backend bundle.
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.0.0")
package com.vhost.spi.tap;
