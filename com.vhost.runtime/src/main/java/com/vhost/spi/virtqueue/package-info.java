/**
 * Split virtqueues (OASIS VIRTIO 1.2, section 2.7) over shared memory, and on the driver side packed
 * virtqueues (section 2.8, since 1.2): the device side
 * ({@link com.vhost.spi.virtqueue.DeviceQueue}, {@link com.vhost.spi.virtqueue.DescriptorChain})
 * and the driver side ({@link com.vhost.spi.virtqueue.DriverQueue}) used by the platform's own
 * VirtIO drivers.
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.2.0")
package com.vhost.spi.virtqueue;
