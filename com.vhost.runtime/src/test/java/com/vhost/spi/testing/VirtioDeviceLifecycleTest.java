package com.vhost.spi.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.vhost.api.VirtioDeviceException;
import com.vhost.api.virtio.GuestMemoryRegion;
import com.vhost.api.virtio.VirtioDevice;
import com.vhost.api.virtio.VirtioDeviceState;
import com.vhost.api.virtio.VirtqueueConfig;
import com.vhost.spi.memory.GuestMemoryMap;
import com.vhost.spi.nativeio.EventFd;
import com.vhost.spi.nativeio.SharedMemory;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The life-cycle test every {@link VirtioDevice} passes (the crosvm device test macro, second
 * seed): activate, I/O, sleep, snapshot, wake, restore, snapshot equality (on the same device and
 * on a fresh one: snapshot → restore → snapshot gives equal bytes), reset, and the transitions
 * each state refuses. A device test extends it and supplies the device and one request
 * the device completes on any of its queues.
 *
 * <p>Guest memory is one memfd-backed region ({@link SharedMemory}) at guest address
 * {@value #GUEST_BASE}; each queue gets a {@link TestRingDriver} and a kick {@link EventFd}.
 */
public abstract class VirtioDeviceLifecycleTest {
    protected static final long GUEST_BASE = 0x100000;
    private static final long QUEUE_SPAN = 0x100000;
    private static final long AWAIT_MS = 5000;

    private SharedMemory shm;
    protected GuestMemoryMap memory;
    protected final RecordingInterrupt interrupt = new RecordingInterrupt();
    private final List<EventFd> kicks = new ArrayList<>();
    private final List<VirtioDevice> devices = new ArrayList<>();

    /** @return a fresh device in state NEW */
    protected abstract VirtioDevice createDevice() throws Exception;

    /**
     * Writes one request into {@code driver}'s rings and makes it available (no kick); the device
     * must complete it with one used element.
     */
    protected abstract void submitRequest(TestRingDriver driver) throws Exception;

    /**
     * Called with each set of rings the suite lays out (all queues of the device, in queue order)
     * and their configs (kick eventfds), before any is activated: a device whose requests on one
     * queue need help on another (a loopback net device fills a receive buffer only from its
     * transmit queue) keeps them here. Default: nothing.
     */
    protected void ringsLaidOut(List<TestRingDriver> drivers, List<VirtqueueConfig> queues) throws Exception {
    }

    /**
     * @return how many queues (the first ones) {@code wakeMayResumeWithAnotherQueueSet} activates
     *     before waking with all of them; default 1. A device whose first queue cannot complete a
     *     request without others started (a receive queue fed by its transmit queue) says more.
     */
    protected int queuesActivatedFirst() {
        return 1;
    }

    /** Releases a device made by {@link #createDevice()} (default: close it if AutoCloseable). */
    protected void releaseDevice(VirtioDevice device) throws Exception {
        if (device instanceof AutoCloseable c) {
            c.close();
        }
    }

    @BeforeEach
    void setUpMemory() throws Exception {
        shm = SharedMemory.create("lifecycle-guest", 8 * QUEUE_SPAN);
        memory = GuestMemoryMap.of(List.of(
                new GuestMemoryRegion(GUEST_BASE, shm.size(), shm.address(), shm.fd(), 0, shm.segment())));
    }

    @AfterEach
    void tearDown() throws Exception {
        for (VirtioDevice d : devices) {
            releaseDevice(d);
        }
        for (EventFd k : kicks) {
            k.close();
        }
        shm.close();
    }

    private VirtioDevice newDevice() throws Exception {
        VirtioDevice d = createDevice();
        devices.add(d);
        return d;
    }

    /** Lays out rings for every queue of {@code d} (at most 8, size at most 256). */
    private List<TestRingDriver> drivers(VirtioDevice d, int generation) {
        int[] max = d.queueMaxSizes();
        List<TestRingDriver> out = new ArrayList<>();
        int n = Math.min(max.length, 8 / (generation + 1));
        for (int i = 0; i < n; i++) {
            long base = GUEST_BASE + (long) (generation * n + i) * QUEUE_SPAN;
            out.add(new TestRingDriver(memory, i, Math.min(max[i], 256), base, QUEUE_SPAN));
        }
        return out;
    }

    private List<VirtqueueConfig> configs(List<TestRingDriver> drivers) throws Exception {
        List<VirtqueueConfig> out = new ArrayList<>();
        for (TestRingDriver drv : drivers) {
            EventFd k = EventFd.create();
            kicks.add(k);
            out.add(drv.config(k.fd(), -1));
        }
        ringsLaidOut(List.copyOf(drivers), List.copyOf(out));
        return out;
    }

    private void kick(VirtqueueConfig q) throws Exception {
        for (EventFd k : kicks) {
            if (k.fd() == q.kickFd()) {
                k.signal();
            }
        }
    }

    /** Submits one request on {@code q}, kicks it and waits for one more used element. */
    private void requestAndAwait(TestRingDriver drv, VirtqueueConfig q) throws Exception {
        int expectUsed = (drv.usedIdx() + 1) & 0xFFFF;
        submitRequest(drv);
        kick(q);
        assertThat(drv.awaitUsed(expectUsed, AWAIT_MS)).as("queue %d used idx reaches %d", q.index(), expectUsed)
                .isTrue();
    }

    /** @return what the device offers without VIRTIO_F_RING_PACKED: the test drivers lay out split rings */
    protected static long splitFeatures(VirtioDevice dev) {
        return dev.features() & ~com.vhost.api.virtio.VirtioFeatures.bit(com.vhost.api.virtio.VirtioFeatures.F_RING_PACKED);
    }

    @Test
    void activateSleepSnapshotWakeRestore() throws Exception {
        VirtioDevice dev = newDevice();
        assertThat(dev.state()).isEqualTo(VirtioDeviceState.NEW);
        assertThatThrownBy(dev::snapshot).isInstanceOf(VirtioDeviceException.class);
        assertThatThrownBy(() -> dev.wake(List.of())).isInstanceOf(VirtioDeviceException.class);
        assertThatThrownBy(dev::reset).isInstanceOf(VirtioDeviceException.class);

        dev.ackFeatures(splitFeatures(dev));
        assertThat(dev.ackedFeatures()).isEqualTo(splitFeatures(dev));
        List<TestRingDriver> drv = drivers(dev, 0);
        List<VirtqueueConfig> queues = configs(drv);
        dev.activate(memory, interrupt, queues);
        assertThat(dev.state()).isEqualTo(VirtioDeviceState.ACTIVE);
        assertThatThrownBy(() -> dev.activate(memory, interrupt, queues)).isInstanceOf(VirtioDeviceException.class);
        assertThatThrownBy(dev::snapshot).isInstanceOf(VirtioDeviceException.class);
        for (int i = 0; i < drv.size(); i++) {
            requestAndAwait(drv.get(i), queues.get(i));
        }

        List<VirtqueueConfig> slept = dev.sleep();
        assertThat(dev.state()).isEqualTo(VirtioDeviceState.ASLEEP_ACTIVE);
        assertThat(slept).hasSameSizeAs(queues);
        assertThat(slept.get(0).nextAvail()).isEqualTo(1);
        for (int i = 0; i < slept.size(); i++) {
            assertThat(slept.get(i).nextAvail()).as("queue %d: next avail at sleep = what the driver made available", i)
                    .isEqualTo(drv.get(i).availIdx());
        }
        assertThatThrownBy(dev::sleep).isInstanceOf(VirtioDeviceException.class);

        // a request made while asleep waits for wake: nothing is touched while asleep
        submitRequest(drv.get(0));
        kick(queues.get(0));
        Thread.sleep(50);
        assertThat(drv.get(0).usedIdx()).isEqualTo(1);

        byte[] s1 = dev.snapshot();
        assertThat(dev.snapshot()).isEqualTo(s1);
        dev.wake(slept);
        assertThat(dev.state()).isEqualTo(VirtioDeviceState.ACTIVE);
        assertThat(drv.get(0).awaitUsed(2, AWAIT_MS)).as("request made while asleep completes after wake").isTrue();

        List<VirtqueueConfig> slept2 = dev.sleep();
        assertThat(slept2.get(0).nextAvail()).isEqualTo(2);
        byte[] s2 = dev.snapshot();
        assertThat(s2).isNotEqualTo(s1);
        dev.restore(s1);
        assertThat(dev.state()).isEqualTo(VirtioDeviceState.ASLEEP_ACTIVE);
        assertThat(dev.snapshot()).as("snapshot after restore equals the restored one").isEqualTo(s1);
        dev.restore(s2);
        assertThat(dev.snapshot()).isEqualTo(s2);
        assertThat(dev.ackedFeatures()).isEqualTo(splitFeatures(dev));
        dev.wake(slept2);
        requestAndAwait(drv.get(0), queues.get(0));
        assertThat(drv.get(0).usedIdx()).isEqualTo(3);
        assertThat(interrupt.needsReset()).isEmpty();

        dev.reset();
        assertThat(dev.state()).isEqualTo(VirtioDeviceState.INACTIVE);
        assertThatThrownBy(dev::reset).isInstanceOf(VirtioDeviceException.class);
        assertThat(dev.sleep()).isEmpty();
        assertThat(dev.state()).isEqualTo(VirtioDeviceState.ASLEEP_INACTIVE);
        byte[] s3 = dev.snapshot();
        dev.restore(s3);
        assertThat(dev.snapshot()).isEqualTo(s3);
        dev.wake(List.of());
        assertThat(dev.state()).isEqualTo(VirtioDeviceState.INACTIVE);

        // re-activation on fresh rings works
        dev.ackFeatures(splitFeatures(dev));
        List<TestRingDriver> drv2 = drivers(dev, 1);
        List<VirtqueueConfig> queues2 = configs(drv2);
        dev.activate(memory, interrupt, queues2);
        requestAndAwait(drv2.get(0), queues2.get(0));
        dev.reset();
    }

    /**
     * Snapshot equality across devices: the snapshot of a device that ran (features, config,
     * vring addresses and indices) restored on a fresh device of the same kind gives the same
     * bytes back, asleep from ACTIVE and from INACTIVE alike; and the fresh device is then in the
     * state the snapshot was taken in.
     */
    @Test
    void snapshotRestoredOnAFreshDeviceGivesTheSameSnapshot() throws Exception {
        VirtioDevice dev = newDevice();
        dev.ackFeatures(splitFeatures(dev));
        List<TestRingDriver> drv = drivers(dev, 0);
        List<VirtqueueConfig> queues = configs(drv);
        dev.activate(memory, interrupt, queues);
        for (int i = 0; i < drv.size(); i++) {
            requestAndAwait(drv.get(i), queues.get(i));
        }
        requestAndAwait(drv.get(0), queues.get(0));
        List<VirtqueueConfig> slept = dev.sleep();
        assertThat(slept.get(0).nextAvail()).isEqualTo(drv.get(0).availIdx());
        byte[] active = dev.snapshot();
        long acked = dev.ackedFeatures();
        dev.wake(slept);
        dev.reset();
        dev.sleep();
        byte[] inactive = dev.snapshot();
        dev.wake(List.of());

        // Fresh devices (a subclass may close the earlier ones: dev is not used from here on).
        VirtioDevice fresh = newDevice();
        assertThat(fresh.sleep()).isEmpty();
        fresh.restore(active);
        assertThat(fresh.state()).isEqualTo(VirtioDeviceState.ASLEEP_ACTIVE);
        assertThat(fresh.snapshot()).as("snapshot of a fresh device restored from an active one").isEqualTo(active);
        assertThat(fresh.ackedFeatures()).isEqualTo(acked);

        VirtioDevice fresh2 = newDevice();
        fresh2.sleep();
        fresh2.restore(inactive);
        assertThat(fresh2.state()).isEqualTo(VirtioDeviceState.ASLEEP_INACTIVE);
        assertThat(fresh2.snapshot()).as("snapshot of a fresh device restored from an inactive one").isEqualTo(inactive);
        fresh2.wake(List.of());
        assertThat(fresh2.state()).isEqualTo(VirtioDeviceState.INACTIVE);
    }

    @Test
    void wakeMayResumeWithAnotherQueueSet() throws Exception {
        VirtioDevice dev = newDevice();
        dev.ackFeatures(splitFeatures(dev));
        List<TestRingDriver> drv = drivers(dev, 0);
        List<VirtqueueConfig> queues = configs(drv);
        int first = queuesActivatedFirst();
        dev.activate(memory, interrupt, queues.subList(0, first));
        requestAndAwait(drv.get(0), queues.get(0));
        List<VirtqueueConfig> slept = dev.sleep();
        assertThat(slept).hasSize(first);

        List<VirtqueueConfig> more = new ArrayList<>(slept);
        more.addAll(queues.subList(first, queues.size()));
        dev.wake(more);
        requestAndAwait(drv.get(0), queues.get(0));
        assertThat(drv.get(0).usedIdx()).isEqualTo(2);
        for (int i = first; i < drv.size(); i++) {
            requestAndAwait(drv.get(i), queues.get(i));
        }
        assertThat(dev.sleep()).hasSize(queues.size());
        dev.wake(List.of());
        assertThat(dev.state()).isEqualTo(VirtioDeviceState.ACTIVE);
        dev.reset();
    }

    @Test
    void sleepFromNewAndRestoreRules() throws Exception {
        VirtioDevice dev = newDevice();
        assertThat(dev.sleep()).isEmpty();
        assertThat(dev.state()).isEqualTo(VirtioDeviceState.ASLEEP_NEW);
        byte[] s = dev.snapshot();
        assertThatThrownBy(() -> dev.wake(configs(drivers(dev, 0)))).isInstanceOf(VirtioDeviceException.class);
        assertThatThrownBy(() -> dev.restore(new byte[] {1, 2, 3})).isInstanceOf(VirtioDeviceException.class);
        assertThatThrownBy(() -> dev.restore(new byte[0])).isInstanceOf(VirtioDeviceException.class);
        dev.wake(List.of());
        assertThat(dev.state()).isEqualTo(VirtioDeviceState.NEW);
        assertThatThrownBy(() -> dev.restore(s)).isInstanceOf(VirtioDeviceException.class);

        VirtioDevice other = newDevice();
        other.sleep();
        other.restore(s);
        assertThat(other.state()).isIn(VirtioDeviceState.ASLEEP_ACTIVE, VirtioDeviceState.ASLEEP_INACTIVE);
        assertThat(other.snapshot()).isEqualTo(s);
    }
}
