package com.vhost.user.testing;

import com.vhost.api.VhostException;
import com.vhost.api.VirtioDeviceException;
import com.vhost.api.virtio.GuestMemory;
import com.vhost.api.virtio.Interrupt;
import com.vhost.api.virtio.VirtioDevice;
import com.vhost.api.virtio.VirtioDeviceState;
import com.vhost.api.virtio.VirtioDeviceType;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.api.virtio.VirtqueueConfig;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * Test-only device model: records every life-cycle call and, on activate and wake, writes a
 * marker into each queue's used ring ({@code used->idx = 0x4242}) and signals the queue, so a test
 * can see that memory mapping, address translation and the call eventfd all work. sleep() reports
 * {@code nextAvail = base + 3} per queue, as if it had consumed three requests.
 */
public final class RecordingDevice implements VirtioDevice {
    public static final long FEATURE_BIT_5 = 1L << 5;
    public static final short USED_MARKER = 0x4242;

    public final List<String> calls = new CopyOnWriteArrayList<>();
    public volatile List<VirtqueueConfig> lastQueues = List.of();
    public final byte[] config;
    public final java.util.concurrent.atomic.AtomicInteger configReads = new java.util.concurrent.atomic.AtomicInteger();
    private final int queues;
    private volatile VirtioDeviceState state = VirtioDeviceState.NEW;
    private volatile long acked;
    private GuestMemory memory;
    private Interrupt interrupt;

    public RecordingDevice(int queues) {
        this(queues, new byte[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16});
    }

    /** @param config initial config space bytes */
    public RecordingDevice(int queues, byte[] config) {
        this.queues = queues;
        this.config = config.clone();
    }

    @Override
    public VirtioDeviceType deviceType() {
        return VirtioDeviceType.BLOCK;
    }

    @Override
    public int[] queueMaxSizes() {
        int[] s = new int[queues];
        java.util.Arrays.fill(s, 256);
        return s;
    }

    @Override
    public long features() {
        return VirtioFeatures.bit(VirtioFeatures.F_VERSION_1) | VirtioFeatures.bit(VirtioFeatures.F_RING_PACKED) | FEATURE_BIT_5;
    }

    @Override
    public void ackFeatures(long features) {
        if ((features & ~features()) != 0) {
            throw new IllegalArgumentException("unknown features 0x" + Long.toHexString(features));
        }
        acked = features;
        calls.add("ackFeatures(0x" + Long.toHexString(features) + ")");
    }

    @Override
    public long ackedFeatures() {
        return acked;
    }

    @Override
    public synchronized void readConfig(long offset, byte[] data) {
        configReads.incrementAndGet();
        for (int i = 0; i < data.length; i++) {
            long o = offset + i;
            data[i] = o < config.length ? config[(int) o] : 0;
        }
    }

    @Override
    public synchronized void writeConfig(long offset, byte[] data) {
        for (int i = 0; i < data.length && offset + i < config.length; i++) {
            config[(int) offset + i] = data[i];
        }
    }

    @Override
    public synchronized void activate(GuestMemory memory, Interrupt interrupt, List<VirtqueueConfig> queues) throws VhostException {
        if (state != VirtioDeviceState.NEW && state != VirtioDeviceState.INACTIVE) {
            throw new VirtioDeviceException("activate in state " + state);
        }
        this.memory = memory;
        this.interrupt = interrupt;
        this.lastQueues = List.copyOf(queues);
        state = VirtioDeviceState.ACTIVE;
        calls.add("activate" + indices(queues));
        touch(queues);
    }

    @Override
    public synchronized void reset() throws VhostException {
        if (state != VirtioDeviceState.ACTIVE) {
            throw new VirtioDeviceException("reset in state " + state);
        }
        state = VirtioDeviceState.INACTIVE;
        lastQueues = List.of();
        calls.add("reset");
    }

    @Override
    public synchronized List<VirtqueueConfig> sleep() throws VhostException {
        calls.add("sleep");
        switch (state) {
            case ACTIVE -> {
                state = VirtioDeviceState.ASLEEP_ACTIVE;
                List<VirtqueueConfig> out = new ArrayList<>();
                for (VirtqueueConfig q : lastQueues) {
                    out.add(q.withNextAvail((q.nextAvail() + 3) & 0xFFFF));
                }
                return out;
            }
            case NEW -> state = VirtioDeviceState.ASLEEP_NEW;
            case INACTIVE -> state = VirtioDeviceState.ASLEEP_INACTIVE;
            default -> throw new VirtioDeviceException("sleep in state " + state);
        }
        return List.of();
    }

    @Override
    public synchronized void wake(List<VirtqueueConfig> queues) throws VhostException {
        calls.add("wake" + indices(queues));
        switch (state) {
            case ASLEEP_ACTIVE -> {
                state = VirtioDeviceState.ACTIVE;
                lastQueues = List.copyOf(queues);
                touch(queues);
            }
            case ASLEEP_NEW -> state = VirtioDeviceState.NEW;
            case ASLEEP_INACTIVE -> state = VirtioDeviceState.INACTIVE;
            default -> throw new VirtioDeviceException("wake in state " + state);
        }
    }

    private void touch(List<VirtqueueConfig> queues) {
        for (VirtqueueConfig q : queues) {
            MemorySegment used = memory.slice(q.usedAddr(), 4);
            used.set(ValueLayout.JAVA_SHORT_UNALIGNED, 2, USED_MARKER);
            interrupt.signalUsedQueue(q.index());
        }
    }

    @Override
    public byte[] snapshot() throws VhostException {
        throw new VirtioDeviceException("RecordingDevice keeps no state to snapshot");
    }

    @Override
    public void restore(byte[] snapshot) throws VhostException {
        throw new VirtioDeviceException("RecordingDevice keeps no state to restore");
    }

    @Override
    public VirtioDeviceState state() {
        return state;
    }

    /** Test hook: raise a config change or needs-reset through the interrupt the server gave. */
    public synchronized Interrupt interrupt() {
        return interrupt;
    }

    private static String indices(List<VirtqueueConfig> qs) {
        StringBuilder sb = new StringBuilder("[");
        for (VirtqueueConfig q : qs) {
            sb.append(sb.length() > 1 ? "," : "").append(q.index());
        }
        return sb.append(']').toString();
    }
}
