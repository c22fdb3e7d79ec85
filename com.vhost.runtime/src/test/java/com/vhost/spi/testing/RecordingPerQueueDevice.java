package com.vhost.spi.testing;

import com.vhost.api.VhostException;
import com.vhost.api.virtio.GuestMemory;
import com.vhost.api.virtio.Interrupt;
import com.vhost.api.virtio.VirtioDevice;
import com.vhost.api.virtio.VirtqueueConfig;
import com.vhost.spi.backend.ForwardingVirtioDevice;
import com.vhost.spi.backend.PerQueueDevice;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * Test-only: a real model that stops and starts single queues ({@link PerQueueDevice}), served
 * as is, with its life-cycle and per-queue calls recorded in {@link #calls} as {@code
 * "activate[0, 1]"}, {@code "reset"}, {@code "sleep"}, {@code "wake"}, {@code "stopQueue(1)"} and
 * {@code "startQueue(1)"}, so a test can check which path the vhost-user server took.
 */
public final class RecordingPerQueueDevice extends ForwardingVirtioDevice implements PerQueueDevice {
    /** The calls so far, in order. */
    public final List<String> calls = new CopyOnWriteArrayList<>();
    private final PerQueueDevice perQueue;

    /** @param model a model that is also a {@link PerQueueDevice} */
    public <M extends VirtioDevice & PerQueueDevice> RecordingPerQueueDevice(M model) {
        super(model);
        this.perQueue = model;
    }

    @Override
    public VirtqueueConfig stopQueue(int index) throws VhostException {
        calls.add("stopQueue(" + index + ")");
        return perQueue.stopQueue(index);
    }

    @Override
    public void startQueue(VirtqueueConfig queue) throws VhostException {
        calls.add("startQueue(" + queue.index() + ")");
        perQueue.startQueue(queue);
    }

    @Override
    public void activate(GuestMemory memory, Interrupt interrupt, List<VirtqueueConfig> queues) throws VhostException {
        calls.add("activate" + queues.stream().map(VirtqueueConfig::index).toList());
        super.activate(memory, interrupt, queues);
    }

    @Override
    public void reset() throws VhostException {
        calls.add("reset");
        super.reset();
    }

    @Override
    public List<VirtqueueConfig> sleep() throws VhostException {
        calls.add("sleep");
        return super.sleep();
    }

    @Override
    public void wake(List<VirtqueueConfig> queues) throws VhostException {
        calls.add("wake");
        super.wake(queues);
    }
}
