/**
 * The application's view of a virtio-blk device ({@link com.vhost.api.blk.BlockDevice}) and the
 * virtio-blk constants (VIRTIO 1.2, section 5.2). Offsets and lengths are in bytes; the device
 * counts in sectors of 512 bytes whatever its block size. {@link com.vhost.api.blk.BlockQueues} is the
 * low-level, allocation-free path (one thread per queue: submit, kick, poll).
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.2.0")
package com.vhost.api.blk;
