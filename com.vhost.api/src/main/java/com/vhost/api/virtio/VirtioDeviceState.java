package com.vhost.api.virtio;

/**
 * The life-cycle states of a {@link VirtioDevice} (crosvm {@code VirtioDevice}, second seed).
 *
 * <pre>
 *   NEW --activate--> ACTIVE --reset--> INACTIVE --activate--> ACTIVE
 *   each of NEW, ACTIVE, INACTIVE --sleep--> its ASLEEP_* twin --wake--> back
 *   only ASLEEP_* states can be snapshotted; restore goes to ASLEEP_ACTIVE or ASLEEP_INACTIVE
 * </pre>
 */
public enum VirtioDeviceState {
    NEW, ACTIVE, INACTIVE, ASLEEP_NEW, ASLEEP_ACTIVE, ASLEEP_INACTIVE;

    /** @return whether this is one of the asleep states (snapshot allowed) */
    public boolean isAsleep() {
        return this == ASLEEP_NEW || this == ASLEEP_ACTIVE || this == ASLEEP_INACTIVE;
    }
}
