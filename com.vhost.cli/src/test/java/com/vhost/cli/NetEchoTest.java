package com.vhost.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.vhost.api.backend.SocketOptions;
import com.vhost.api.net.NetDevice;
import com.vhost.user.VhostUserOps;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The frames and the verdict of {@code vhost net echo --reconnect}: a frame checks out only with
 * its ethertype, length field, CRC-32C and a number that was sent; duplicated or corrupted frames
 * fail the run, lost ones only beyond the bound (queue size × pairs × reconnects by default).
 */
class NetEchoTest {
    @TempDir
    Path dir;

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void framesCheckOutOnlyIntactAndSent() throws Exception {
        CapturingServices services = new CapturingServices() {};
        Path socket = dir.resolve("net.sock");
        try (NetTools.Served served = services.netTools().serveLoopback(socket, SocketOptions.PRIVATE, 1, 256,
                "52:54:00:12:34:56", 1500, false);
                NetDevice net = services.netTools().openDevice(new VhostUserOps().open(ReconnectSoakTest.target(socket, 5_000)),
                        1, 256, false);
                Arena arena = Arena.ofConfined()) {
            NetEchoStream s = new NetEchoStream(net, 60, 1514, 64, 32, 1000, null);
            s.start();
            long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (s.sent() < 1000 && System.nanoTime() < until) {
                Thread.sleep(5);
            }
            NetEchoStream.Tally t = s.stop(5_000);
            assertThat(t).isEqualTo(new NetEchoStream.Tally(1000, 1000, 0, 0, 0, null));

            MemorySegment f = arena.allocate(1514);
            int len = s.fill(f, 42);
            assertThat(len).isEqualTo(s.lengthOf(42)).isBetween(60, 1514);
            assertThat(s.check(f, len)).isEqualTo(42);
            assertThat(s.check(f, len - 1)).as("shorter than its length field").isEqualTo(-1);
            f.set(ValueLayout.JAVA_BYTE, 40, (byte) (f.get(ValueLayout.JAVA_BYTE, 40) ^ 1));
            assertThat(s.check(f, len)).as("one bit flipped").isEqualTo(-1);
            int unsent = s.fill(f, 1000);
            assertThat(s.check(f, unsent)).as("a number never sent").isEqualTo(-1);

            assertThatThrownBy(() -> new NetEchoStream(net, 20, 100, 64, 32, 10, null))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("outside 28..1518");
            assertThatThrownBy(() -> new NetEcho(net, 60, 1514, 512, 32, 10, null, null, 0, 256, -1,
                    new PrintWriter(new StringWriter()))).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("window 512 exceeds the queue size 256");
        }
    }

    @Test
    void lostFramesFailOnlyBeyondTheBoundDuplicatesAndCorruptionAlways() {
        assertThat(NetEcho.defaultMaxLost(256, 2, 10)).isEqualTo(5120);
        assertThat(NetEcho.defaultMaxLost(256, 2, 0)).isZero();
        NetEchoStream.Tally lost3 = new NetEchoStream.Tally(10, 7, 3, 0, 0, null);
        assertThat(new NetEcho.Outcome(lost3, 1, 3, null).clean()).isTrue();
        assertThat(new NetEcho.Outcome(lost3, 1, 2, null).clean()).isFalse();
        assertThat(new NetEcho.Outcome(new NetEchoStream.Tally(10, 10, 0, 1, 0, null), 1, 100, null).clean()).isFalse();
        assertThat(new NetEcho.Outcome(new NetEchoStream.Tally(10, 10, 0, 0, 1, null), 1, 100, null).clean()).isFalse();
        assertThat(new NetEcho.Outcome(new NetEchoStream.Tally(10, 10, 0, 0, 0, null), 0, 0, "boom").clean()).isFalse();
        assertThat(new NetEcho.Outcome(lost3, 1, 3, null).counts())
                .isEqualTo("sent 10 received 7 lost 3 duplicated 0 corrupted 0 reconnects 1");
    }
}
