/**
 * The vhost-kernel backend: a {@link com.vhost.api.VhostOps} of type {@code kernel} over Linux's
 * {@code /dev/vhost-net}, whose rings are served by the kernel's vhost worker into a TAP device.
 * 2.0.0: {@code TapDevice} moved to the runtime SPI ({@code com.vhost.spi.tap}); {@code VhostNetBackend}
 * is a {@link com.vhost.api.VringEnableBackend} (the TAP attach) with backend features as
 * {@code get/setBackendFeatures}, and {@code open} returns it.
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("2.0.0")
package com.vhost.kernel;
