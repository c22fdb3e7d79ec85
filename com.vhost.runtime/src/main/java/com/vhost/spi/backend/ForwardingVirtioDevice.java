package com.vhost.spi.backend;

import com.vhost.api.VhostException;
import com.vhost.api.virtio.GuestMemory;
import com.vhost.api.virtio.Interrupt;
import com.vhost.api.virtio.VirtioDevice;
import com.vhost.api.virtio.VirtioDeviceState;
import com.vhost.api.virtio.VirtioDeviceType;
import com.vhost.api.virtio.VirtqueueConfig;
import java.util.List;
import java.util.Objects;

/**
 * A {@link VirtioDevice} that forwards every call to another; subclasses override what they
 * change (e.g. a device that hides feature bits). It implements the plain interface only, so a
 * wrapped model is served without its optional interfaces ({@link PerQueueDevice},
 * {@link RebindableDevice}): the vhost-user server then uses the whole-model sleep/wake path.
 */
public class ForwardingVirtioDevice implements VirtioDevice {
    private final VirtioDevice delegate;

    /** @param delegate the device every call goes to */
    public ForwardingVirtioDevice(VirtioDevice delegate) {
        this.delegate = Objects.requireNonNull(delegate, "delegate");
    }

    /** @return the device every call goes to */
    protected final VirtioDevice delegate() {
        return delegate;
    }

    @Override
    public VirtioDeviceType deviceType() {
        return delegate.deviceType();
    }

    @Override
    public int[] queueMaxSizes() {
        return delegate.queueMaxSizes();
    }

    @Override
    public long features() {
        return delegate.features();
    }

    @Override
    public void ackFeatures(long features) {
        delegate.ackFeatures(features);
    }

    @Override
    public long ackedFeatures() {
        return delegate.ackedFeatures();
    }

    @Override
    public void readConfig(long offset, byte[] data) {
        delegate.readConfig(offset, data);
    }

    @Override
    public void writeConfig(long offset, byte[] data) {
        delegate.writeConfig(offset, data);
    }

    @Override
    public void activate(GuestMemory memory, Interrupt interrupt, List<VirtqueueConfig> queues) throws VhostException {
        delegate.activate(memory, interrupt, queues);
    }

    @Override
    public void reset() throws VhostException {
        delegate.reset();
    }

    @Override
    public List<VirtqueueConfig> sleep() throws VhostException {
        return delegate.sleep();
    }

    @Override
    public void wake(List<VirtqueueConfig> queues) throws VhostException {
        delegate.wake(queues);
    }

    @Override
    public byte[] snapshot() throws VhostException {
        return delegate.snapshot();
    }

    @Override
    public void restore(byte[] snapshot) throws VhostException {
        delegate.restore(snapshot);
    }

    @Override
    public VirtioDeviceState state() {
        return delegate.state();
    }
}
