package com.vhost.devices.net.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;


import com.vhost.api.VhostRefusedException;
import com.vhost.api.VhostTarget;
import com.vhost.api.user.VhostUserBackend;
import com.vhost.api.user.VhostUserProtocolFeature;
import com.vhost.api.virtio.VirtioDeviceState;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.spi.driver.DeviceStateTransfer;
import com.vhost.user.VhostUserOps;
import com.vhost.user.backend.VhostUserServer;
import com.vhost.user.testing.RingGuest;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * DEVICE_STATE on the own back-end serving the loopback net model (vhost-user spec, "Migrating
 * back-end state"): SET_DEVICE_STATE_FD while a ring runs is refused, and works once the ring is
 * stopped; the loaded model's state equals the saved one. (Split from the blk model's
 * {@code com.vhost.devices.blk.model.DeviceStateTest} when the tests moved to the device modules.)
 */
@Timeout(60)
class NetDeviceStateTest {
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

    @Test
    void stateTransferWhileARingRunsIsRefusedAndWorksOnceItStopped() throws Exception {
        try (LoopbackNetModel a = new LoopbackNetModel(1, 64, MAC, 1500); LoopbackNetModel b = new LoopbackNetModel(1, 64, MAC, 1500);
                VhostUserServer sa = new VhostUserServer(dir.resolve("a.sock"), a);
                VhostUserServer sb = new VhostUserServer(dir.resolve("b.sock"), b)) {
            sa.start();
            sb.start();
            long features = VirtioFeatures.bit(VirtioFeatures.F_VERSION_1);
            try (VhostUserBackend fa = connect(dir.resolve("a.sock"), features); VhostUserBackend fb = connect(dir.resolve("b.sock"), features);
                    RingGuest ga = new RingGuest()) {
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
}
