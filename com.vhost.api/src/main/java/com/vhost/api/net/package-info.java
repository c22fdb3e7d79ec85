/**
 * The application's view of a virtio-net device ({@link com.vhost.api.net.NetDevice}: burst
 * transmit and receive of Ethernet frames, MAC, MTU, link, queue pairs, per-pair statistics) and
 * the virtio-net constants ({@link com.vhost.api.net.VirtioNet}; OASIS VIRTIO 1.2, section 5.1).
 * Frame lengths are in bytes and exclude the {@code virtio_net_hdr_v1}, which the driver adds and
 * strips.
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.0.0")
package com.vhost.api.net;
