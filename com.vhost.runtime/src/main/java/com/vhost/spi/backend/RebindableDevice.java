package com.vhost.spi.backend;

import com.vhost.api.VirtioDeviceException;
import com.vhost.api.virtio.GuestMemory;
import com.vhost.api.virtio.Interrupt;
import com.vhost.api.virtio.VirtioDevice;

/**
 * Optional for a back-end {@link VirtioDevice} model: while asleep, replaces the guest memory and
 * interrupt the next {@link VirtioDevice#wake} resumes with. The vhost-user back-end server needs
 * it after loading a device state (SET_DEVICE_STATE_FD, LOAD) taken from an active device: the
 * restored model was never activated here and has no memory of its own. Not part of the API
 * bundle.
 */
public interface RebindableDevice {
    /**
     * @param memory the guest memory to run over (may hold no region while no queue runs)
     * @param interrupt the interrupt to signal
     * @throws VirtioDeviceException when the device is not asleep or an argument is null
     */
    void rebind(GuestMemory memory, Interrupt interrupt) throws VirtioDeviceException;
}
