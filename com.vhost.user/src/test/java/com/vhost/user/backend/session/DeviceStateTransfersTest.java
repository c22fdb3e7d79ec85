package com.vhost.user.backend.session;

import static org.assertj.core.api.Assertions.assertThat;

import com.vhost.api.VhostException;
import com.vhost.api.VirtioDeviceException;
import com.vhost.api.user.DeviceStateDirection;
import com.vhost.api.virtio.GuestMemory;
import com.vhost.api.virtio.Interrupt;
import com.vhost.api.virtio.VirtioDevice;
import com.vhost.api.virtio.VirtioDeviceState;
import com.vhost.api.virtio.VirtioDeviceType;
import com.vhost.api.virtio.VirtqueueConfig;

import com.vhost.spi.nativeio.Linux;
import com.vhost.spi.nativeio.OwnedFd;
import com.vhost.user.connection.StatePipe;
import com.vhost.user.message.DeviceStatePayload;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Device state transfers alone (vhost-user spec, "Migrating back-end state"): pipes as the
 * front-end's fds, a model whose state is a byte array. No socket, no rings.
 */
@Timeout(30)
class DeviceStateTransfersTest {
    private final ExecutorService pool = Executors.newCachedThreadPool();
    private final List<OwnedFd> mine = new ArrayList<>();
    private final StateModel model = new StateModel();
    private final AtomicInteger restored = new AtomicInteger();
    private int startedRing = -1;
    private final DeviceStateTransfers transfers = new DeviceStateTransfers("test", model, pool, () -> startedRing,
            restored::incrementAndGet);

    @AfterEach
    void close() {
        mine.forEach(OwnedFd::close);
        pool.shutdownNow();
    }

    /** @return {read end, write end} */
    private OwnedFd[] pipe() throws VhostException {
        int[] p = Linux.pipe();
        OwnedFd[] out = {new OwnedFd(p[0]), new OwnedFd(p[1])};
        mine.addAll(List.of(out));
        return out;
    }

    private static long deadline() {
        return System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
    }

    @Test
    void aSmallSaveIsWrittenAtOnceAndTheModelIsWokenAsItWas() throws Exception {
        model.state = new byte[] {1, 2, 3};
        OwnedFd[] p = pipe();
        assertThat(transfers.start(DeviceStateDirection.SAVE, p[1])).isEqualTo(DeviceStatePayload.REPLY_NO_FD);
        assertThat(p[1].fd()).as("closed: end of file for the front-end").isEqualTo(-1);
        assertThat(StatePipe.readToEof(p[0].fd(), 1 << 20, deadline(), "test")).containsExactly(1, 2, 3);
        assertThat(transfers.check()).isZero();
        assertThat(model.lifeCycle()).isEqualTo(VirtioDeviceState.NEW);
    }

    @Test
    void aSaveLargerThanThePipeRunsOnAThread() throws Exception {
        model.state = new byte[200_000];
        Arrays.fill(model.state, (byte) 7);
        OwnedFd[] p = pipe();
        assertThat(transfers.start(DeviceStateDirection.SAVE, p[1])).isEqualTo(DeviceStatePayload.REPLY_NO_FD);
        assertThat(StatePipe.readToEof(p[0].fd(), 1 << 20, deadline(), "test")).isEqualTo(model.state);
        assertThat(transfers.check()).isZero();
    }

    @Test
    void aLoadIsAppliedAtCheck() throws Exception {
        OwnedFd[] p = pipe();
        assertThat(transfers.start(DeviceStateDirection.LOAD, p[0])).isEqualTo(DeviceStatePayload.REPLY_NO_FD);
        StatePipe.writeFully(p[1].fd(), new byte[] {9, 8}, deadline(), "test");
        p[1].close();
        assertThat(transfers.check()).isZero();
        assertThat(model.state).containsExactly(9, 8);
        assertThat(restored.get()).isOne();
        assertThat(model.lifeCycle()).isEqualTo(VirtioDeviceState.NEW);
    }

    @Test
    void aLoadTheModelRefusesLeavesItsStateAndCheckReportsAnError() throws Exception {
        model.state = new byte[] {5};
        OwnedFd[] p = pipe();
        transfers.start(DeviceStateDirection.LOAD, p[0]);
        StatePipe.writeFully(p[1].fd(), new byte[0], deadline(), "test"); // empty: refused by the model
        p[1].close();
        assertThat(transfers.check()).isEqualTo(DeviceStateTransfers.STATE_ERROR);
        assertThat(model.state).containsExactly(5);
        assertThat(model.lifeCycle()).isEqualTo(VirtioDeviceState.NEW);
        assertThat(restored.get()).isZero();
    }

    @Test
    void aTransferIsRefusedWhileARingIsStartedOrAnotherTransferRuns() throws Exception {
        assertThat(transfers.check()).as("nothing started").isEqualTo(DeviceStateTransfers.STATE_ERROR);
        startedRing = 1;
        OwnedFd[] p = pipe();
        assertThat(transfers.start(DeviceStateDirection.SAVE, p[1])).isEqualTo(DeviceStatePayload.REPLY_NO_FD | DeviceStateTransfers.STATE_ERROR);
        assertThat(p[1].fd()).isEqualTo(-1);
        assertThat(transfers.check()).isEqualTo(DeviceStateTransfers.STATE_ERROR);

        startedRing = -1;
        OwnedFd[] q = pipe();
        assertThat(transfers.start(DeviceStateDirection.LOAD, q[0])).isEqualTo(DeviceStatePayload.REPLY_NO_FD);
        // the LOAD runs until its end of file, so a second transfer is refused
        OwnedFd[] r = pipe();
        assertThat(transfers.start(DeviceStateDirection.LOAD, r[0])).isEqualTo(DeviceStatePayload.REPLY_NO_FD | DeviceStateTransfers.STATE_ERROR);
        assertThat(r[0].fd()).isEqualTo(-1);
        assertThat(transfers.check()).isEqualTo(DeviceStateTransfers.STATE_ERROR);
        q[1].close(); // the first LOAD ends (and closes its fd) on its thread
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (q[0].fd() != -1 && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
    }

    /** A model whose whole state is a byte array; an empty state is refused on restore. */
    static final class StateModel implements VirtioDevice {
        volatile byte[] state = new byte[] {0};
        private VirtioDeviceState life = VirtioDeviceState.NEW;

        synchronized VirtioDeviceState lifeCycle() {
            return life;
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
            return 0;
        }

        @Override
        public void ackFeatures(long features) {
        }

        @Override
        public long ackedFeatures() {
            return 0;
        }

        @Override
        public void readConfig(long offset, byte[] data) {
        }

        @Override
        public void writeConfig(long offset, byte[] data) {
        }

        @Override
        public synchronized void activate(GuestMemory memory, Interrupt interrupt, List<VirtqueueConfig> queues) {
            life = VirtioDeviceState.ACTIVE;
        }

        @Override
        public synchronized void reset() {
            life = VirtioDeviceState.INACTIVE;
        }

        @Override
        public synchronized List<VirtqueueConfig> sleep() throws VhostException {
            life = switch (life) {
                case NEW -> VirtioDeviceState.ASLEEP_NEW;
                case INACTIVE -> VirtioDeviceState.ASLEEP_INACTIVE;
                case ACTIVE -> VirtioDeviceState.ASLEEP_ACTIVE;
                default -> throw new VirtioDeviceException("sleep in state " + life);
            };
            return List.of();
        }

        @Override
        public synchronized void wake(List<VirtqueueConfig> queues) throws VhostException {
            life = switch (life) {
                case ASLEEP_NEW -> VirtioDeviceState.NEW;
                case ASLEEP_INACTIVE -> VirtioDeviceState.INACTIVE;
                case ASLEEP_ACTIVE -> VirtioDeviceState.ACTIVE;
                default -> throw new VirtioDeviceException("wake in state " + life);
            };
        }

        @Override
        public synchronized byte[] snapshot() throws VhostException {
            if (!life.isAsleep()) {
                throw new VirtioDeviceException("snapshot while " + life);
            }
            return state.clone();
        }

        @Override
        public synchronized void restore(byte[] snapshot) throws VhostException {
            if (!life.isAsleep()) {
                throw new VirtioDeviceException("restore while " + life);
            }
            if (snapshot.length == 0) {
                throw new VirtioDeviceException("empty state");
            }
            state = snapshot.clone();
        }

        @Override
        public synchronized VirtioDeviceState state() {
            return life;
        }
    }
}
