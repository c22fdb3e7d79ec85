/**
 * Split virtqueues (OASIS VIRTIO 1.2, section 2.7) and, since 1.2, packed virtqueues (section 2.8)
 * over shared memory: the device side ({@link com.vhost.spi.virtqueue.DeviceQueue},
 * {@link com.vhost.spi.virtqueue.DescriptorChain}) used by the back-end models, and the driver
 * side ({@link com.vhost.spi.virtqueue.DriverQueue}) used by the platform's own VirtIO drivers;
 * each picks the layout from the negotiated VIRTIO_F_RING_PACKED. Since 1.3, VIRTIO_F_IN_ORDER:
 * batched used elements on both sides (DeviceQueue#addUsedBatched, DriverQueue#inOrder).
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.3.0")
package com.vhost.spi.virtqueue;
