/**
 * The vhost ioctl interface shared by vhost-kernel ({@code /dev/vhost-net}) and vhost-vdpa
 * ({@code /dev/vhost-vdpa-N}): request codes from one {@code _IOC} encoder (Linux
 * {@code include/uapi/asm-generic/ioctl.h}, {@code include/uapi/linux/vhost.h}) and a
 * {@link com.vhost.api.VhostBackend} base over them.
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("2.0.0")
package com.vhost.spi.ioctl;
