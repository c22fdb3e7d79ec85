package com.vhost.api.virtio;

import org.osgi.annotation.versioning.ConsumerType;

/** How a device notifies its driver (crosvm {@code Interrupt}). */
@ConsumerType
public interface Interrupt {
    /** Used-buffer notification for queue {@code queueIndex} (writes its call eventfd). */
    void signalUsedQueue(int queueIndex);

    /** Configuration-change notification. */
    void signalConfigChanged();

    /** The device found an error it cannot recover from: sets DEVICE_NEEDS_RESET. */
    void signalNeedsReset(String reason);
}
