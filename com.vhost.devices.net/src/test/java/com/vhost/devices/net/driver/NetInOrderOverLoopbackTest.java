package com.vhost.devices.net.driver;

import static com.vhost.user.testing.NetFrames.echo;
import static org.assertj.core.api.Assertions.assertThat;

import com.vhost.api.VhostTarget;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.devices.net.model.LoopbackNetModel;
import com.vhost.user.VhostUserOps;
import com.vhost.user.backend.VhostUserServer;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * VIRTIO_F_IN_ORDER (VIRTIO 1.2 2.7.9 / 2.8.8) end to end: the project's virtio-net driver against
 * the loopback model over a real vhost-user socket negotiates it (both offer it), on split and on
 * packed rings; sequence-numbered frames of 60..1514 bytes come back intact and in order, also
 * through 256-byte mergeable receive buffers (frames spanning several buffers) on two pairs and
 * over many laps of 64-entry rings; with {@code in.order=false} it is left out and the same
 * traffic flows.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class NetInOrderOverLoopbackTest {
    private static final byte[] MODEL_MAC = {0x52, 0x54, 0x00, 0x12, 0x34, 0x57};
    private static final long IN_ORDER = VirtioFeatures.bit(VirtioFeatures.F_IN_ORDER);

    @TempDir
    Path dir;

    private VirtioNetDriver open(Path sock, NetDriverOptions o) throws Exception {
        return VirtioNetDriver.open(new VhostUserOps().open(VhostTarget.of(sock.toString())), o);
    }

    @ParameterizedTest(name = "packed={0}")
    @ValueSource(booleans = {false, true})
    void inOrderNegotiatedAndFramesComeBackInOrder(boolean packed) throws Exception {
        Path sock = dir.resolve("inorder-" + packed + ".sock");
        try (LoopbackNetModel model = new LoopbackNetModel(2, 64, MODEL_MAC, 1500);
                VhostUserServer server = new VhostUserServer(sock, model)) {
            server.start();
            assertThat(model.features() & IN_ORDER).as("the loopback model offers IN_ORDER").isNotZero();
            NetDriverOptions o = NetDriverOptions.defaults().withQueuePairs(2).withQueueSize(64).withPacked(packed);
            assertThat(o.inOrder()).as("on by default").isTrue();
            try (VirtioNetDriver net = open(sock, o)) {
                long acked = net.info().features();
                assertThat(acked & IN_ORDER).as("IN_ORDER negotiated").isNotZero();
                assertThat(VirtioFeatures.has(acked, VirtioFeatures.F_RING_PACKED)).isEqualTo(packed);
                assertThat(model.ackedFeatures() & IN_ORDER).as("the model saw it acked").isNotZero();
                for (int ring = 0; ring < 4; ring++) {
                    assertThat(net.ringQueue(ring).inOrder()).as("ring %d in order", ring).isTrue();
                    assertThat(net.ringQueue(ring).isPacked()).isEqualTo(packed);
                }
                echo(net, 0, 1500, 32);
                echo(net, 1, 700, 16);
                assertThat(net.stats(0).rxErrors()).isZero();
                assertThat(model.counters(0).rxPackets()).isEqualTo(1500);
                assertThat(model.counters(1).rxPackets()).isEqualTo(700);
            }
            // mergeable 256-byte receive buffers: a 1514-byte frame takes 7 of them, completed in order
            try (VirtioNetDriver net = open(sock, o.withQueuePairs(1).withRxBufferBytes(256).withPoll(true))) {
                assertThat(net.info().features() & IN_ORDER).isNotZero();
                echo(net, 0, 400, 16);
                assertThat(net.stats(0).rxErrors()).isZero();
            }
        }
    }

    @ParameterizedTest(name = "packed={0}")
    @ValueSource(booleans = {false, true})
    void inOrderSwitchedOffIsLeftOut(boolean packed) throws Exception {
        Path sock = dir.resolve("noinorder-" + packed + ".sock");
        try (LoopbackNetModel model = new LoopbackNetModel(1, 64, MODEL_MAC, 1500);
                VhostUserServer server = new VhostUserServer(sock, model)) {
            server.start();
            NetDriverOptions o = NetDriverOptions.defaults().withQueueSize(64).withPacked(packed).withInOrder(false);
            try (VirtioNetDriver net = open(sock, o)) {
                assertThat(net.info().features() & IN_ORDER).as("IN_ORDER left out").isZero();
                assertThat(model.ackedFeatures() & IN_ORDER).isZero();
                assertThat(net.ringQueue(0).inOrder()).isFalse();
                echo(net, 0, 500, 32);
            }
        }
    }

    @org.junit.jupiter.api.Test
    void configKeyInOrderFalseLeavesItOut() {
        assertThat(NetDriverFactory.options(java.util.Map.of(com.vhost.api.registry.DeviceConfigKeys.IN_ORDER, false)).inOrder()).isFalse();
        assertThat(NetDriverFactory.options(java.util.Map.of()).inOrder()).isTrue();
    }
}
