/**
 * The vhost API: the {@link com.vhost.api.VhostOps} backend service that each backend bundle
 * (kernel, user, vdpa) registers, the per-connection operation table {@link
 * com.vhost.api.VhostBackend}, the generic {@link com.vhost.api.VhostDevice} (QEMU
 * {@code include/hw/virtio/vhost.h}), their neutral records, and the error hierarchy.
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.2.0")
package com.vhost.api;
