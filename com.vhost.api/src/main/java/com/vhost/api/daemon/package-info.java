/**
 * What the daemon ({@code vhost daemon}, bundle {@code com.vhost.daemon}) shares with other
 * bundles of the platform, such as the web console, health checks and metrics of
 * {@code vhost daemon --http}: the back-ends it serves, the health of devices and served
 * back-ends (the logic of its {@code health} method), and the hot-swap of its
 * {@code device_swap} method, through the {@link com.vhost.api.daemon.DaemonView} service.
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.0.0")
package com.vhost.api.daemon;
