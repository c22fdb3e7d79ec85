/**
 * The platform's own virtio-blk driver over a vhost backend (no VM): the front-end
 * {@link com.vhost.devices.blk.driver.VirtioBlkFrontend}, the
 * {@link com.vhost.api.blk.BlockDevice} implementation
 * {@link com.vhost.devices.blk.driver.VirtioBlkDriver} with its zero-allocation
 * {@link com.vhost.devices.blk.driver.BlkRequestQueue}, and the registry's factory.
 *
 * <p>Implementation package: private to its bundle (not exported); other bundles reach it only
 * through the services it registers.
 */
package com.vhost.devices.blk.driver;
