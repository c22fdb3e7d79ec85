/**
 * The virtio-blk back-end model (OASIS VIRTIO 1.2, section 5.2): {@link
 * com.vhost.devices.blk.model.FileBlockModel} serves a raw image or a memfd disk on its own queue
 * worker, for the vhost-user back-end server.
 *
 * <p>Implementation package: private to its bundle (not exported); other bundles reach it only
 * through the services it registers.
 */
package com.vhost.devices.blk.model;
