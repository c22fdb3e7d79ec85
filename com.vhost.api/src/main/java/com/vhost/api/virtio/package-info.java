/**
 * VirtIO device model API: the {@link com.vhost.api.virtio.VirtioDevice} life cycle (crosvm's
 * {@code VirtioDevice} trait, second seed), device types and status, transport feature bits,
 * guest memory and the split virtqueue layout (OASIS VIRTIO 1.2, section 2.7).
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("2.0.0")
package com.vhost.api.virtio;
