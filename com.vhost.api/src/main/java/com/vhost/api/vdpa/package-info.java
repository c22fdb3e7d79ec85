/**
 * The vhost-vdpa extension of the backend API (Linux {@code include/uapi/linux/vhost.h},
 * {@code VHOST_VDPA_*}): {@link com.vhost.api.vdpa.VhostVdpaBackend}, the operations only a
 * vhost-vdpa device has (backend features, device ID, IOVA range, queue limits). A sub-package of
 * the API so that drivers and the generic vhost device use it without depending on the vDPA
 * backend bundle.
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.0.0")
package com.vhost.api.vdpa;
