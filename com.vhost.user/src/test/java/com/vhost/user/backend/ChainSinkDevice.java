package com.vhost.user.backend;

import com.vhost.api.VhostException;
import com.vhost.api.VirtqueueException;
import com.vhost.api.virtio.GuestMemory;
import com.vhost.api.virtio.Interrupt;
import com.vhost.api.virtio.VirtioDeviceType;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.api.virtio.VirtqueueConfig;
import com.vhost.spi.backend.QueueWorker;
import com.vhost.spi.backend.WorkerDevice;
import com.vhost.spi.virtqueue.DescriptorChain;
import com.vhost.spi.virtqueue.DeviceQueue;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.LoggerFactory;

/**
 * Test model for the session fuzz targets: two queues of up to 256 descriptors on one
 * {@link QueueWorker}; every chain popped is read whole (its readable bytes copied out), its
 * writable bytes zeroed and its last writable byte set, then completed. So whatever chain a fuzzed
 * guest publishes is walked and touched as a real device would.
 *
 * <p>What the fuzz oracle reads: {@link #processCalls} (the worker ran the handler, e.g. after a
 * kick), {@link #chainFaults} (the handler's typed {@link VirtqueueException}s: a malformed chain,
 * the queue stops) and {@link #unexpected} (anything else the handler threw, which the worker
 * would contain and turn into needs-reset: a finding).
 */
final class ChainSinkDevice extends WorkerDevice {
    static final long FEATURES = VirtioFeatures.bit(VirtioFeatures.F_VERSION_1)
            | VirtioFeatures.bit(VirtioFeatures.F_INDIRECT_DESC) | VirtioFeatures.bit(VirtioFeatures.F_EVENT_IDX);
    static final int QUEUES = 2;
    static final int MAX_QUEUE_SIZE = 256;

    final AtomicInteger processCalls = new AtomicInteger();
    final AtomicInteger chainFaults = new AtomicInteger();
    final ConcurrentLinkedQueue<Throwable> unexpected = new ConcurrentLinkedQueue<>();
    private final MemorySegment scratch = Arena.ofAuto().allocate(1 << 16);
    private volatile QueueWorker worker;

    ChainSinkDevice() {
        super(LoggerFactory.getLogger(ChainSinkDevice.class), "chain sink");
    }

    /** @return whether queue {@code index} is served by the worker and has not failed */
    boolean serving(int index) {
        QueueWorker w = worker;
        if (w == null) {
            return false;
        }
        List<DeviceQueue> qs = w.queues();
        for (int i = 0; i < qs.size(); i++) {
            if (qs.get(i).index() == index) {
                return !w.isFailed(i);
            }
        }
        return false;
    }

    @Override
    protected void startQueues(GuestMemory mem, Interrupt irq, List<VirtqueueConfig> queues) throws VhostException {
        List<DeviceQueue> qs = new ArrayList<>();
        for (VirtqueueConfig c : queues) {
            if (c.index() >= QUEUES) {
                throw new VirtqueueException(c.index(), "chain sink has " + QUEUES + " queues");
            }
            qs.add(new DeviceQueue(mem, c, ackedFeatures()));
        }
        DescriptorChain chain = new DescriptorChain(MAX_QUEUE_SIZE);
        QueueWorker w = new QueueWorker("chain-sink", qs, (qi, q) -> drain(q, chain, irq), irq);
        w.start();
        worker = w;
    }

    private void drain(DeviceQueue q, DescriptorChain chain, Interrupt irq) throws VirtqueueException {
        try {
            while (q.pop(chain)) {
                long readable = chain.readableBytes();
                for (long off = 0; off < readable; off += scratch.byteSize()) {
                    chain.copyReadable(off, scratch, 0, Math.min(scratch.byteSize(), readable - off));
                }
                long writable = chain.writableBytes();
                chain.zeroWritable(0, writable);
                if (writable > 0) {
                    chain.writeByte(writable - 1, (byte) 0);
                }
                q.addUsed(chain.head(), (int) Math.min(writable, Integer.MAX_VALUE));
            }
            if (q.needsNotification()) {
                irq.signalUsedQueue(q.index());
            }
        } catch (VirtqueueException e) {
            chainFaults.incrementAndGet();
            throw e;
        } catch (RuntimeException | Error e) {
            unexpected.add(e);
            throw e;
        } finally {
            processCalls.incrementAndGet();
        }
    }

    @Override
    protected List<VirtqueueConfig> stopQueues() throws VhostException {
        QueueWorker w = worker;
        if (w == null) {
            return List.of();
        }
        w.stop(5000);
        worker = null;
        List<VirtqueueConfig> out = new ArrayList<>();
        for (DeviceQueue q : w.queues()) {
            out.add(q.config());
        }
        return out;
    }

    @Override
    public VirtioDeviceType deviceType() {
        return VirtioDeviceType.BLOCK;
    }

    @Override
    public int[] queueMaxSizes() {
        return new int[] {MAX_QUEUE_SIZE, MAX_QUEUE_SIZE};
    }

    @Override
    public long features() {
        return FEATURES;
    }

    @Override
    public void readConfig(long offset, byte[] data) {
        java.util.Arrays.fill(data, (byte) 0);
    }

    @Override
    public void writeConfig(long offset, byte[] data) {
        // no config space: writes are ignored, as past the end of a device's config (VirtioDevice)
    }

    @Override
    public byte[] snapshot() throws VhostException {
        requireAsleep("snapshot");
        return new byte[0];
    }

    @Override
    public void restore(byte[] snapshot) throws VhostException {
        requireAsleep("restore");
        restored(ackedFeatures(), false, List.of());
    }
}
