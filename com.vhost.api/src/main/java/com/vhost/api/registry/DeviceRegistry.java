package com.vhost.api.registry;

import java.util.List;
import java.util.Optional;
import org.osgi.annotation.versioning.ProviderType;

/**
 * Binds each configured device (Configuration Admin factory PID {@link #DEVICE_FACTORY_PID}) to
 * the best active {@link com.vhost.api.VhostOps} of the requested type, and unbinds it when that
 * backend goes away.
 */
@ProviderType
public interface DeviceRegistry {
    /** Factory PID of device configurations. */
    String DEVICE_FACTORY_PID = "com.vhost.device";

    /** @return every configured device */
    List<DeviceInfo> devices();

    /** @return every active backend service */
    List<BackendInfo> backends();

    /** @return the device's info, empty when no such id */
    Optional<DeviceInfo> device(String id);

    /**
     * @param id a device id
     * @param type the application API, e.g. {@code BlockDevice.class}
     * @return the handle of the bound device, empty when not bound or not of that API
     */
    <T> Optional<T> deviceApi(String id, Class<T> type);
}
