package com.vhost.devices.net.model;

import static org.assertj.core.api.Assertions.assertThat;

import com.vhost.api.VhostTarget;
import com.vhost.api.backend.DeviceModel;
import com.vhost.api.backend.ModelHandover;
import com.vhost.api.backend.ServedBackend;
import com.vhost.api.backend.SocketOptions;
import com.vhost.api.registry.DeviceConfigKeys;
import com.vhost.devices.net.driver.NetDriverOptions;
import com.vhost.devices.net.driver.VirtioNetDriver;
import com.vhost.spi.workload.SequencedStream;
import com.vhost.user.VhostUserOps;
import com.vhost.user.backend.VhostUserBackendServer;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A served loopback net model handed over to new models (the live upgrade of
 * {@code com.vhost.devices.net}, issue #11 item 5) under this project's net driver sending a
 * sequence-numbered, checksummed frame stream on two queue pairs: three handovers, and the stream
 * goes on through each with nothing lost, duplicated, reordered or corrupted, on one session.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class NetModelHandoverTest {
    @TempDir
    Path dir;

    @Test
    void aLoopbackModelIsHandedOverUnderAFrameStream() throws Exception {
        Path sock = dir.resolve("net.sock");
        NetModelFactory factory = new NetModelFactory();
        Map<String, Object> config = Map.of(DeviceConfigKeys.QUEUES, 2);
        try (ServedBackend served = new VhostUserBackendServer().serve(sock, factory.create(config), SocketOptions.PRIVATE);
                VirtioNetDriver net = VirtioNetDriver.open(new VhostUserOps().open(VhostTarget.of(sock.toString())),
                        NetDriverOptions.defaults().withQueuePairs(2))) {
            long sessions = served.acceptedConnections();
            SequencedStream stream = new SequencedStream(net, 1, 32, 8);
            stream.start();
            try {
                for (int round = 0; round < 3; round++) {
                    awaitReceived(stream, stream.received() + 2000);
                    try (ModelHandover h = served.handOver(5000)) {
                        assertThat(h.sessionConnected()).isTrue();
                        h.releaseModel();
                        DeviceModel next = factory.create(h.model().configuration());
                        assertThat(h.complete(next)).isPositive();
                        assertThat(served.model()).isSameAs(next);
                    }
                }
                awaitReceived(stream, stream.received() + 2000);
            } finally {
                SequencedStream.Result r = stream.stop(2000);
                assertThat(r.lost() + r.duplicated() + r.reordered() + r.corrupted()).as("stream across three handovers: %s", r).isZero();
                assertThat(r.received()).isGreaterThan(8000);
            }
            assertThat(served.acceptedConnections()).as("the session was never dropped").isEqualTo(sessions);
        }
    }

    private static void awaitReceived(SequencedStream s, long n) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (s.received() < n) {
            assertThat(System.nanoTime()).as("stream stuck at %d frames (%s)", s.received(), s.firstError()).isLessThan(deadline);
            Thread.sleep(5);
        }
    }
}
