package com.vhost.devices.blk.model;

import static org.assertj.core.api.Assertions.assertThat;

import com.vhost.api.user.VhostUserBackend;
import com.vhost.api.VhostTarget;
import com.vhost.api.user.VhostUserProtocolFeature;
import com.vhost.api.virtio.DeviceStatus;
import com.vhost.spi.nativeio.EventFd;
import com.vhost.spi.nativeio.SharedMemory;
import com.vhost.user.VhostUserOps;
import com.vhost.user.backend.VhostUserServer;
import com.vhost.user.testing.StatusFrontEnd;
import com.vhost.user.testing.TestRing;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A front-end that publishes a malformed descriptor chain to the project's back-end over a real
 * vhost-user socket: a chain that loops, and a buffer outside the memory table. The back-end must
 * not touch memory or complete the request, must mark the device DEVICE_NEEDS_RESET (visible with
 * GET_STATUS), and must keep serving: a fresh front-end then does I/O normally.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class MalformedChainOverVhostUserTest {
    private static final int MEM = 1 << 20;

    @TempDir
    Path dir;

    @Test
    void loopingChainAndOutOfMemoryBufferMarkTheDeviceNeedsResetAndTheServerGoesOn() throws Exception {
        Path sock = dir.resolve("blk.sock");
        try (FileBlockModel blk = FileBlockModel.inMemory(MEM, 1, 64); VhostUserServer server = new VhostUserServer(sock, blk)) {
            server.start();
            // 1. a chain whose NEXT links loop: 0 -> 1 -> 0
            try (VhostUserBackend fe = new VhostUserOps().open(VhostTarget.of(sock.toString()));
                    SharedMemory mem = SharedMemory.create("guest", MEM); EventFd kick = EventFd.create(); EventFd call = EventFd.create()) {
                TestRing ring = new TestRing(mem.segment(), 0, 16, 0);
                StatusFrontEnd.start(fe, mem, ring, kick.fd(), call.fd(), VhostUserProtocolFeature.CONFIG.mask());
                ring.descriptor(0, ring.buffer(0), 16, 1, 1);
                ring.descriptor(1, ring.buffer(1), 512, 1, 0);
                ring.publish(0);
                kick.signal();
                StatusFrontEnd.awaitNeedsReset(fe, 10);
                assertThat(ring.usedIdx()).as("the looping request was not completed").isZero();
            }
            // 2. a buffer beyond the 1 MiB memory table
            try (VhostUserBackend fe = new VhostUserOps().open(VhostTarget.of(sock.toString()));
                    SharedMemory mem = SharedMemory.create("guest", MEM); EventFd kick = EventFd.create(); EventFd call = EventFd.create()) {
                TestRing ring = new TestRing(mem.segment(), 0, 16, 0);
                StatusFrontEnd.start(fe, mem, ring, kick.fd(), call.fd(), VhostUserProtocolFeature.CONFIG.mask());
                assertThat(fe.getStatus() & DeviceStatus.DEVICE_NEEDS_RESET.bit()).as("a new session starts clean").isZero();
                ring.descriptor(0, ring.buffer(0), 16, 1, 1);
                ring.descriptor(1, 64L << 20, 512, 1 | 2, 2);
                ring.descriptor(2, ring.buffer(2), 1, 2, 0);
                ring.publish(0);
                kick.signal();
                StatusFrontEnd.awaitNeedsReset(fe, 10);
                assertThat(ring.usedIdx()).isZero();
            }
            // 3. the server still serves a well-behaved front-end
            try (VhostUserBackend fe = new VhostUserOps().open(VhostTarget.of(sock.toString()));
                    SharedMemory mem = SharedMemory.create("guest", MEM); EventFd kick = EventFd.create(); EventFd call = EventFd.create()) {
                TestRing ring = new TestRing(mem.segment(), 0, 16, 0);
                StatusFrontEnd.start(fe, mem, ring, kick.fd(), call.fd(), VhostUserProtocolFeature.CONFIG.mask());
                long hdr = ring.buffer(0);
                mem.segment().set(TestRing.LE32, hdr, 8); // VIRTIO_BLK_T_GET_ID
                mem.segment().set(ValueLayout.JAVA_BYTE, ring.buffer(2), (byte) 0xFF);
                ring.descriptor(0, hdr, 16, 1, 1);
                ring.descriptor(1, ring.buffer(1), 20, 1 | 2, 2);
                ring.descriptor(2, ring.buffer(2), 1, 2, 0);
                ring.publish(0);
                kick.signal();
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
                while (ring.usedIdx() == 0) {
                    assertThat(System.nanoTime()).isLessThan(deadline);
                    call.await(100);
                }
                assertThat(mem.segment().get(ValueLayout.JAVA_BYTE, ring.buffer(2))).isZero();
                assertThat(fe.getStatus() & DeviceStatus.DEVICE_NEEDS_RESET.bit()).isZero();
            }
        }
    }
}
