package com.vhost.user.testing;

import com.vhost.api.VhostException;
import com.vhost.api.virtio.GuestMemory;
import com.vhost.api.virtio.Interrupt;
import com.vhost.api.virtio.VirtioDevice;
import com.vhost.api.virtio.VirtqueueConfig;
import com.vhost.spi.backend.ForwardingVirtioDevice;
import com.vhost.spi.backend.PerQueueDevice;
import com.vhost.spi.backend.QueueErrorInterrupt;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A served model (one that has per-queue stop/start, e.g. the blk model) whose needs-reset reasons
 * a test can read: the interrupt the server activates it with is wrapped, every reason recorded
 * ({@code "[queue N] reason"} for a queue error, reported with the queue's index), then passed on unchanged, so the server still sets
 * DEVICE_NEEDS_RESET and writes the ring's error eventfd.
 */
public final class ReasonRecordingDevice extends ForwardingVirtioDevice implements PerQueueDevice {
    private final PerQueueDevice perQueue;
    private final List<String> reasons = new CopyOnWriteArrayList<>();

    /** @param model the model to serve; it must implement {@link PerQueueDevice} */
    public <T extends VirtioDevice & PerQueueDevice> ReasonRecordingDevice(T model) {
        super(model);
        this.perQueue = model;
    }

    /** @return the reasons recorded since the last {@link #clear} */
    public List<String> reasons() {
        return List.copyOf(reasons);
    }

    /** Forgets the recorded reasons. */
    public void clear() {
        reasons.clear();
    }

    @Override
    public void activate(GuestMemory memory, Interrupt interrupt, List<VirtqueueConfig> queues) throws VhostException {
        super.activate(memory, new Recording(interrupt), queues);
    }

    @Override
    public VirtqueueConfig stopQueue(int index) throws VhostException {
        return perQueue.stopQueue(index);
    }

    @Override
    public void startQueue(VirtqueueConfig queue) throws VhostException {
        perQueue.startQueue(queue);
    }

    private final class Recording implements QueueErrorInterrupt {
        private final Interrupt delegate;

        Recording(Interrupt delegate) {
            this.delegate = delegate;
        }

        @Override
        public void signalUsedQueue(int queueIndex) {
            delegate.signalUsedQueue(queueIndex);
        }

        @Override
        public void signalConfigChanged() {
            delegate.signalConfigChanged();
        }

        @Override
        public void signalNeedsReset(String reason) {
            reasons.add(reason);
            delegate.signalNeedsReset(reason);
        }

        @Override
        public void signalQueueError(int queueIndex, String reason) {
            reasons.add("[queue " + queueIndex + "] " + reason);
            if (delegate instanceof QueueErrorInterrupt q) {
                q.signalQueueError(queueIndex, reason);
            } else {
                delegate.signalNeedsReset(reason);
            }
        }
    }
}
