/**
 * The vhost-vdpa backend: a {@link com.vhost.api.VhostOps} of type {@code vdpa} over
 * {@code /dev/vhost-vdpa-N} (Linux {@code drivers/vhost/vdpa.c}): vhost ioctls, the VDPA status,
 * config and vring ioctls, and the memory map as IOTLB messages written to the device fd.
 * 2.0.0: {@code VdpaBackend} implements {@link com.vhost.api.vdpa.VhostVdpaBackend} (backend
 * features as {@code get/setBackendFeatures}, {@code vqsCount}), and {@code open} returns it.
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("2.0.0")
package com.vhost.vdpa;
