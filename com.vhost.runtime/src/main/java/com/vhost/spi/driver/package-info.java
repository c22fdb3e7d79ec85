/**
 * SPI for device bundle authors: the base of the platform's own VirtIO drivers (the front-end
 * side). {@link com.vhost.spi.driver.VhostFrontendDevice} holds the VirtioDevice life cycle of a
 * device driven through a {@link com.vhost.spi.vhost.GenericVhostDevice}; hot-swap bookkeeping
 * ({@link com.vhost.spi.driver.HotSwapState}), snapshot framing
 * ({@link com.vhost.spi.driver.SnapshotFrames}), device-state transfer between back-ends and the
 * driver configuration helpers are shared by the blk and net drivers.
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("2.0.0")
package com.vhost.spi.driver;
