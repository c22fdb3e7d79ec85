package com.vhost.devices.blk.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.vhost.api.VhostTarget;
import com.vhost.api.VirtioDeviceException;
import com.vhost.api.backend.DeviceModel;
import com.vhost.api.backend.ModelHandover;
import com.vhost.api.backend.ServedBackend;
import com.vhost.api.backend.SocketOptions;
import com.vhost.api.registry.DeviceConfigKeys;
import com.vhost.devices.blk.driver.BlkDriverOptions;
import com.vhost.devices.blk.driver.BlockDevices;
import com.vhost.devices.blk.driver.VirtioBlkDriver;
import com.vhost.spi.workload.VerifiedWorkload;
import com.vhost.user.VhostUserOps;
import com.vhost.user.backend.VhostUserBackendServer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A served blk model handed over to new models under a running front-end (issue #11 item 5, the
 * mechanism a live upgrade of the device bundle uses): this project's driver keeps a verified
 * write/read workload running on two queues while the model is replaced three times, then the
 * refusals: a new model with other queues or another disk is refused and the old one serves on.
 * Nothing is lost, duplicated or corrupted, and the session is never reset.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class ModelHandoverTest {
    private static final int MIB = 1 << 20;

    @TempDir
    Path dir;

    private Path image(String name, int mib) throws java.io.IOException {
        return Files.write(dir.resolve(name), new byte[mib * MIB]);
    }

    private static VirtioBlkDriver driver(Path sock, int queues, int queueSize, int poolBytes) throws Exception {
        return driver(sock, new BlkDriverOptions(queues, queueSize, false, poolBytes));
    }

    private static VirtioBlkDriver driver(Path sock, BlkDriverOptions o) throws Exception {
        return BlockDevices.open(new VhostUserOps().open(VhostTarget.of(sock.toString())), o);
    }

    private static Map<String, Object> config(Path image, int queues) {
        Map<String, Object> c = new HashMap<>();
        c.put(DeviceConfigKeys.IMAGE, image.toString());
        c.put(DeviceConfigKeys.QUEUES, queues);
        return c;
    }

    @Test
    void modelsTakeOverUnderAVerifiedWorkloadAndMismatchedOnesAreRefused() throws Exception {
        Path image = image("disk.raw", 16);
        Path other = image("other.raw", 8);
        Path sock = dir.resolve("blk.sock");
        BlkModelFactory factory = new BlkModelFactory();
        try (ServedBackend served = new VhostUserBackendServer().serve(sock, factory.create(config(image, 2)), SocketOptions.PRIVATE);
                VirtioBlkDriver blk = driver(sock, 2, 128, 4 * MIB)) {
            long sessions = served.acceptedConnections();
            VerifiedWorkload load = new VerifiedWorkload(blk, 4 * MIB, 4096, 4, 4, 7, () -> blk.counters().get("requests"));
            load.start();
            try {
                for (int round = 0; round < 3; round++) {
                    long before = load.writes();
                    awaitWrites(load, before + 50);
                    DeviceModel old = served.model();
                    try (ModelHandover h = served.handOver(5000)) {
                        assertThat(h.sessionConnected()).isTrue();
                        assertThat(h.snapshot()).isNotEmpty();
                        h.releaseModel(); // as before a bundle update: the old revision's classes go
                        DeviceModel next = factory.create(config(image, 2));
                        long pauseNs = h.complete(next);
                        assertThat(pauseNs).isPositive();
                        assertThat(served.model()).isSameAs(next).isNotSameAs(old);
                    }
                }
                // a model with one queue, and one over an 8 MiB disk: refused, the old one serves on
                DeviceModel kept = served.model();
                try (ModelHandover h = served.handOver(5000)) {
                    try (DeviceModel oneQueue = factory.create(config(image, 1))) {
                        assertThatThrownBy(() -> h.complete(oneQueue)).isInstanceOf(VirtioDeviceException.class)
                                .hasMessageContaining("queue sizes");
                    }
                    try (DeviceModel smaller = factory.create(config(other, 2))) {
                        assertThatThrownBy(() -> h.complete(smaller)).isInstanceOf(VirtioDeviceException.class)
                                .hasMessageContaining("does not fit");
                    }
                }
                assertThat(served.model()).isSameAs(kept);
                long after = load.writes();
                awaitWrites(load, after + 50);
            } finally {
                VerifiedWorkload.Result r = load.stop();
                assertThat(r.clean()).as("workload after three handovers: %s", r).isTrue();
                assertThat(r.writes()).isGreaterThan(200);
            }
            assertThat(served.acceptedConnections()).as("the session was never dropped").isEqualTo(sessions);
            assertThat(blk.info().capacityBytes()).isEqualTo(16L * MIB);
        }
    }

    @Test
    void packedRingsAreHandedOverToo() throws Exception {
        Path image = image("packed.raw", 8);
        Path sock = dir.resolve("packed.sock");
        BlkModelFactory factory = new BlkModelFactory();
        try (ServedBackend served = new VhostUserBackendServer().serve(sock, factory.create(config(image, 2)), SocketOptions.PRIVATE);
                VirtioBlkDriver blk = driver(sock, new BlkDriverOptions(2, 64, false, 2 * MIB).withPacked(true))) {
            assertThat(blk.info().features() & (1L << com.vhost.api.virtio.VirtioFeatures.F_RING_PACKED)).as("packed negotiated").isNotZero();
            VerifiedWorkload load = new VerifiedWorkload(blk, 2 * MIB, 4096, 4, 4, 11, () -> blk.counters().get("requests"));
            load.start();
            try {
                for (int round = 0; round < 2; round++) {
                    awaitWrites(load, load.writes() + 50);
                    try (ModelHandover h = served.handOver(5000)) {
                        h.releaseModel();
                        h.complete(factory.create(config(image, 2)));
                    }
                }
                awaitWrites(load, load.writes() + 50);
            } finally {
                VerifiedWorkload.Result r = load.stop();
                assertThat(r.clean()).as("packed workload after two handovers: %s", r).isTrue();
            }
        }
    }

    @Test
    void withNoFrontEndTheModelIsSwappedForTheNextSession() throws Exception {
        Path image = image("idle.raw", 4);
        Path sock = dir.resolve("idle.sock");
        BlkModelFactory factory = new BlkModelFactory();
        try (ServedBackend served = new VhostUserBackendServer().serve(sock, factory.create(config(image, 1)), SocketOptions.PRIVATE)) {
            try (ModelHandover h = served.handOver(1000)) {
                assertThat(h.sessionConnected()).isFalse();
                h.releaseModel();
                h.complete(factory.create(config(image, 1)));
            }
            try (VirtioBlkDriver blk = driver(sock, 1, 64, MIB)) {
                assertThat(blk.info().capacityBytes()).isEqualTo(4L * MIB);
                blk.write(0, 0, blk.allocateBuffer(4096)).get(5, TimeUnit.SECONDS);
            }
        }
    }

    @Test
    void aReleasedModelWithNoSuccessorEndsTheSessionAndTheServedBackEnd() throws Exception {
        Path image = image("gone.raw", 4);
        Path sock = dir.resolve("gone.sock");
        BlkModelFactory factory = new BlkModelFactory();
        try (ServedBackend served = new VhostUserBackendServer().serve(sock, factory.create(config(image, 1)), SocketOptions.PRIVATE);
                VirtioBlkDriver blk = driver(sock, 1, 64, MIB)) {
            ModelHandover h = served.handOver(1000);
            h.releaseModel();
            h.close();
            assertThat(Files.exists(sock)).as("socket removed with the served back-end").isFalse();
            assertThatThrownBy(() -> served.handOver(100)).isInstanceOf(VirtioDeviceException.class).hasMessageContaining("closed");
        }
    }

    private static void awaitWrites(VerifiedWorkload load, long n) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (load.writes() < n) {
            assertThat(System.nanoTime()).as("workload stuck at %d writes", load.writes()).isLessThan(deadline);
            Thread.sleep(10);
        }
    }
}
