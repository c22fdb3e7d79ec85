package com.vhost.registry;

import com.vhost.api.registry.DeviceInfo;

/**
 * Service each {@link DeviceComponent} registers inside this bundle so {@link DeviceRegistryImpl}
 * can aggregate them. Not exported.
 */
public interface ManagedDevice {
    /** @return the device's current state */
    DeviceInfo info();

    /**
     * @param type an application API such as {@code BlockDevice.class}
     * @return the bound driver's handle, or null when not bound or not of that API
     */
    <T> T api(Class<T> type);
}
