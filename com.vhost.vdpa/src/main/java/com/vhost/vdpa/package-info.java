/**
 * The vhost-vdpa backend: a {@link com.vhost.api.VhostOps} of type {@code vdpa} over
 * {@code /dev/vhost-vdpa-N} (Linux {@code drivers/vhost/vdpa.c}): vhost ioctls, the VDPA status,
 * config and vring ioctls, and the memory map as IOTLB messages written to the device fd.
 * {@code VdpaBackend} implements {@link com.vhost.api.vdpa.VhostVdpaBackend}.
 *
 * <p>Implementation package: private to its bundle (not exported); other bundles reach it only
 * through the services it registers.
 */
package com.vhost.vdpa;
