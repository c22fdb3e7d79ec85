/**
 * The back-end side of the platform: device models ({@link com.vhost.api.backend.DeviceModel},
 * made by the device bundles' {@link com.vhost.api.backend.DeviceModelFactory} services) and the
 * vhost-user back-end server ({@link com.vhost.api.backend.BackendServer}) that serves them to
 * QEMU, DPDK or this platform's own drivers.
 *
 * <p>1.1.0: {@link com.vhost.api.backend.SocketOptions} and
 * {@code BackendServer.serve(Path, DeviceModel, SocketOptions)}: the listening socket is private
 * (0600) unless a mode and group are given.
 *
 * <p>1.2.0: {@link com.vhost.api.backend.ModelHandover} and {@code ServedBackend.handOver(long)}:
 * the served model is replaced under a connected front-end without ending its session (a live
 * upgrade of the device model's bundle); {@code BackendServer.served()} and
 * {@code DeviceModel.configuration()}, so an upgrade finds every served model and makes its
 * successor.
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.2.0")
package com.vhost.api.backend;
