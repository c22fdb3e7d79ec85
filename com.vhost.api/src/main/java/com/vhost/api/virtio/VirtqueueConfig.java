package com.vhost.api.virtio;

/**
 * What a transport tells a device about one split virtqueue at activation.
 *
 * @param index queue index
 * @param size number of descriptors, a power of two, 1..32768
 * @param descAddr guest-physical address of the descriptor table (16-byte aligned)
 * @param availAddr guest-physical address of the available ring (2-byte aligned)
 * @param usedAddr guest-physical address of the used ring (4-byte aligned)
 * @param nextAvail index of the next available entry the device will read (vring base)
 * @param kickFd eventfd the driver writes to notify the device, or -1 (device polls)
 * @param callFd eventfd the device writes to notify the driver, or -1 (driver polls)
 * @param enabled whether the queue is enabled
 */
public record VirtqueueConfig(int index, int size, long descAddr, long availAddr, long usedAddr,
        int nextAvail, int kickFd, int callFd, boolean enabled) {
    public VirtqueueConfig {
        if (size < 1 || size > 32768 || (size & (size - 1)) != 0) {
            throw new IllegalArgumentException("queue " + index + ": size " + size + " is not a power of two in 1..32768");
        }
        if ((descAddr & 15) != 0 || (availAddr & 1) != 0 || (usedAddr & 3) != 0) {
            throw new IllegalArgumentException(String.format(
                    "queue %d: misaligned ring (desc 0x%x needs 16, avail 0x%x needs 2, used 0x%x needs 4)",
                    index, descAddr, availAddr, usedAddr));
        }
        if (nextAvail < 0 || nextAvail > 0xFFFF) {
            throw new IllegalArgumentException("queue " + index + ": nextAvail " + nextAvail + " is not a 16-bit index");
        }
    }

    /** @return a copy with another {@link #nextAvail} */
    public VirtqueueConfig withNextAvail(int next) {
        return new VirtqueueConfig(index, size, descAddr, availAddr, usedAddr, next, kickFd, callFd, enabled);
    }
}
