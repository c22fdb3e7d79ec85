/**
 * SPI for device bundle authors: the base of the platform's own VirtIO drivers (the front-end
 * side). {@link com.vhost.spi.driver.VhostDriver} is the one driver core: the backend in use,
 * hot-swap ({@link com.vhost.spi.driver.HotSwapState}), quiesce and the rebind / detach /
 * snapshot / restore templates, with the device-specific parts as hooks; its registry factory is
 * {@link com.vhost.spi.driver.VhostDriverFactory}. {@link com.vhost.spi.driver.VhostFrontendDevice}
 * holds the VirtioDevice life cycle of a device driven through a
 * {@link com.vhost.spi.vhost.GenericVhostDevice}; snapshot framing
 * ({@link com.vhost.spi.driver.SnapshotFrames}), device-state transfer between back-ends and the
 * driver configuration helpers are shared by the blk and net drivers. 2.0: DelegatingVirtioDriver
 * is gone (the drivers implement {@link com.vhost.api.registry.VirtioDriver} themselves).
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("2.1.0")
package com.vhost.spi.driver;
