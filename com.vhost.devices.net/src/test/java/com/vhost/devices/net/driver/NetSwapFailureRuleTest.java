package com.vhost.devices.net.driver;

import static com.vhost.user.testing.FaultyBackends.connect;
import static com.vhost.user.testing.FaultyBackends.refusingKick;
import static com.vhost.user.testing.NetFrames.echo;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.vhost.api.VhostDisconnectedException;
import com.vhost.api.VhostException;
import com.vhost.api.blk.BlockDevice;
import com.vhost.api.net.NetDevice;
import com.vhost.api.registry.VirtioDriver;
import com.vhost.devices.net.model.LoopbackNetModel;
import com.vhost.spi.workload.SequencedStream;
import com.vhost.user.backend.VhostUserServer;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The one failure rule of {@link VirtioDriver#rebind}, for both drivers: a new backend that
 * negotiates and then fails to start (here it refuses SET_VRING_KICK, after the old backend's
 * rings were stopped and it was closed) leaves the device detached; requests are held, go out on
 * the next backend that starts, and fail with {@link VhostDisconnectedException} only once
 * {@code swap.wait.ms} is over; a replacement refused while detached fails nothing either. Also:
 * the driver is its own {@link VirtioDriver} (no adapter).
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class NetSwapFailureRuleTest {
    private static final int MIB = 1 << 20;
    private static final byte[] MAC_A = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
    private static final byte[] MAC_B = {0x52, 0x54, 0x00, 0x65, 0x43, 0x21};

    @TempDir
    Path dir;

    @Test
    void netWhoseNewBackendFailsToStartIsDetachedAndItsFramesWaitForTheNextOne() throws Exception {
        Path sa = dir.resolve("na.sock");
        Path sb = dir.resolve("nb.sock");
        try (LoopbackNetModel ma = new LoopbackNetModel(1, 256, MAC_A, 1500);
                LoopbackNetModel mb = new LoopbackNetModel(1, 256, MAC_B, 1500);
                VhostUserServer a = new VhostUserServer(sa, ma);
                VhostUserServer b = new VhostUserServer(sb, mb);
                Arena arena = Arena.ofConfined()) {
            a.start();
            b.start();
            try (VirtioNetDriver net = VirtioNetDriver.open(connect(sa), NetDriverOptions.defaults())) {
                echo(net, 0, 50, 16);
                assertThatThrownBy(() -> net.rebind(refusingKick(sb))).isInstanceOf(VhostException.class)
                        .hasMessageContaining("SET_VRING_KICK");
                assertThat(net.isDetached()).as("detached, not failed").isTrue();
                MemorySegment[] tx = new MemorySegment[4];
                int[] len = new int[4];
                for (int i = 0; i < 4; i++) {
                    tx[i] = arena.allocate(2048);
                    len[i] = SequencedStream.fill(tx[i], 500 + i);
                }
                assertThat(net.transmit(0, tx, len, 4)).as("frames wait in the ring").isEqualTo(4);

                net.rebind(connect(sb));
                MemorySegment[] rx = new MemorySegment[4];
                for (int i = 0; i < 4; i++) {
                    rx[i] = arena.allocate(2048);
                }
                int got = 0;
                long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
                while (got < 4 && System.nanoTime() < until) {
                    net.awaitReceive(0, 100_000_000L);
                    int r = net.receive(0, rx, len, 4 - got);
                    for (int i = 0; i < r; i++) {
                        assertThat(SequencedStream.check(rx[i], len[i])).isEqualTo(500 + got + i);
                    }
                    got += r;
                }
                assertThat(got).as("frames sent while detached, echoed by the next backend").isEqualTo(4);
                echo(net, 0, 50, 16);

                net.setSwapWaitNanos(TimeUnit.MILLISECONDS.toNanos(100));
                assertThatThrownBy(() -> net.rebind(refusingKick(sa))).isInstanceOf(VhostException.class);
                Thread.sleep(200);
                assertThatThrownBy(() -> net.receive(0, rx, len, 4)).isInstanceOf(VhostDisconnectedException.class)
                        .hasMessageContaining("swap.wait.ms");
                net.rebind(connect(sa));
                echo(net, 0, 50, 16);
            }
        }
    }

    @Test
    void theFactoryReturnsTheDriverItselfAsAVirtioDriver() throws Exception {
        Path snet = dir.resolve("fn.sock");
        try (LoopbackNetModel mn = new LoopbackNetModel(1, 256, MAC_A, 1500);
                VhostUserServer n = new VhostUserServer(snet, mn)) {
            n.start();
            try (VirtioDriver net = new NetDriverFactory().create(connect(snet), Map.of())) {
                assertThat(net.api(NetDevice.class)).isSameAs(net);
                assertThat(net.api(VirtioNetDriver.class)).as("no implementation class handed out").isNull();
                assertThat(net.api(BlockDevice.class)).isNull();
                assertThat(net.summary()).startsWith("net 52:54:00:12:34:56, mtu 1500").contains("link up", "fn.sock");
                assertThat(net.counters()).containsEntry("swaps", 0L).containsEntry("detached", 0L);
            }
        }
    }
}
