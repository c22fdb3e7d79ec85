package com.vhost.devices.net.driver;

import static com.vhost.user.testing.NetFrames.echo;
import static com.vhost.user.testing.NetFrames.fill;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.vhost.api.VhostDisconnectedException;
import com.vhost.api.VhostTarget;
import com.vhost.api.VirtioDeviceException;
import com.vhost.api.net.NetQueueStats;
import com.vhost.api.net.VirtioNet;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.devices.net.model.LoopbackNetModel;
import com.vhost.user.VhostUserOps;
import com.vhost.user.backend.VhostUserServer;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The project's virtio-net driver ({@link VirtioNetDriver}) against the project's loopback
 * back-end ({@link VhostUserServer} serving {@link LoopbackNetModel}) over a real vhost-user
 * socket: sequence-numbered frames of 60..1514 bytes come back intact and in order, on 1 and 2
 * queue pairs, with and without MRG_RXBUF (small receive buffers force multi-buffer frames), in
 * notification and polling mode; control commands and bad input give typed errors and counters.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class NetDriverOverLoopbackTest {
    private static final byte[] MODEL_MAC = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};

    @TempDir
    Path dir;

    private VirtioNetDriver open(Path sock, NetDriverOptions o) throws Exception {
        return VirtioNetDriver.open(new VhostUserOps().open(VhostTarget.of(sock.toString())), o);
    }

    @Test
    void framesComeBackIntactInOrderOnOnePair() throws Exception {
        Path sock = dir.resolve("net1.sock");
        try (LoopbackNetModel model = new LoopbackNetModel(1, 256, MODEL_MAC, 1500);
                VhostUserServer server = new VhostUserServer(sock, model)) {
            server.start();
            try (VirtioNetDriver net = open(sock, NetDriverOptions.defaults())) {
                assertThat(net.info().mac()).isEqualTo("52:54:00:12:34:56");
                assertThat(net.mtu()).isEqualTo(1500);
                assertThat(net.linkUp()).isTrue();
                assertThat(net.info().mergeableRxBuffers()).isTrue();
                assertThat(VirtioFeatures.has(net.info().features(), VirtioNet.F_CTRL_VQ)).isTrue();
                echo(net, 0, 2000, 32);
                NetQueueStats st = net.stats(0);
                assertThat(st.txPackets()).isEqualTo(2000);
                assertThat(st.rxPackets()).isEqualTo(2000);
                assertThat(st.rxErrors()).isZero();
                assertThat(st.txBytes()).isEqualTo(st.rxBytes());
                assertThat(model.counters(0).txPackets()).isEqualTo(2000);
                assertThat(model.counters(0).rxPackets()).isEqualTo(2000);
                assertThat(model.counters(0).rxNoBuffer()).isZero();
            }
        }
    }

    @Test
    void mergeableBuffersCarryFramesLargerThanOneBuffer() throws Exception {
        Path sock = dir.resolve("mrg.sock");
        try (LoopbackNetModel model = new LoopbackNetModel(1, 256, MODEL_MAC, 1500);
                VhostUserServer server = new VhostUserServer(sock, model)) {
            server.start();
            // 256-byte buffers: a 1514-byte frame spans 7 of them
            try (VirtioNetDriver net = open(sock, NetDriverOptions.defaults().withRxBufferBytes(256).withPoll(true))) {
                assertThat(net.info().mergeableRxBuffers()).isTrue();
                echo(net, 0, 300, 16);
                assertThat(net.stats(0).rxErrors()).isZero();
            }
        }
    }

    @Test
    void busyPollingOnBothSides() throws Exception {
        Path sock = dir.resolve("poll.sock");
        try (LoopbackNetModel model = new LoopbackNetModel(2, 256, MODEL_MAC, 1500);
                VhostUserServer server = new VhostUserServer(sock, model)) {
            model.setPolling(true);
            server.start();
            try (VirtioNetDriver net = open(sock, NetDriverOptions.defaults().withQueuePairs(2).withPoll(true))) {
                echo(net, 0, 1000, 32);
                echo(net, 1, 1000, 32);
                assertThat(model.counters(0).rxPackets() + model.counters(1).rxPackets()).isEqualTo(2000);
            }
        }
    }

    @Test
    void withoutMergeableBuffersSmallBuffersAreRefusedAndBigOnesWork() throws Exception {
        Path sock = dir.resolve("nomrg.sock");
        try (LoopbackNetModel model = new LoopbackNetModel(1, 256, MODEL_MAC, 1500);
                VhostUserServer server = new VhostUserServer(sock, model)) {
            server.start();
            assertThatThrownBy(() -> open(sock, NetDriverOptions.defaults().withMergeableRxBuffers(false).withRxBufferBytes(1024)))
                    .isInstanceOf(VirtioDeviceException.class)
                    .hasMessageContaining("receive buffers of 1024 bytes cannot hold");
            try (VirtioNetDriver net = open(sock, NetDriverOptions.defaults().withMergeableRxBuffers(false))) {
                assertThat(net.info().mergeableRxBuffers()).isFalse();
                echo(net, 0, 500, 64);
            }
        }
    }

    @Test
    void twoQueuePairsAfterVqPairsSet() throws Exception {
        Path sock = dir.resolve("mq.sock");
        try (LoopbackNetModel model = new LoopbackNetModel(2, 256, MODEL_MAC, 1500);
                VhostUserServer server = new VhostUserServer(sock, model)) {
            server.start();
            try (VirtioNetDriver net = open(sock, NetDriverOptions.defaults().withQueuePairs(2))) {
                assertThat(VirtioFeatures.has(net.info().features(), VirtioNet.F_MQ)).isTrue();
                assertThat(net.queuePairs()).isEqualTo(2);
                echo(net, 0, 400, 32);
                echo(net, 1, 400, 32);
                assertThat(model.counters(1).rxPackets()).isEqualTo(400);
                net.setQueuePairs(1);
                assertThat(net.queuePairs()).isEqualTo(1);
                assertThatThrownBy(() -> net.transmit(1, new MemorySegment[0], new int[0], 0))
                        .isInstanceOf(VirtioDeviceException.class).hasMessageContaining("queue pair 1 outside");
                echo(net, 0, 100, 32);
                net.setQueuePairs(2);
                echo(net, 1, 100, 32);
                assertThatThrownBy(() -> net.setQueuePairs(3)).isInstanceOf(VirtioDeviceException.class)
                        .hasMessageContaining("3 pairs outside 1..2");
            }
        }
    }

    @Test
    void controlCommandsAndMalformedOnes() throws Exception {
        Path sock = dir.resolve("ctrl.sock");
        try (LoopbackNetModel model = new LoopbackNetModel(1, 256, MODEL_MAC, 1500);
                VhostUserServer server = new VhostUserServer(sock, model)) {
            server.start();
            try (VirtioNetDriver net = open(sock, NetDriverOptions.defaults())) {
                net.setMac(NetMacs.parse("02:00:00:00:00:07"));
                assertThat(NetMacs.format(net.mac())).isEqualTo("02:00:00:00:00:07");
                net.setPromiscuous(true);
                assertThat(net.frontend().promiscuous()).isTrue();
                net.setAllMulticast(true);
                assertThat(net.frontend().allMulticast()).isTrue();
                assertThatThrownBy(() -> net.setMac(NetMacs.parse("01:00:5e:00:00:01")))
                        .isInstanceOf(VirtioDeviceException.class).hasMessageContaining("multicast address");
                assertThatThrownBy(() -> net.rawControl(new byte[] {9, 0}))
                        .isInstanceOf(VirtioDeviceException.class).hasMessageContaining("unknown class 9");
                assertThatThrownBy(() -> net.rawControl(new byte[] {VirtioNet.CTRL_RX, VirtioNet.CTRL_RX_PROMISC, 1, 1}))
                        .isInstanceOf(VirtioDeviceException.class).hasMessageContaining("2 data bytes, 1 wanted");
                assertThatThrownBy(() -> net.rawControl(new byte[] {VirtioNet.CTRL_MQ, 0, 1, 0}))
                        .isInstanceOf(VirtioDeviceException.class).hasMessageContaining("VIRTIO_NET_F_MQ");
                assertThat(net.frontend().control().errors()).isEqualTo(4);
                echo(net, 0, 50, 8); // still works
            }
        }
    }

    @Test
    void badFramesNoRxBuffersAndDisconnect() throws Exception {
        Path sock = dir.resolve("bad.sock");
        try (LoopbackNetModel model = new LoopbackNetModel(1, 64, MODEL_MAC, 1500);
                VhostUserServer server = new VhostUserServer(sock, model)) {
            server.start();
            VirtioNetDriver net = open(sock, NetDriverOptions.defaults().withQueueSize(64));
            try (Arena a = Arena.ofConfined()) {
                MemorySegment big = a.allocate(4096);
                assertThatThrownBy(() -> net.transmit(0, new MemorySegment[] {big}, new int[] {1600}, 1))
                        .isInstanceOf(VirtioDeviceException.class)
                        .hasMessageContaining("frame 0 of 1600 bytes outside 14..1518");
                assertThat(net.stats(0).txErrors()).isEqualTo(1);

                // the driver does not receive: its 64 receive buffers fill up, the rest is dropped by the device
                MemorySegment[] tx = new MemorySegment[16];
                int[] len = new int[16];
                for (int i = 0; i < 16; i++) {
                    tx[i] = a.allocate(2048);
                    len[i] = fill(tx[i], i, 100);
                }
                int sent = 0;
                for (int round = 0; round < 8; round++) {
                    sent += net.transmit(0, tx, len, 16);
                    Thread.sleep(20);
                }
                assertThat(sent).isEqualTo(128);
                long deadline = System.currentTimeMillis() + 5000;
                while (model.counters(0).txPackets() < 128 && System.currentTimeMillis() < deadline) {
                    Thread.sleep(10);
                }
                assertThat(model.counters(0).rxPackets()).isEqualTo(64);
                assertThat(model.counters(0).rxNoBuffer()).isEqualTo(64);
                MemorySegment[] rx = new MemorySegment[64];
                int[] rl = new int[64];
                for (int i = 0; i < 64; i++) {
                    rx[i] = a.allocate(64); // too small for the 100-byte frames: dropped and counted
                }
                assertThat(net.receive(0, rx, rl, 64)).isZero();
                assertThat(net.stats(0).rxErrors()).isEqualTo(64);

                // the back-end goes away mid-burst: the driver keeps bursting and is told within its
                // liveness interval (50 ms), with a typed exception
                server.close();
                com.vhost.api.VhostException told = null;
                long t0 = System.nanoTime();
                while (told == null && System.nanoTime() - t0 < 2_000_000_000L) {
                    try {
                        net.transmit(0, tx, len, 16);
                        Thread.sleep(1);
                    } catch (VhostDisconnectedException e) {
                        told = e;
                    }
                }
                assertThat(told).as("transmit after the back-end left").isNotNull();
                assertThat(told).hasMessageContaining("disconnected");
                assertThat((System.nanoTime() - t0) / 1_000_000).as("ms until told").isLessThan(1000);
                assertThatThrownBy(() -> net.transmit(0, tx, len, 16)).isInstanceOf(VhostDisconnectedException.class);
                assertThat(net.linkUp()).isFalse();
            } finally {
                net.close();
            }
            assertThatThrownBy(() -> net.receive(0, new MemorySegment[0], new int[0], 0))
                    .isInstanceOf(VhostDisconnectedException.class).hasMessageContaining("closed");
        }
    }
}
