package com.vhost.api.backend;

import com.vhost.api.VhostException;
import java.util.Map;
import org.osgi.annotation.versioning.ConsumerType;

/**
 * Registered by each device bundle, with the service property {@link #DEVICE_TYPE}: makes device
 * models of its type for a {@link BackendServer} to serve. The configuration keys are those of
 * {@link com.vhost.api.registry.DeviceConfigKeys} (the "back-end device models" section).
 */
@ConsumerType
public interface DeviceModelFactory {
    /** Service property: the device type's short name ({@code blk}, {@code net}). */
    String DEVICE_TYPE = "vhost.device.type";

    /** @return the short name, equal to the {@link #DEVICE_TYPE} property */
    String deviceType();

    /**
     * Makes a model.
     *
     * @param config model configuration; absent keys take the documented defaults
     * @return the model; the caller closes it (or hands it to {@link BackendServer#serve})
     * @throws IllegalArgumentException naming the key when a value is missing or invalid
     * @throws com.vhost.api.VhostNativeException when what the model opens (image, TAP) cannot be
     *     opened, with the errno
     * @throws VhostException for any other failure
     */
    DeviceModel create(Map<String, Object> config) throws VhostException;
}
