/**
 * The platform's own virtio-blk driver over a vhost backend (no VM): the front-end
 * {@link com.vhost.devices.blk.driver.VirtioBlkFrontend}, the
 * {@link com.vhost.api.blk.BlockDevice} implementation
 * {@link com.vhost.devices.blk.driver.VirtioBlkDriver} with its zero-allocation
 * {@link com.vhost.devices.blk.driver.BlkRequestQueue}, and the registry's factory.
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.3.0")
package com.vhost.devices.blk.driver;
