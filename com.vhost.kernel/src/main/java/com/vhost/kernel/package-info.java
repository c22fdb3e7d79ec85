/**
 * The vhost-kernel backend: a {@link com.vhost.api.VhostOps} of type {@code kernel} over Linux's
 * {@code /dev/vhost-net}, whose rings are served by the kernel's vhost worker into a TAP device.
 * {@code VhostNetBackend} is a {@link com.vhost.api.VringEnableBackend} (the TAP attach, on
 * {@code TapDevice} of the runtime SPI {@code com.vhost.spi.tap}).
 *
 * <p>Implementation package: private to its bundle (not exported); other bundles reach it only
 * through the services it registers.
 */
package com.vhost.kernel;
