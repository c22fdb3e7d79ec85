package com.vhost.devices.blk.driver;

import static org.assertj.core.api.Assertions.assertThat;

import com.vhost.api.VhostTarget;
import com.vhost.api.registry.DeviceConfigKeys;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.devices.blk.model.FileBlockModel;
import com.vhost.user.VhostUserOps;
import com.vhost.user.backend.VhostUserServer;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * VIRTIO_F_IN_ORDER (VIRTIO 1.2 2.7.9 / 2.8.8) end to end for blk: the project's driver against
 * the blk model with aio threads (which offers it: its worker completes each queue in pop order)
 * over a real vhost-user socket, split and packed: the feature is negotiated, 32 requests at a
 * time per queue on 2 queues of 16 entries (many ring laps) write and read back their data, and
 * GET_ID (a used length shorter than the buffer) still reads right; {@code in.order=false} leaves
 * it out.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class BlkInOrderOverOwnBackendTest {
    private static final long IN_ORDER = VirtioFeatures.bit(VirtioFeatures.F_IN_ORDER);
    private static final long CAPACITY = 8L << 20;

    @TempDir
    Path dir;

    private static VirtioBlkDriver open(Path sock, BlkDriverOptions o) throws Exception {
        return BlockDevices.open(new VhostUserOps().open(VhostTarget.of(sock.toString())), o);
    }

    @ParameterizedTest(name = "packed={0}")
    @ValueSource(booleans = {false, true})
    void inOrderNegotiatedAndDataRoundTrips(boolean packed) throws Exception {
        Path sock = dir.resolve("blk-inorder-" + packed + ".sock");
        try (FileBlockModel model = FileBlockModel.inMemory(CAPACITY, 2, 16);
                VhostUserServer server = new VhostUserServer(sock, model)) {
            server.start();
            assertThat(model.features() & IN_ORDER).as("aio threads offers IN_ORDER").isNotZero();
            BlkDriverOptions o = new BlkDriverOptions(2, 16, false, 16L << 20, packed);
            assertThat(o.inOrder()).as("blk leaves IN_ORDER out unless asked").isFalse();
            o = o.withInOrder(true);
            try (VirtioBlkDriver dev = open(sock, o)) {
                assertThat(dev.info().features() & IN_ORDER).as("IN_ORDER negotiated").isNotZero();
                assertThat(model.ackedFeatures() & IN_ORDER).isNotZero();
                for (int q = 0; q < 2; q++) {
                    assertThat(dev.ringQueue(q).inOrder()).isTrue();
                    assertThat(dev.ringQueue(q).isPacked()).isEqualTo(packed);
                }
                Random rnd = new Random(packed ? 7 : 8);
                for (int round = 0; round < 10; round++) {
                    List<CompletableFuture<Void>> fs = new ArrayList<>();
                    List<byte[]> data = new ArrayList<>();
                    for (int i = 0; i < 32; i++) {
                        byte[] d = new byte[512 * (1 + rnd.nextInt(16))];
                        rnd.nextBytes(d);
                        data.add(d);
                        fs.add(dev.write(i % 2, (long) i * 65536, MemorySegment.ofArray(d.clone())));
                    }
                    CompletableFuture.allOf(fs.toArray(CompletableFuture[]::new)).get(20, TimeUnit.SECONDS);
                    List<CompletableFuture<Void>> rs = new ArrayList<>();
                    List<byte[]> back = new ArrayList<>();
                    for (int i = 0; i < 32; i++) {
                        byte[] b = new byte[data.get(i).length];
                        back.add(b);
                        rs.add(dev.read(1 - i % 2, (long) i * 65536, MemorySegment.ofArray(b)));
                    }
                    CompletableFuture.allOf(rs.toArray(CompletableFuture[]::new)).get(20, TimeUnit.SECONDS);
                    for (int i = 0; i < 32; i++) {
                        assertThat(back.get(i)).as("round %d request %d", round, i).isEqualTo(data.get(i));
                    }
                }
                assertThat(dev.getId(0).get(5, TimeUnit.SECONDS)).startsWith("vhost-blk-");
            }
        }
    }

    @Test
    void inOrderSwitchedOffIsLeftOut() throws Exception {
        Path sock = dir.resolve("blk-noinorder.sock");
        try (FileBlockModel model = FileBlockModel.inMemory(CAPACITY, 1, 16);
                VhostUserServer server = new VhostUserServer(sock, model)) {
            server.start();
            try (VirtioBlkDriver dev = open(sock, new BlkDriverOptions(1, 16, false, 1L << 20).withInOrder(false))) {
                assertThat(dev.info().features() & IN_ORDER).isZero();
                assertThat(dev.ringQueue(0).inOrder()).isFalse();
                byte[] d = new byte[4096];
                new Random(9).nextBytes(d);
                dev.write(0, 4096, MemorySegment.ofArray(d)).get(5, TimeUnit.SECONDS);
                byte[] b = new byte[4096];
                dev.read(0, 4096, MemorySegment.ofArray(b)).get(5, TimeUnit.SECONDS);
                assertThat(b).isEqualTo(d);
            }
        }
        assertThat(BlkDriverFactory.options(Map.of(DeviceConfigKeys.IN_ORDER, false)).inOrder()).isFalse();
        assertThat(BlkDriverFactory.options(Map.of(DeviceConfigKeys.IN_ORDER, true)).inOrder()).isTrue();
        assertThat(BlkDriverFactory.options(Map.of()).inOrder()).as("blk leaves IN_ORDER out unless asked").isFalse();
    }
}
