package com.vhost.spi.driver;

import com.vhost.api.virtio.VirtioDeviceType;
import java.util.Objects;
import java.util.Set;

/**
 * What differs between the {@link VhostDriver}s (blk, net) beyond their hooks: device type, API
 * types, names in messages and threads, and bounds.
 *
 * @param type the VIRTIO device type a new backend must serve (VIRTIO 1.2, section 5)
 * @param apis the application types {@link VhostDriver#api} answers with the driver
 * @param device the device's name in messages, e.g. {@code virtio-blk}
 * @param threads the prefix of the driver's thread names, e.g. {@code vhost-blk}
 * @param waiting what waits while detached, e.g. {@code requests} or {@code frames}
 * @param holders what may hold the swap lock, e.g. {@code rebind/detach/close}
 * @param retaken what happens to chains a stopped back-end did not complete, e.g.
 *     {@code resubmitting them}
 * @param notStopped what happens when the rings could not be stopped, e.g.
 *     {@code resubmitting everything not completed}
 * @param closeBusy the warning when close goes on while the swap lock is held
 * @param stragglerWaitNanos bound on waiting for chains a stopped back-end had taken, ns
 * @param stateTransferMs bound on each SAVE and LOAD of a back-end's state, ms
 */
public record DriverProfile(VirtioDeviceType type, Set<Class<?>> apis, String device, String threads, String waiting,
        String holders, String retaken, String notStopped, String closeBusy, long stragglerWaitNanos, long stateTransferMs) {
    public DriverProfile {
        Objects.requireNonNull(type, "type");
        apis = Set.copyOf(apis);
        Objects.requireNonNull(device, "device");
        Objects.requireNonNull(threads, "threads");
    }
}
