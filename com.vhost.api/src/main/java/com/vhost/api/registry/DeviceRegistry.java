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

    /**
     * Moves a running device to another backend (hot-swap, {@code vhost:swap}): {@code to} is the
     * name of an active backend service ({@code vhost.backend.name}, see {@link #backends()}), or
     * a socket/node path for the device's current backend type. The application's handle stays
     * valid; in-flight requests complete exactly once.
     *
     * @return a one-line result for shells
     * @throws com.vhost.api.VhostException naming the device and the reason (unknown device, no
     *     running driver, a backend lacking a feature, connect failure)
     * @since 1.1
     */
    default String swap(String id, String to) throws com.vhost.api.VhostException {
        throw new com.vhost.api.VhostFeatureException("swap: this registry cannot move devices");
    }

    /**
     * @return per-device counters (requests, bytes, swaps, last pause ...), empty when no such id
     * @since 1.1
     */
    default java.util.Map<String, Long> counters(String id) {
        return java.util.Map.of();
    }

    /**
     * Takes a snapshot of a running device ({@code vhost:snapshot}), see
     * {@link VirtioDriver#snapshot()}.
     *
     * @return the snapshot bytes
     * @throws com.vhost.api.VhostException naming the device and the reason (unknown device, no
     *     running driver, the driver cannot take snapshots, the backend refused)
     * @since 1.2
     */
    default byte[] snapshot(String id) throws com.vhost.api.VhostException {
        throw new com.vhost.api.VhostFeatureException("snapshot: this registry cannot take device snapshots");
    }

    /**
     * Returns a running device to a snapshot ({@code vhost:restore}), see
     * {@link VirtioDriver#restore(byte[])}.
     *
     * @return a one-line result for shells
     * @throws com.vhost.api.VhostException naming the device and the reason (unknown device, no
     *     running driver, a snapshot of another device type or geometry, the backend refused)
     * @since 1.2
     */
    default String restore(String id, byte[] snapshot) throws com.vhost.api.VhostException {
        throw new com.vhost.api.VhostFeatureException("restore: this registry cannot restore device snapshots");
    }
}
