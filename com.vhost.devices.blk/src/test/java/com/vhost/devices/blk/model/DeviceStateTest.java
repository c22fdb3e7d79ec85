package com.vhost.devices.blk.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;


import com.vhost.api.VhostRefusedException;
import com.vhost.api.VhostTarget;
import com.vhost.api.user.VhostUserBackend;
import com.vhost.api.user.VhostUserProtocolFeature;
import com.vhost.api.blk.VirtioBlk;
import com.vhost.api.virtio.VirtioDeviceState;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.spi.driver.DeviceStateTransfer;
import com.vhost.user.VhostUserOps;
import com.vhost.user.backend.VhostUserServer;
import com.vhost.user.testing.RingGuest;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * DEVICE_STATE on the own back-end (vhost-user spec, "Migrating back-end state"): the state
 * saved through a pipe from one {@link VhostUserServer} loads into another and the loaded model's
 * snapshot equals the saved one; garbage or truncated state fails CHECK_DEVICE_STATE and the
 * session keeps serving (the blk model; SET_DEVICE_STATE_FD while a ring runs is in
 * {@code com.vhost.devices.net.model.NetDeviceStateTest}).
 */
@Timeout(60)
class DeviceStateTest {
    /** @return the model's I/O engine ({@code DeviceStateUringTest}: io_uring) */
    FileBlockModel.Aio aio() {
        return FileBlockModel.Aio.THREADS;
    }

    private static final long FEATURES = VirtioFeatures.bit(VirtioFeatures.F_VERSION_1) | VirtioFeatures.bit(VirtioBlk.F_FLUSH)
            | VirtioFeatures.bit(VirtioBlk.F_CONFIG_WCE);
    private static final long TIMEOUT_MS = 5000;

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
        try (FileBlockModel a = FileBlockModel.inMemory(1 << 20, 1, 64, aio()); FileBlockModel b = FileBlockModel.inMemory(1 << 20, 1, 64, aio());
                VhostUserServer sa = new VhostUserServer(dir.resolve("a.sock"), a);
                VhostUserServer sb = new VhostUserServer(dir.resolve("b.sock"), b)) {
            sa.start();
            sb.start();
            try (VhostUserBackend fa = connect(dir.resolve("a.sock"), FEATURES); VhostUserBackend fb = connect(dir.resolve("b.sock"), FEATURES);
                    RingGuest ga = new RingGuest(); RingGuest gb = new RingGuest()) {
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
        try (FileBlockModel a = FileBlockModel.inMemory(1 << 20, 1, 64, aio()); FileBlockModel b = FileBlockModel.inMemory(1 << 20, 1, 64, aio());
                VhostUserServer sa = new VhostUserServer(dir.resolve("a.sock"), a);
                VhostUserServer sb = new VhostUserServer(dir.resolve("b.sock"), b)) {
            sa.start();
            sb.start();
            try (VhostUserBackend fa = connect(dir.resolve("a.sock"), FEATURES); VhostUserBackend fb = connect(dir.resolve("b.sock"), FEATURES);
                    RingGuest gb = new RingGuest()) {
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
}
