/**
 * Split virtqueues (OASIS VIRTIO 1.2, section 2.7) over shared memory: the device side
 * ({@link com.vhost.spi.virtqueue.DeviceQueue}, {@link com.vhost.spi.virtqueue.DescriptorChain})
 * and the driver side ({@link com.vhost.spi.virtqueue.DriverQueue}) used by the platform's own
 * VirtIO drivers.
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.1.0")
package com.vhost.spi.virtqueue;
