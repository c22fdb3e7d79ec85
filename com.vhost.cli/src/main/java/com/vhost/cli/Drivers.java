package com.vhost.cli;

import com.vhost.api.registry.VirtioDriver;
import java.util.Collections;
import java.util.Map;
import java.util.WeakHashMap;

/**
 * The {@link VirtioDriver} behind each application handle ({@code BlockDevice}, {@code NetDevice})
 * the CLI opened, for the commands that need the driver's hot-swap and counters. Weak keys: a
 * handle the command dropped takes its entry with it.
 */
final class Drivers {
    private final Map<Object, VirtioDriver> byHandle = Collections.synchronizedMap(new WeakHashMap<>());

    void put(Object handle, VirtioDriver driver) {
        byHandle.put(handle, driver);
    }

    /** @return the driver of {@code handle}, or null when the CLI did not open it */
    VirtioDriver get(Object handle) {
        return byHandle.get(handle);
    }
}
