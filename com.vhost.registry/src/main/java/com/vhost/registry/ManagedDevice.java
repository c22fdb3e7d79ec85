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

    /**
     * Moves the running driver (hot-swap) to another backend service and/or target.
     *
     * @param ops the backend service, or null for the current one
     * @param opsName its name for logs and tables (may be null)
     * @param target a socket or node path, or null for the configured one
     * @return a one-line result for shells
     * @throws com.vhost.api.VhostException when there is no running driver or the move failed
     */
    String swap(com.vhost.api.VhostOps ops, String opsName, String target) throws com.vhost.api.VhostException;

    /** @return per-device counters: the driver's, plus {@code registry.swaps} and {@code registry.last.switch.ms} */
    java.util.Map<String, Long> counters();

    /**
     * Takes a snapshot of the running driver ({@link com.vhost.api.registry.VirtioDriver#snapshot()}).
     *
     * @throws com.vhost.api.VhostException when there is no running driver or it refused
     */
    byte[] snapshot() throws com.vhost.api.VhostException;

    /**
     * Restores the running driver to a snapshot ({@link com.vhost.api.registry.VirtioDriver#restore(byte[])}).
     *
     * @return a one-line result for shells
     * @throws com.vhost.api.VhostException when there is no running driver or it refused
     */
    String restore(byte[] snapshot) throws com.vhost.api.VhostException;
}
