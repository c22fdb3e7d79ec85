package com.vhost.spi.backend;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.vhost.api.VhostException;
import com.vhost.api.VirtioDeviceException;
import com.vhost.api.VirtqueueException;
import com.vhost.api.virtio.GuestMemory;
import com.vhost.api.virtio.Interrupt;
import com.vhost.api.virtio.VirtioDeviceState;
import com.vhost.api.virtio.VirtioDeviceType;
import com.vhost.api.virtio.VirtqueueConfig;
import com.vhost.spi.nativeio.EventFd;
import com.vhost.spi.testing.RecordingInterrupt;
import com.vhost.spi.testing.TestGuestMemory;
import com.vhost.spi.testing.TestRingDriver;
import com.vhost.spi.testing.TestRingDriver.Buf;
import com.vhost.spi.virtqueue.DescriptorChain;
import com.vhost.spi.virtqueue.DeviceQueue;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/** The shared life cycle of {@link WorkerDevice}, on a one-queue device served by a real {@link QueueWorker}. */
class WorkerDeviceTest {
    private static final long OFFERED = 0b1011;

    private final TestGuestMemory mem = new TestGuestMemory(0x10000, 0x80000);
    private final TestRingDriver d0 = new TestRingDriver(mem, 0, 16, 0x10000, 0x40000);
    private final RecordingInterrupt irq = new RecordingInterrupt();
    private final MarkDevice dev = new MarkDevice();

    @AfterEach
    void tearDown() throws Exception {
        dev.stopQueues();
        mem.close();
    }

    /** Completes each request with one byte 0x5A; queue 0 only. */
    private static final class MarkDevice extends WorkerDevice {
        private final DescriptorChain chain = new DescriptorChain(16);
        private QueueWorker worker;
        private int starts;

        MarkDevice() {
            super(LoggerFactory.getLogger(MarkDevice.class), "test");
        }

        @Override
        protected void startQueues(GuestMemory m, Interrupt i, List<VirtqueueConfig> queues) throws VhostException {
            assertThat(memory()).isSameAs(m);
            assertThat(interrupt()).isSameAs(i);
            List<DeviceQueue> qs = new ArrayList<>();
            for (VirtqueueConfig c : queues) {
                if (c.index() != 0) {
                    throw new VirtqueueException(c.index(), "test has queue 0 only");
                }
                qs.add(new DeviceQueue(m, c, ackedFeatures()));
            }
            starts++;
            worker = new QueueWorker("test", qs, (qi, q) -> {
                while (q.pop(chain)) {
                    chain.writeByte(0, (byte) 0x5A);
                    q.addUsed(chain.head(), 1);
                }
            }, i);
            worker.start();
        }

        @Override
        protected List<VirtqueueConfig> stopQueues() throws VhostException {
            QueueWorker w = worker;
            if (w == null) {
                return List.of();
            }
            w.stop(2000);
            worker = null;
            List<VirtqueueConfig> out = new ArrayList<>();
            for (DeviceQueue q : w.queues()) {
                out.add(q.config());
            }
            return out;
        }

        int running() {
            return worker == null ? 0 : worker.queues().size();
        }

        void restoreTo(long features, boolean active, List<VirtqueueConfig> queues) throws VhostException {
            requireAsleep("restore");
            restored(features, active, queues);
        }

        GuestMemory mem() {
            return memory();
        }

        @Override
        public VirtioDeviceType deviceType() {
            return VirtioDeviceType.BLOCK;
        }

        @Override
        public int[] queueMaxSizes() {
            return new int[] {16};
        }

        @Override
        public long features() {
            return OFFERED;
        }

        @Override
        public void readConfig(long offset, byte[] data) {}

        @Override
        public void writeConfig(long offset, byte[] data) {}

        @Override
        public byte[] snapshot() {
            return new byte[0];
        }

        @Override
        public void restore(byte[] snapshot) {}
    }

    @Test
    void servesSleepsAndWakesWithExactlyTheQueuesGiven() throws Exception {
        try (EventFd kick = EventFd.create()) {
            dev.ackFeatures(0b0110); // bit 2 not offered: dropped
            assertThat(dev.ackedFeatures()).isEqualTo(0b0010);
            dev.activate(mem, irq, List.of(d0.config(kick.fd(), -1)));
            assertThat(dev.state()).isEqualTo(VirtioDeviceState.ACTIVE);
            d0.submit(new Buf(d0.alloc(8), 8, true));
            kick.signal();
            assertThat(d0.awaitUsed(1, 2000)).isTrue();

            List<VirtqueueConfig> slept = dev.sleep();
            assertThat(dev.state()).isEqualTo(VirtioDeviceState.ASLEEP_ACTIVE);
            assertThat(slept).hasSize(1);
            assertThat(slept.get(0).nextAvail()).isEqualTo(1);

            dev.wake(List.of()); // resumes no queue (VirtioDevice.wake)
            assertThat(dev.state()).isEqualTo(VirtioDeviceState.ACTIVE);
            assertThat(dev.running()).isZero();
            assertThat(dev.sleep()).isEmpty();

            dev.wake(slept);
            assertThat(dev.running()).isEqualTo(1);
            d0.submit(new Buf(d0.alloc(8), 8, true));
            kick.signal();
            assertThat(d0.awaitUsed(2, 2000)).isTrue();

            dev.reset();
            assertThat(dev.state()).isEqualTo(VirtioDeviceState.INACTIVE);
            assertThat(dev.ackedFeatures()).isZero();
            assertThat(dev.mem()).isNull();
            assertThat(dev.running()).isZero();
        }
    }

    @Test
    void callsInTheWrongStateNameOperationAndState() throws Exception {
        assertThatThrownBy(dev::reset).isInstanceOf(VirtioDeviceException.class)
                .hasMessage("test: reset is not allowed in state NEW");
        assertThatThrownBy(() -> dev.wake(List.of())).isInstanceOf(VirtioDeviceException.class)
                .hasMessage("test: wake is not allowed in state NEW");
        assertThatThrownBy(() -> dev.rebind(mem, irq)).isInstanceOf(VirtioDeviceException.class)
                .hasMessage("test: rebind is not allowed in state NEW");
        assertThatThrownBy(() -> dev.activate(mem, null, List.of())).isInstanceOf(VirtioDeviceException.class)
                .hasMessageContaining("activate needs memory, interrupt and queues");
        dev.sleep();
        assertThatThrownBy(() -> dev.wake(List.of(d0.config(-1, -1)))).isInstanceOf(VirtioDeviceException.class)
                .hasMessage("test: wake from ASLEEP_NEW takes no queues, got 1");
        assertThatThrownBy(() -> dev.activate(mem, irq, List.of())).isInstanceOf(VirtioDeviceException.class)
                .hasMessage("test: activate is not allowed in state ASLEEP_NEW");
        dev.wake(null);
        assertThat(dev.state()).isEqualTo(VirtioDeviceState.NEW);
    }

    @Test
    void failedActivateLeavesTheDeviceAsItWas() {
        VirtqueueConfig c = d0.config(-1, -1);
        VirtqueueConfig bad = new VirtqueueConfig(3, c.size(), c.descAddr(), c.availAddr(), c.usedAddr(), 0, -1, -1, true);
        assertThatThrownBy(() -> dev.activate(mem, irq, List.of(bad))).isInstanceOf(VirtqueueException.class);
        assertThat(dev.state()).isEqualTo(VirtioDeviceState.NEW);
        assertThat(dev.mem()).isNull();
    }

    @Test
    void restoredAsActiveNeedsRebindBeforeWake() throws Exception {
        dev.sleep();
        dev.restoreTo(0b0011, true, List.of(d0.config(-1, -1)));
        assertThat(dev.state()).isEqualTo(VirtioDeviceState.ASLEEP_ACTIVE);
        assertThat(dev.ackedFeatures()).isEqualTo(0b0011);
        assertThatThrownBy(() -> dev.wake(List.of())).isInstanceOf(VirtioDeviceException.class)
                .hasMessageContaining("rebind(memory, interrupt) before wake");
        dev.rebind(mem, irq);
        dev.wake(List.of());
        assertThat(dev.state()).isEqualTo(VirtioDeviceState.ACTIVE);
        assertThat(dev.mem()).isSameAs(mem);

        dev.sleep();
        dev.restoreTo(0, false, List.of());
        assertThat(dev.state()).isEqualTo(VirtioDeviceState.ASLEEP_INACTIVE);
        assertThat(dev.mem()).isNull();
        dev.wake(List.of());
        assertThat(dev.state()).isEqualTo(VirtioDeviceState.INACTIVE);
    }
}
