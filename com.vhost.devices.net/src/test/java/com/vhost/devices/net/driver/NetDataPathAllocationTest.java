package com.vhost.devices.net.driver;

import static org.assertj.core.api.Assertions.assertThat;

import com.vhost.api.VhostTarget;
import com.vhost.devices.net.model.LoopbackNetModel;
import com.vhost.user.VhostUserOps;
import com.vhost.user.backend.VhostUserServer;
import com.vhost.user.testing.NetFrames;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * No allocation per packet on the data path: the driver's transmit/receive (the calling thread)
 * and the loopback back-end's worker thread, measured with
 * {@code com.sun.management.ThreadMXBean#getThreadAllocatedBytes} over bursts of frames once the
 * JIT has compiled the path. The bound (well under one byte per frame) leaves room for the
 * driver's periodic liveness check.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class NetDataPathAllocationTest {
    private static final int FRAMES_PER_ROUND = 32 * 2000;

    @TempDir
    Path dir;

    @Test
    void echoAllocatesNothingPerFrame() throws Exception {
        com.sun.management.ThreadMXBean mx = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        Path sock = dir.resolve("alloc.sock");
        try (LoopbackNetModel model = LoopbackNetModel.withDefaults(1);
                VhostUserServer server = new VhostUserServer(sock, model)) {
            server.start();
            try (VirtioNetDriver net = VirtioNetDriver.open(new VhostUserOps().open(VhostTarget.of(sock.toString())),
                    NetDriverOptions.defaults().withPoll(true));
                    Arena a = Arena.ofConfined()) {
                MemorySegment[] tx = new MemorySegment[32];
                MemorySegment[] rx = new MemorySegment[32];
                int[] txLen = new int[32];
                int[] rxLen = new int[32];
                for (int i = 0; i < 32; i++) {
                    tx[i] = a.allocate(2048);
                    rx[i] = a.allocate(2048);
                    txLen[i] = NetFrames.fill(tx[i], i, 64 + i * 40);
                }
                Thread worker = Thread.getAllStackTraces().keySet().stream()
                        .filter(t -> t.getName().equals("vhost-net-net loopback")).findFirst().orElseThrow();
                long mine = Long.MAX_VALUE;
                long theirs = Long.MAX_VALUE;
                for (int round = 0; round < 20 && (mine >= FRAMES_PER_ROUND / 8 || theirs >= FRAMES_PER_ROUND / 8); round++) {
                    long m0 = mx.getCurrentThreadAllocatedBytes();
                    long w0 = mx.getThreadAllocatedBytes(worker.threadId());
                    long got = 0;
                    for (int b = 0; b < FRAMES_PER_ROUND / 32; b++) {
                        int s = net.transmit(0, tx, txLen, 32);
                        int back = 0;
                        long until = System.nanoTime() + 1_000_000_000L;
                        while (back < s && System.nanoTime() < until) {
                            back += net.receive(0, rx, rxLen, 32);
                        }
                        got += back;
                    }
                    mine = mx.getCurrentThreadAllocatedBytes() - m0;
                    theirs = mx.getThreadAllocatedBytes(worker.threadId()) - w0;
                    assertThat(got).isEqualTo(FRAMES_PER_ROUND);
                }
                assertThat(mine).as("bytes the driver thread allocated for %d frames", FRAMES_PER_ROUND)
                        .isLessThan(FRAMES_PER_ROUND / 8);
                assertThat(theirs).as("bytes the back-end worker allocated for %d frames", FRAMES_PER_ROUND)
                        .isLessThan(FRAMES_PER_ROUND / 8);
                System.out.printf("net data path: driver thread %d B, back-end worker %d B for %d frames%n", mine, theirs,
                        FRAMES_PER_ROUND);
            }
        }
    }
}
