package com.vhost.user.backend;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.vhost.api.MemoryRegion;
import com.vhost.api.user.VhostUserBackend;
import com.vhost.api.VhostRefusedException;
import com.vhost.api.VhostTarget;
import com.vhost.api.user.VhostUserProtocolFeature;
import com.vhost.api.VringAddr;
import com.vhost.api.blk.VirtioBlk;
import com.vhost.api.virtio.VirtioDeviceState;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.devices.blk.model.FileBlockModel;
import com.vhost.devices.net.model.LoopbackNetModel;
import com.vhost.spi.nativeio.EventFd;
import com.vhost.spi.nativeio.SharedMemory;
import com.vhost.spi.driver.DeviceStateTransfer;
import com.vhost.user.VhostUserOps;
import com.vhost.user.testing.TestRing;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * DEVICE_STATE on the own back-end (vhost-user spec, "Migrating back-end state"): the state
 * saved through a pipe from one {@link VhostUserServer} loads into another and the loaded model's
 * snapshot equals the saved one; garbage or truncated state fails CHECK_DEVICE_STATE and the
 * session keeps serving; SET_DEVICE_STATE_FD while a ring runs is refused.
 */
@Timeout(60)
class DeviceStateTest {
    private static final long FEATURES = VirtioFeatures.bit(VirtioFeatures.F_VERSION_1) | VirtioFeatures.bit(VirtioBlk.F_FLUSH)
            | VirtioFeatures.bit(VirtioBlk.F_CONFIG_WCE);
    private static final long TIMEOUT_MS = 5000;
    private static final byte[] MAC = {0x52, 0x54, 0x00, 0x12, 0x34, 0x57};

    @TempDir
    Path dir;

    private static VhostUserBackend connect(Path sock, long features) throws Exception {
        VhostUserBackend fe = new VhostUserOps().open(VhostTarget.of(sock.toString()));
        fe.getFeatures();
        fe.setOwner();
        long proto = fe.getProtocolFeatures();
        assertThat(VhostUserProtocolFeature.DEVICE_STATE.in(proto)).as("DEVICE_STATE offered").isTrue();
        fe.setProtocolFeatures(proto);
        fe.setFeatures(features);
        return fe;
    }

    private static byte writeback(VhostUserBackend fe) throws Exception {
        return fe.getConfig(VirtioBlk.CFG_WRITEBACK, 1)[0];
    }

    @Test
    void blkStateSavedFromOneBackEndLoadsIntoAnotherAndItsSnapshotEqualsTheSavedOne() throws Exception {
        try (FileBlockModel a = FileBlockModel.inMemory(1 << 20, 1, 64); FileBlockModel b = FileBlockModel.inMemory(1 << 20, 1, 64);
                VhostUserServer sa = new VhostUserServer(dir.resolve("a.sock"), a);
                VhostUserServer sb = new VhostUserServer(dir.resolve("b.sock"), b)) {
            sa.start();
            sb.start();
            try (VhostUserBackend fa = connect(dir.resolve("a.sock"), FEATURES); VhostUserBackend fb = connect(dir.resolve("b.sock"), FEATURES);
                    Guest ga = new Guest(); Guest gb = new Guest()) {
                // A runs a ring, does I/O, is switched to write-through, and stops its ring
                ga.startRing(fa, 0);
                assertThat(ga.request(VirtioBlk.T_OUT, 8)).isZero();
                fa.setConfig(VirtioBlk.CFG_WRITEBACK, new byte[] {0});
                assertThat(fa.getVringBase(0)).isEqualTo(1);
                assertThat(a.state()).isEqualTo(VirtioDeviceState.ACTIVE);

                byte[] saved = DeviceStateTransfer.save(fa, TIMEOUT_MS);
                assertThat(saved).isNotEmpty();
                assertThat(writeback(fb)).as("B before the load").isEqualTo((byte) 1);

                DeviceStateTransfer.load(fb, saved, TIMEOUT_MS);
                assertThat(writeback(fb)).as("the writeback setting travelled").isEqualTo((byte) 0);
                assertThat(b.ackedFeatures()).isEqualTo(a.ackedFeatures());
                assertThat(DeviceStateTransfer.save(fb, TIMEOUT_MS)).as("B's snapshot equals the one saved from A")
                        .isEqualTo(saved);

                // B still serves: its memory table arrives after the load, then a ring starts
                gb.startRing(fb, 0);
                assertThat(gb.request(VirtioBlk.T_OUT, 8)).isZero();
                assertThat(gb.request(VirtioBlk.T_IN, 8)).isZero();
                assertThat(b.state()).isEqualTo(VirtioDeviceState.ACTIVE);
                assertThat(writeback(fb)).isEqualTo((byte) 0);
                // A's ring restarts after its save, at the base it returned
                ga.restartRing(fa, 0, 1);
                assertThat(ga.request(VirtioBlk.T_IN, 8)).isZero();
            }
        }
    }

    @Test
    void garbageOrTruncatedStateFailsCheckAndTheSessionKeepsServing() throws Exception {
        try (FileBlockModel a = FileBlockModel.inMemory(1 << 20, 1, 64); FileBlockModel b = FileBlockModel.inMemory(1 << 20, 1, 64);
                VhostUserServer sa = new VhostUserServer(dir.resolve("a.sock"), a);
                VhostUserServer sb = new VhostUserServer(dir.resolve("b.sock"), b)) {
            sa.start();
            sb.start();
            try (VhostUserBackend fa = connect(dir.resolve("a.sock"), FEATURES); VhostUserBackend fb = connect(dir.resolve("b.sock"), FEATURES);
                    Guest gb = new Guest()) {
                fa.setConfig(VirtioBlk.CFG_WRITEBACK, new byte[] {0});
                byte[] saved = DeviceStateTransfer.save(fa, TIMEOUT_MS);
                byte[] before = DeviceStateTransfer.save(fb, TIMEOUT_MS);

                byte[] garbage = new byte[saved.length];
                Arrays.fill(garbage, (byte) 0x5A);
                assertThatThrownBy(() -> DeviceStateTransfer.load(fb, garbage, TIMEOUT_MS))
                        .isInstanceOf(VhostRefusedException.class).hasMessageContaining("CHECK_DEVICE_STATE");
                assertThatThrownBy(() -> DeviceStateTransfer.load(fb, Arrays.copyOf(saved, saved.length - 5), TIMEOUT_MS))
                        .isInstanceOf(VhostRefusedException.class).hasMessageContaining("CHECK_DEVICE_STATE");
                assertThatThrownBy(() -> DeviceStateTransfer.load(fb, new byte[0], TIMEOUT_MS))
                        .isInstanceOf(VhostRefusedException.class).hasMessageContaining("CHECK_DEVICE_STATE");
                // more than a pipe holds: the back-end reads it on a thread while it is written
                assertThatThrownBy(() -> DeviceStateTransfer.load(fb, new byte[200 * 1024], TIMEOUT_MS))
                        .isInstanceOf(VhostRefusedException.class).hasMessageContaining("CHECK_DEVICE_STATE");
                assertThat(DeviceStateTransfer.save(fb, TIMEOUT_MS)).as("B's state untouched by the failed loads").isEqualTo(before);
                assertThat(writeback(fb)).isEqualTo((byte) 1);

                // the same session then loads good state and serves I/O
                DeviceStateTransfer.load(fb, saved, TIMEOUT_MS);
                assertThat(writeback(fb)).isEqualTo((byte) 0);
                gb.startRing(fb, 0);
                assertThat(gb.request(VirtioBlk.T_OUT, 3)).isZero();
            }
        }
    }

    @Test
    void stateTransferWhileARingRunsIsRefusedAndWorksOnceItStopped() throws Exception {
        try (LoopbackNetModel a = new LoopbackNetModel(1, 64, MAC, 1500); LoopbackNetModel b = new LoopbackNetModel(1, 64, MAC, 1500);
                VhostUserServer sa = new VhostUserServer(dir.resolve("a.sock"), a);
                VhostUserServer sb = new VhostUserServer(dir.resolve("b.sock"), b)) {
            sa.start();
            sb.start();
            long features = VirtioFeatures.bit(VirtioFeatures.F_VERSION_1);
            try (VhostUserBackend fa = connect(dir.resolve("a.sock"), features); VhostUserBackend fb = connect(dir.resolve("b.sock"), features);
                    Guest ga = new Guest()) {
                ga.startRing(fa, 1); // the transmit queue
                assertThatThrownBy(() -> DeviceStateTransfer.save(fa, TIMEOUT_MS))
                        .isInstanceOf(VhostRefusedException.class).hasMessageContaining("SET_DEVICE_STATE_FD");
                assertThatThrownBy(() -> DeviceStateTransfer.load(fa, new byte[16], TIMEOUT_MS))
                        .isInstanceOf(VhostRefusedException.class).hasMessageContaining("SET_DEVICE_STATE_FD");
                assertThat(a.state()).isEqualTo(VirtioDeviceState.ACTIVE);
                fa.getVringBase(1);
                byte[] saved = DeviceStateTransfer.save(fa, TIMEOUT_MS);
                assertThatThrownBy(() -> DeviceStateTransfer.load(fb, new byte[16], TIMEOUT_MS))
                        .as("garbage").isInstanceOf(VhostRefusedException.class).hasMessageContaining("CHECK_DEVICE_STATE");
                DeviceStateTransfer.load(fb, saved, TIMEOUT_MS);
                assertThat(DeviceStateTransfer.save(fb, TIMEOUT_MS)).isEqualTo(saved);
                assertThat(b.ackedFeatures()).isEqualTo(features);
            }
        }
    }

    /** A guest memory with one split ring (TestRing layout) and blk requests on it. */
    private static final class Guest implements AutoCloseable {
        final SharedMemory mem = SharedMemory.create("guest", 1 << 20);
        final EventFd kick = EventFd.create();
        final EventFd call = EventFd.create();
        TestRing ring;

        Guest() throws Exception {}

        void startRing(VhostUserBackend fe, int index) throws Exception {
            long ua = mem.address();
            fe.setMemTable(List.of(new MemoryRegion(0, 1 << 20, ua, 0, mem.fd())));
            restartRing(fe, index, 0);
        }

        void restartRing(VhostUserBackend fe, int index, int base) throws Exception {
            long ua = mem.address();
            ring = new TestRing(mem.segment(), 0, 16, base);
            fe.setVringNum(index, 16);
            fe.setVringBase(index, base);
            fe.setVringAddr(new VringAddr(index, 0, ua + ring.desc(), ua + ring.used(), ua + ring.avail(), 0));
            fe.setVringCall(index, call.fd());
            fe.setVringKick(index, kick.fd());
            fe.setVringEnable(index, true);
        }

        /** One 512-byte blk request at {@code sector}; @return its status */
        int request(int type, long sector) throws Exception {
            MemorySegment g = ring.memory();
            long hdr = ring.buffer(0);
            long status = ring.buffer(2);
            g.set(TestRing.LE32, hdr, type);
            g.set(TestRing.LE32, hdr + 4, 0);
            g.set(TestRing.LE64, hdr + 8, sector);
            g.set(ValueLayout.JAVA_BYTE, status, (byte) 0xFF);
            ring.descriptor(0, hdr, 16, 1, 1);
            ring.descriptor(1, ring.buffer(1), 512, 1 | (type == VirtioBlk.T_IN ? 2 : 0), 2);
            ring.descriptor(2, status, 1, 2, 0);
            int before = ring.usedIdx();
            ring.publish(0);
            kick.signal();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (ring.usedIdx() == before) {
                long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
                assertThat(left).as("request completed in time").isPositive();
                call.await((int) Math.min(left, 1000));
            }
            return Byte.toUnsignedInt(g.get(ValueLayout.JAVA_BYTE, status));
        }

        @Override
        public void close() {
            kick.close();
            call.close();
            mem.close();
        }
    }
}
