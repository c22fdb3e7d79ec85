package com.vhost.devices.blk.model;

import static org.assertj.core.api.Assertions.assertThat;

import com.vhost.api.MemoryRegion;
import com.vhost.api.user.VhostUserBackend;
import com.vhost.api.VhostException;
import com.vhost.api.VhostTarget;
import com.vhost.api.VringAddr;
import com.vhost.api.virtio.VirtioDeviceState;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.spi.nativeio.EventFd;
import com.vhost.spi.nativeio.SharedMemory;
import com.vhost.user.VhostUserOps;
import com.vhost.user.backend.VhostUserServer;
import com.vhost.user.testing.TestRing;
import com.vhost.spi.testing.RecordingPerQueueDevice;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Ring stop/start per queue (vhost-user spec, "Ring states") over the real file-backed blk model:
 * GET_VRING_BASE, SET_VRING_ENABLE, SET_VRING_KICK and SET_VRING_CALL on one ring stop or start
 * only that ring, the other keeps serving, bases are exact, and the model is never put to sleep.
 */
@Timeout(60)
class PerQueueRingTest {
    private static final int T_IN = 0;
    private static final int T_OUT = 1;

    @TempDir
    Path dir;

    /** @return the model's I/O engine ({@code PerQueueRingUringTest}: io_uring) */
    FileBlockModel.Aio aio() {
        return FileBlockModel.Aio.THREADS;
    }

    @Test
    void oneRingStopsAndStartsWhileTheOtherServesWithoutPuttingTheModelToSleep() throws Exception {
        Path sock = dir.resolve("blk.sock");
        try (FileBlockModel blk = FileBlockModel.inMemory(1 << 20, 2, 64, aio())) {
            RecordingPerQueueDevice model = new RecordingPerQueueDevice(blk);
            try (VhostUserServer server = new VhostUserServer(sock, model)) {
                server.start();
                try (VhostUserBackend fe = new VhostUserOps().open(VhostTarget.of(sock.toString()));
                        SharedMemory mem = SharedMemory.create("guest", 1 << 20);
                        EventFd kick0 = EventFd.create(); EventFd call0 = EventFd.create();
                        EventFd kick1 = EventFd.create(); EventFd call1 = EventFd.create();
                        EventFd call1b = EventFd.create()) {
                    fe.getFeatures();
                    fe.setOwner();
                    fe.setProtocolFeatures(fe.getProtocolFeatures());
                    fe.setFeatures(VirtioFeatures.bit(VirtioFeatures.F_VERSION_1));
                    long ua = mem.address();
                    fe.setMemTable(List.of(new MemoryRegion(0, 1 << 20, ua, 0, mem.fd())));
                    TestRing r0 = new TestRing(mem.segment(), 0, 16, 0);
                    TestRing r1 = new TestRing(mem.segment(), 0x10000, 16, 0);
                    startRing(fe, ua, 0, r0, 0, kick0, call0);
                    startRing(fe, ua, 1, r1, 0, kick1, call1);
                    assertThat(model.calls).containsExactly("activate[0]", "startQueue(1)");

                    byte[] pattern = new byte[512];
                    for (int i = 0; i < pattern.length; i++) {
                        pattern[i] = (byte) (i * 7 + 3);
                    }
                    MemorySegment.copy(pattern, 0, mem.segment(), ValueLayout.JAVA_BYTE, r0.buffer(1), 512);
                    assertThat(request(r0, kick0, call0, T_OUT, 4, 1)).isZero();
                    assertThat(request(r1, kick1, call1, T_IN, 4, 1)).isZero();
                    assertThat(mem.segment().asSlice(r1.buffer(1), 512).toArray(ValueLayout.JAVA_BYTE)).isEqualTo(pattern);

                    // stop ring 0 (QEMU vhost_virtqueue_stop: disable, then GET_VRING_BASE); ring 1 serves on
                    fe.setVringEnable(0, false);
                    assertThat(fe.getVringBase(0)).isEqualTo(1);
                    assertThat(request(r1, kick1, call1, T_IN, 4, 2)).isZero();
                    int used0 = r0.usedIdx();
                    submit(r0, T_IN, 4, 2);
                    kick0.signal();
                    Thread.sleep(50);
                    assertThat(r0.usedIdx()).as("nothing processed on the stopped ring").isEqualTo(used0);

                    // restart ring 0 at its base: the request made while it was stopped is served
                    startRing(fe, ua, 0, r0, 1, kick0, call0);
                    awaitUsed(r0, call0, used0 + 1);
                    assertThat(mem.segment().asSlice(r0.buffer(2), 512).toArray(ValueLayout.JAVA_BYTE)).isEqualTo(pattern);

                    // a new call fd on a running ring restarts just that ring: the next completion signals it
                    fe.setVringCall(1, call1b.fd());
                    assertThat(request(r1, kick1, call1b, T_IN, 4, 3)).isZero();
                    assertThat(fe.getVringBase(1)).isEqualTo(3);
                    assertThat(fe.getVringBase(0)).isEqualTo(2);

                    assertThat(model.calls).as("no whole-model sleep or wake").doesNotContain("sleep", "wake")
                            .containsSubsequence("stopQueue(0)", "startQueue(0)", "stopQueue(1)", "startQueue(1)",
                                    "stopQueue(1)", "stopQueue(0)");
                    assertThat(blk.state()).isEqualTo(VirtioDeviceState.ACTIVE);
                }
                assertThat(server.awaitSessionsEnded(1, 5000)).isTrue();
                assertThat(blk.state()).isIn(VirtioDeviceState.INACTIVE, VirtioDeviceState.NEW);
            }
        }
    }

    private static void startRing(VhostUserBackend fe, long ua, int index, TestRing r, int base, EventFd kick, EventFd call)
            throws VhostException {
        fe.setVringNum(index, 16);
        fe.setVringBase(index, base);
        fe.setVringAddr(new VringAddr(index, 0, ua + r.desc(), ua + r.used(), ua + r.avail(), 0));
        fe.setVringCall(index, call.fd());
        fe.setVringKick(index, kick.fd());
        fe.setVringEnable(index, true);
    }

    /** Places one virtio-blk request: header in buffer 0, 512 data bytes in buffer {@code dataBuf}, status after the header. */
    private static void submit(TestRing ring, int type, long sector, int dataBuf) {
        MemorySegment g = ring.memory();
        long hdr = ring.buffer(0);
        long status = ring.buffer(0) + 0x800;
        g.set(TestRing.LE32, hdr, type);
        g.set(TestRing.LE32, hdr + 4, 0);
        g.set(TestRing.LE64, hdr + 8, sector);
        g.set(ValueLayout.JAVA_BYTE, status, (byte) 0xFF);
        ring.descriptor(0, hdr, 16, 1, 1);
        ring.descriptor(1, ring.buffer(dataBuf), 512, 1 | (type == T_IN ? 2 : 0), 2);
        ring.descriptor(2, status, 1, 2, 0);
        ring.publish(0);
    }

    private static int request(TestRing ring, EventFd kick, EventFd call, int type, long sector, int dataBuf) throws Exception {
        int before = ring.usedIdx();
        submit(ring, type, sector, dataBuf);
        kick.signal();
        awaitUsed(ring, call, before + 1);
        return Byte.toUnsignedInt(ring.memory().get(ValueLayout.JAVA_BYTE, ring.buffer(0) + 0x800));
    }

    /** Waits on {@code call} (so a missing used-buffer notification fails the test) until used idx reaches {@code idx}. */
    private static void awaitUsed(TestRing ring, EventFd call, int idx) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        boolean signalled = false;
        while (ring.usedIdx() != (idx & 0xFFFF)) {
            long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
            assertThat(left).as("used idx %d reached in time", idx).isPositive();
            signalled |= call.await((int) Math.min(left, 1000));
        }
        if (!signalled) {
            signalled = call.await(5000); // the notification follows the used idx update
        }
        assertThat(signalled).as("call eventfd signalled").isTrue();
    }
}
