package com.vhost.devices.net.model;

import static org.assertj.core.api.Assertions.assertThat;

import com.vhost.api.net.VirtioNet;
import com.vhost.api.virtio.GuestMemoryRegion;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.api.virtio.VirtqueueConfig;
import com.vhost.spi.memory.GuestMemoryMap;
import com.vhost.spi.nativeio.EventFd;
import com.vhost.spi.nativeio.Linux;
import com.vhost.spi.nativeio.SharedMemory;
import com.vhost.spi.testing.RecordingInterrupt;
import com.vhost.spi.testing.TestRingDriver;
import com.vhost.spi.testing.TestRingDriver.Buf;
import java.lang.foreign.ValueLayout;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The order of the two completions of a looped frame, checked with a fault on the first. Runs in
 * a JVM of its own (the {@code fault-order} surefire execution of this module, not default-test):
 * the fault is a SIGBUS, which HotSpot raises at the faulting access only while that code is
 * interpreted; once the data path is JIT-compiled (other tests of the module push thousands of
 * frames through it) the InternalError is delivered at the next safepoint poll, after later
 * stores ran, so the order could not be observed through a fault any more.
 */
class LoopedFrameFaultOrderTest {
    private static final long BASE = 0x100000;
    private static final long SPAN = 0x100000;

    private SharedMemory shm;
    private EventFd rxKick;
    private EventFd txKick;
    private LoopbackNetModel model;
    private final RecordingInterrupt irq = new RecordingInterrupt();

    @BeforeEach
    void setUp() throws Exception {
        shm = SharedMemory.create("net-fault-order-test", 2 * SPAN);
        rxKick = EventFd.create();
        txKick = EventFd.create();
        model = LoopbackNetModel.withDefaults(1);
    }

    @AfterEach
    void tearDown() {
        model.close();
        rxKick.close();
        txKick.close();
        shm.close();
    }

    private static long base() {
        return VirtioFeatures.bit(VirtioFeatures.F_VERSION_1);
    }

    /**
     * A looped frame's transmit chain is completed before its receive buffer is published, so a
     * back-end that dies between the two stores loses the frame instead of the driver offering the
     * transmit chain again to the next back-end and receiving the frame twice. The transmit
     * queue's used ring lies in a memory region of its own, its flags and index at the end of the
     * first page and its elements on the second, which the test truncates away before the kick:
     * completing the chain faults (SIGBUS, the queue stops with needs-reset), and the frame,
     * copied into the receive buffer already, must not have been published on the receive queue.
     */
    @Test
    void aLoopedFrameIsCompletedOnTransmitBeforeItIsPublishedOnReceive() throws Exception {
        try (SharedMemory usedRing = SharedMemory.create("net-model-tx-used", 8192)) {
            long regionGpa = BASE + shm.size();
            long usedGpa = regionGpa + 4096 - 4; // flags and idx on page 1, the elements on page 2
            GuestMemoryMap two = GuestMemoryMap.of(List.of(
                    new GuestMemoryRegion(BASE, shm.size(), shm.address(), shm.fd(), 0, shm.segment()),
                    new GuestMemoryRegion(regionGpa, usedRing.size(), usedRing.address(), usedRing.fd(), 0, usedRing.segment())));
            TestRingDriver rx = new TestRingDriver(two, 0, 64, BASE, SPAN);
            TestRingDriver tx = new TestRingDriver(two, 1, 64, BASE + SPAN, SPAN);
            VirtqueueConfig t = tx.config(txKick.fd(), -1);
            model.ackFeatures(base());
            model.activate(two, irq, List.of(rx.config(rxKick.fd(), -1), new VirtqueueConfig(t.index(), t.size(), t.descAddr(),
                    t.availAddr(), usedGpa, t.nextAvail(), t.kickFd(), t.callFd(), true)));
            long b = rx.alloc(2048);
            rx.submit(new Buf(b, 2048, true));
            long f = tx.alloc(VirtioNet.HDR_SIZE + 60);
            tx.at(f, VirtioNet.HDR_SIZE + 60).fill((byte) 0x11);
            tx.submit(new Buf(f, VirtioNet.HDR_SIZE + 60, false));
            Linux.ftruncate(usedRing.fd(), 4096); // writing a used element of the transmit queue will fault
            txKick.signal();
            long until = System.nanoTime() + 5_000_000_000L;
            while (irq.needsReset().isEmpty() && System.nanoTime() < until) {
                Thread.sleep(5);
            }
            assertThat(irq.needsReset()).as("completing the transmit chain faulted").isNotEmpty();
            assertThat(rx.at(b + VirtioNet.HDR_SIZE, 1).get(ValueLayout.JAVA_BYTE, 0)).as("frame copied; needs-reset: %s", irq.needsReset()).isEqualTo((byte) 0x11);
            assertThat(rx.usedIdx()).as("the frame is not published before its transmit chain is completed").isZero();
            assertThat(model.counters(0).rxPackets()).isZero();
            model.close(); // before the region goes
        }
    }
}
