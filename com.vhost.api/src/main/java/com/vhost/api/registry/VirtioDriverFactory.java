package com.vhost.api.registry;

import com.vhost.api.VhostBackend;
import com.vhost.api.VhostException;
import java.util.Map;
import org.osgi.annotation.versioning.ConsumerType;

/**
 * Registered by each device bundle, with service property {@link #DEVICE_TYPE}: makes a driven
 * device of its type on an open backend. The registry discovers types through these services.
 */
@ConsumerType
public interface VirtioDriverFactory {
    /** Service property: the device type's short name ("blk", "net"). */
    String DEVICE_TYPE = "vhost.device.type";

    /** @return the short name, equal to the {@link #DEVICE_TYPE} property */
    String deviceType();

    /**
     * Makes a device on {@code backend}: negotiates features, sets up memory and queues, starts it.
     *
     * @param backend an open backend; the driver owns it from now on and closes it
     * @param config device configuration (queues, queue.size, read.only, ...)
     * @return the running driver
     */
    VirtioDriver create(VhostBackend backend, Map<String, Object> config) throws VhostException;
}
