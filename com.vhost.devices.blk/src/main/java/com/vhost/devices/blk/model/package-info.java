/**
 * The virtio-blk back-end model (OASIS VIRTIO 1.2, section 5.2): {@link
 * com.vhost.devices.blk.model.FileBlockModel} serves a raw image or a memfd disk on its own queue
 * worker, for the vhost-user back-end server.
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.0.0")
package com.vhost.devices.blk.model;
