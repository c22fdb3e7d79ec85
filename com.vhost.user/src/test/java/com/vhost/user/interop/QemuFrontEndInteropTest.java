package com.vhost.user.interop;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.vhost.user.backend.VhostUserServer;
import com.vhost.user.testing.RecordingDevice;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The back-end server against QEMU's own vhost-user-blk front-end: QEMU is started paused
 * ({@code -S}, no guest) so it only runs its device initialisation (GET_FEATURES, SET_OWNER,
 * protocol features, GET_QUEUE_NUM, GET_MAX_MEM_SLOTS, SET_BACKEND_REQ_FD, GET_CONFIG ...).
 * The test checks QEMU got through it (the QMP-less monitor stays up and our server never
 * dropped the connection) and then stops QEMU by PID. Skipped when QEMU is not installed.
 */
@Timeout(60)
class QemuFrontEndInteropTest {
    private static final Path QEMU = Path.of("/usr/bin/qemu-system-x86_64");

    @TempDir
    Path dir;

    @Test
    void qemuInitialisesAVhostUserBlkDeviceAgainstTheServer() throws Exception {
        assumeTrue(Files.isExecutable(QEMU), "qemu-system-x86_64 not installed");
        byte[] config = new byte[60];
        MemorySegment c = MemorySegment.ofArray(config);
        c.set(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0, 2048L); // capacity
        c.set(ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 20, 512); // blk_size
        c.set(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 34, (short) 1); // num_queues
        RecordingDevice device = new RecordingDevice(1, config);
        Path sock = dir.resolve("vu.sock");
        Path log = dir.resolve("qemu.log");
        try (VhostUserServer server = new VhostUserServer(sock, device)) {
            server.start();
            Process qemu = new ProcessBuilder(QEMU.toString(), "-accel", "tcg", "-S", "-nographic", "-nodefaults",
                    "-m", "64M", "-object", "memory-backend-memfd,id=mem,size=64M,share=on", "-numa", "node,memdev=mem",
                    "-chardev", "socket,id=c0,path=" + sock, "-device", "vhost-user-blk-pci,chardev=c0,num-queues=1",
                    "-monitor", "none", "-serial", "none")
                    .redirectErrorStream(true).redirectOutput(log.toFile()).start();
            try {
                assertThat(server.awaitConnection(20_000)).isTrue();
                // QEMU reads the config space last in its vhost-user-blk realize
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
                while (System.nanoTime() < deadline && qemu.isAlive() && server.isConnected() && device.configReads.get() == 0) {
                    Thread.sleep(100);
                }
                Thread.sleep(500);
                assertThat(qemu.isAlive()).as("QEMU still running; log: %s", Files.readString(log)).isTrue();
                assertThat(server.isConnected()).isTrue();
                assertThat(server.acceptedConnections()).isEqualTo(1);
                assertThat(device.configReads.get()).as("GET_CONFIG reached the model").isPositive();
            } finally {
                qemu.destroy();
                if (!qemu.waitFor(5, TimeUnit.SECONDS)) {
                    qemu.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
                }
            }
            assertThat(server.awaitSessionsEnded(1, 5000)).isTrue();
        }
    }
}
