/**
 * The vhost API: the {@link com.vhost.api.VhostOps} backend service that each backend bundle
 * (kernel, user, vdpa) registers, the transport-neutral per-connection operations
 * {@link com.vhost.api.VhostBackend} and the capability interfaces some transports add
 * ({@link com.vhost.api.VringEnableBackend}, {@link com.vhost.api.ConfigSpaceBackend},
 * {@link com.vhost.api.DeviceStatusBackend}, {@link com.vhost.api.SuspendableBackend},
 * {@link com.vhost.api.DeviceStateBackend}), the generic {@link com.vhost.api.VhostDevice} (QEMU
 * {@code include/hw/virtio/vhost.h}), their neutral records, and the error hierarchy. Per-transport
 * extensions live in {@code com.vhost.api.user} and {@code com.vhost.api.vdpa}.
 *
 * <p>2.0.0: {@code VhostBackend} lost every transport-specific operation (to the capability
 * interfaces and the extensions) and {@code type()}; {@code VhostUserProtocolFeature} and
 * {@code InflightRegion} moved to {@code com.vhost.api.user}.
 *
 * <p>2.1.0: {@code DeviceStateBackend.carryTo}, a state carry a transport may overlap.
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("2.1.0")
package com.vhost.api;
