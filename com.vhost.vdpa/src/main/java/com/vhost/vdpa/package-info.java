/**
 * The vhost-vdpa backend: a {@link com.vhost.api.VhostOps} of type {@code vdpa} over
 * {@code /dev/vhost-vdpa-N} (Linux {@code drivers/vhost/vdpa.c}): vhost ioctls, the VDPA status,
 * config and vring ioctls, and the memory map as IOTLB messages written to the device fd.
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.0.0")
package com.vhost.vdpa;
