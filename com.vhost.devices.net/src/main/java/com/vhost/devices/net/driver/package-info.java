/**
 * The platform's own virtio-net driver over a vhost backend (no VM, like DPDK
 * {@code virtio_user}): the front-end {@link com.vhost.devices.net.driver.VirtioNetFrontend}
 * (which handles the control virtqueue itself, {@link com.vhost.devices.net.driver.NetControl}),
 * the {@link com.vhost.api.net.NetDevice} implementation
 * {@link com.vhost.devices.net.driver.VirtioNetDriver} (hot-swap between backends since 1.1), the
 * registry's factory, and {@link com.vhost.devices.net.driver.SequencedStream}, a
 * sequence-numbered echo stream for swap checks and benches.
 *
 * <p>Implementation package: private to its bundle (not exported); other bundles reach it only
 * through the services it registers.
 */
package com.vhost.devices.net.driver;
