/**
 * The vhost-kernel backend: a {@link com.vhost.api.VhostOps} of type {@code kernel} over Linux's
 * {@code /dev/vhost-net}, whose rings are served by the kernel's vhost worker into a TAP device.
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("2.0.0")
package com.vhost.kernel;
