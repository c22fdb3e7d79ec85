package com.vhost.devices.blk.model;

import static org.assertj.core.api.Assertions.assertThat;

import com.vhost.api.VhostTarget;
import com.vhost.api.user.VhostUserBackend;
import com.vhost.api.virtio.DeviceStatus;
import com.vhost.spi.nativeio.EventFd;
import com.vhost.spi.nativeio.Linux;
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
 * Issue #10, defect 3: a front-end shrinks the guest memory (truncates the memfd) under a running
 * ring of a real {@link FileBlockModel} served over a real vhost-user socket, then kicks. The
 * queue worker's touch of the ring faults (SIGBUS, an InternalError); it must stop the queue and
 * mark the device DEVICE_NEEDS_RESET (visible with GET_STATUS) rather than die silently with the
 * request dropped. The session stays usable (GET_STATUS answers; the front-end resets or leaves),
 * and a fresh front-end on the same server then does I/O normally.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class TruncatedGuestMemoryOverVhostUserTest {
    private static final int MEM = 1 << 20;

    @TempDir
    Path dir;

    /** Publishes a GET_ID request (header, 20-byte id, status byte) as chain 0. */
    private static void getId(SharedMemory mem, TestRing ring) {
        long hdr = ring.buffer(0);
        mem.segment().set(TestRing.LE32, hdr, 8); // VIRTIO_BLK_T_GET_ID
        mem.segment().set(ValueLayout.JAVA_BYTE, ring.buffer(2), (byte) 0xFF);
        ring.descriptor(0, hdr, 16, 1, 1);
        ring.descriptor(1, ring.buffer(1), 20, 1 | 2, 2);
        ring.descriptor(2, ring.buffer(2), 1, 2, 0);
        ring.publish(0);
    }

    @Test
    void guestMemoryTruncatedUnderARunningRingMarksNeedsResetAndTheServerGoesOn() throws Exception {
        Path sock = dir.resolve("blk.sock");
        try (FileBlockModel blk = FileBlockModel.inMemory(MEM, 1, 64); VhostUserServer server = new VhostUserServer(sock, blk)) {
            server.start();
            try (VhostUserBackend fe = new VhostUserOps().open(VhostTarget.of(sock.toString()));
                    SharedMemory mem = SharedMemory.create("guest", MEM); EventFd kick = EventFd.create(); EventFd call = EventFd.create()) {
                TestRing ring = new TestRing(mem.segment(), 0, 16, 0);
                StatusFrontEnd.start(fe, mem, ring, kick.fd(), call.fd(), 0);
                getId(mem, ring); // published, not kicked yet
                Linux.ftruncate(mem.fd(), 0); // the guest memory shrinks under the running ring
                kick.signal();
                StatusFrontEnd.awaitNeedsReset(fe, 5);
                // the session is still usable: it answers, and a second kick is dropped, not fatal
                kick.signal();
                assertThat(fe.getStatus() & DeviceStatus.DEVICE_NEEDS_RESET.bit()).isNotZero();
                assertThat(server.isConnected()).isTrue();
            }
            assertThat(server.awaitSessionsEnded(1, 5000)).isTrue();
            // a well-behaved front-end on the same server is served normally
            try (VhostUserBackend fe = new VhostUserOps().open(VhostTarget.of(sock.toString()));
                    SharedMemory mem = SharedMemory.create("guest", MEM); EventFd kick = EventFd.create(); EventFd call = EventFd.create()) {
                TestRing ring = new TestRing(mem.segment(), 0, 16, 0);
                StatusFrontEnd.start(fe, mem, ring, kick.fd(), call.fd(), 0);
                assertThat(fe.getStatus() & DeviceStatus.DEVICE_NEEDS_RESET.bit()).as("a new session starts clean").isZero();
                getId(mem, ring);
                kick.signal();
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
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
