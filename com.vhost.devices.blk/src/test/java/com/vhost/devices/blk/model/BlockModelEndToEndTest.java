package com.vhost.devices.blk.model;

import static org.assertj.core.api.Assertions.assertThat;

import com.vhost.api.MemoryRegion;
import com.vhost.api.user.VhostUserBackend;
import com.vhost.api.VhostTarget;
import com.vhost.api.VringAddr;
import com.vhost.api.virtio.VirtioDeviceState;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.spi.nativeio.EventFd;
import com.vhost.spi.nativeio.SharedMemory;
import com.vhost.user.VhostUserOps;
import com.vhost.user.backend.VhostUserServer;
import com.vhost.user.testing.TestRing;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The whole vhost-user path in Java: {@link VhostUserOps} front-end → socket →
 * {@link VhostUserServer} → the file-backed virtio-blk model (com.vhost.devices.blk), with a
 * test-only ring driver writing and reading a sector, across a ring stop/restart and a memory
 * table change while the ring runs.
 */
@Timeout(60)
class BlockModelEndToEndTest {
    private static final int T_IN = 0;
    private static final int T_OUT = 1;

    @TempDir
    Path dir;

    @Test
    void writeThenReadASectorAcrossRingRestartAndMemoryChange() throws Exception {
        Path sock = dir.resolve("blk.sock");
        try (FileBlockModel blk = FileBlockModel.inMemory(1 << 20, 1, 128);
                VhostUserServer server = new VhostUserServer(sock, blk)) {
            server.start();
            try (VhostUserBackend fe = new VhostUserOps().open(VhostTarget.of(sock.toString()));
                    SharedMemory mem = SharedMemory.create("guest", 1 << 20); SharedMemory extra = SharedMemory.create("extra", 1 << 16);
                    EventFd kick = EventFd.create(); EventFd call = EventFd.create()) {
                fe.getFeatures();
                fe.setOwner();
                fe.setProtocolFeatures(fe.getProtocolFeatures());
                fe.setFeatures(VirtioFeatures.bit(VirtioFeatures.F_VERSION_1));
                assertThat(MemorySegment.ofArray(fe.getConfig(0, 8)).get(TestRing.LE64, 0)).isEqualTo(2048L);
                assertThat(fe.getQueueNum()).isEqualTo(1);

                long ua = mem.address();
                TestRing ring = new TestRing(mem.segment(), 0, 16, 0);
                fe.setMemTable(List.of(new MemoryRegion(0, 1 << 20, ua, 0, mem.fd())));
                fe.setVringNum(0, 16);
                fe.setVringBase(0, 0);
                fe.setVringAddr(new VringAddr(0, 0, ua + ring.desc(), ua + ring.used(), ua + ring.avail(), 0));
                fe.setVringCall(0, call.fd());
                fe.setVringKick(0, kick.fd());
                fe.setVringEnable(0, true);
                assertThat(blk.state()).isEqualTo(VirtioDeviceState.ACTIVE);

                byte[] pattern = new byte[512];
                for (int i = 0; i < pattern.length; i++) {
                    pattern[i] = (byte) (i * 13 + 5);
                }
                MemorySegment.copy(pattern, 0, ring.memory(), ValueLayout.JAVA_BYTE, ring.buffer(1), 512);
                assertThat(request(ring, kick, call, T_OUT, 2, 1)).isZero();
                assertThat(request(ring, kick, call, T_IN, 2, 3)).isZero();
                assertThat(ring.memory().asSlice(ring.buffer(3), 512).toArray(ValueLayout.JAVA_BYTE)).isEqualTo(pattern);

                // stop the ring: the base is the model's nextAvail
                assertThat(fe.getVringBase(0)).isEqualTo(2);
                // restart it, then change the memory table while it runs
                fe.setVringKick(0, kick.fd());
                fe.addMemRegion(new MemoryRegion(0x100000, 1 << 16, extra.address(), 0, extra.fd()));
                assertThat(blk.state()).isEqualTo(VirtioDeviceState.ACTIVE);
                assertThat(blk.ackedFeatures()).isEqualTo(VirtioFeatures.bit(VirtioFeatures.F_VERSION_1));
                ring.memory().asSlice(ring.buffer(3), 512).fill((byte) 0);
                assertThat(request(ring, kick, call, T_IN, 2, 3)).isZero();
                assertThat(ring.memory().asSlice(ring.buffer(3), 512).toArray(ValueLayout.JAVA_BYTE)).isEqualTo(pattern);
                assertThat(fe.getVringBase(0)).isEqualTo(3);
            }
            assertThat(server.awaitSessionsEnded(1, 5000)).isTrue();
            assertThat(blk.state()).isIn(VirtioDeviceState.INACTIVE, VirtioDeviceState.NEW);
        }
    }

    /** Runs one virtio-blk request (header, 512-byte data in buffer {@code dataBuf}, status) and returns its status. */
    private static int request(TestRing ring, EventFd kick, EventFd call, int type, long sector, int dataBuf) throws Exception {
        MemorySegment g = ring.memory();
        long hdr = ring.buffer(0);
        long status = ring.buffer(2);
        g.set(TestRing.LE32, hdr, type);
        g.set(TestRing.LE32, hdr + 4, 0);
        g.set(TestRing.LE64, hdr + 8, sector);
        g.set(ValueLayout.JAVA_BYTE, status, (byte) 0xFF);
        ring.descriptor(0, hdr, 16, 1, 1);
        ring.descriptor(1, ring.buffer(dataBuf), 512, 1 | (type == T_IN ? 2 : 0), 2);
        ring.descriptor(2, status, 1, 2, 0);
        int before = ring.usedIdx();
        ring.publish(0);
        kick.signal();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (ring.usedIdx() == before) {
            long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
            assertThat(left).as("request type %d completed in time", type).isPositive();
            call.await((int) Math.min(left, 1000));
        }
        return Byte.toUnsignedInt(g.get(ValueLayout.JAVA_BYTE, status));
    }
}
