package com.vhost.api.registry;

import com.vhost.api.virtio.VirtioDevice;
import org.osgi.annotation.versioning.ProviderType;

/** A running device made by a {@link VirtioDriverFactory}. */
@ProviderType
public interface VirtioDriver extends AutoCloseable {
    /** @return the device (life cycle, config) */
    VirtioDevice device();

    /**
     * @param type the application API wanted, e.g. {@code BlockDevice.class}
     * @return the application's handle, or null when this driver does not provide {@code type}
     */
    <T> T api(Class<T> type);

    /** @return a one-line summary for shells ("blk 64 MiB, 2 queues, features 0x...") */
    String summary();

    /** Stops the device and closes its backend. */
    @Override
    void close();
}
