/**
 * Split virtqueues (OASIS VIRTIO 1.2, section 2.7): the device side
 * ({@link com.vhost.runtime.virtqueue.DeviceQueue}, {@link com.vhost.runtime.virtqueue.DescriptorChain}).
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.0.0")
package com.vhost.runtime.virtqueue;
