package com.vhost.devices.blk.driver;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.vhost.api.VhostException;
import com.vhost.api.VhostFeatureException;
import com.vhost.api.VhostTarget;
import com.vhost.api.VirtioDeviceException;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.devices.blk.model.FileBlockModel;
import com.vhost.spi.driver.SnapshotFrames;
import com.vhost.spi.workload.VerifiedWorkload;
import com.vhost.user.VhostUserOps;
import com.vhost.user.backend.VhostUserServer;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The blk driver on packed virtqueues (VIRTIO_F_RING_PACKED, VIRTIO 1.2 2.8) moved between two of
 * this project's back-ends ({@link FileBlockModel} over the same image, each served in process by
 * a {@link VhostUserServer}) and snapshotted and restored, while a {@link VerifiedWorkload} runs and
 * both models complete requests in random order (so used elements are written out of order and
 * overwrite descriptors of requests still held when the rings stop): every rebind, detach and
 * restore restarts the rings fresh and places the outstanding requests again, and nothing is
 * lost, duplicated or corrupted. Snapshots record the restart (format version 3); version 2
 * snapshots still restore on split rings and are refused by name on packed ones.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class BlkPackedSwapTest {
    private static final int MIB = 1 << 20;

    @TempDir
    Path dir;

    private static VirtioBlkDriver open(Path sock, boolean packed) throws VhostException {
        return BlockDevices.open(new VhostUserOps().open(VhostTarget.of(sock.toString())),
                new BlkDriverOptions(2, 64, false, 4 * MIB).withPacked(packed));
    }

    private static VhostUserServer served(Path sock, FileBlockModel model) throws VhostException {
        VhostUserServer s = new VhostUserServer(sock, model);
        s.start();
        return s;
    }

    private Path image(String name, int mib) throws Exception {
        return Files.write(dir.resolve(name), new byte[mib * MIB]);
    }

    private static FileBlockModel shuffled(Path image, long seed) throws VhostException {
        FileBlockModel m = FileBlockModel.open(image, false, 2, 64);
        m.completeInRandomOrder(seed);
        return m;
    }

    @Test
    void hotSwapsAndADetachUnderAVerifiedWorkloadWithOutOfOrderCompletionLoseNothing() throws Exception {
        Path image = image("swap.raw", 8);
        Path sockA = dir.resolve("a.sock");
        Path sockB = dir.resolve("b.sock");
        try (FileBlockModel a = shuffled(image, 11);
                FileBlockModel b = shuffled(image, 12);
                VhostUserServer sa = served(sockA, a);
                VhostUserServer sb = served(sockB, b);
                VirtioBlkDriver blk = open(sockA, true)) {
            assertThat(VirtioFeatures.has(blk.info().features(), VirtioFeatures.F_RING_PACKED)).as("packed negotiated").isTrue();
            assertThat(blk.ringQueue(0).isPacked()).isTrue();
            VerifiedWorkload load = new VerifiedWorkload(blk, 4 * MIB, 4096, 4, 4, 31, blk::completedRequests);
            load.start();
            int swaps = 0;
            try {
                for (int i = 0; i < 8; i++) {
                    long w = load.writes();
                    waitUntil(() -> load.writes() > w + 30, "workload progress before swap " + i);
                    Path to = i % 2 == 0 ? sockB : sockA;
                    if (i == 5) {
                        blk.detach(); // requests wait, held, for the rebind below
                        assertThat(blk.isDetached()).isTrue();
                        Thread.sleep(30);
                    }
                    blk.rebind(new VhostUserOps().open(VhostTarget.of(to.toString())));
                    swaps++;
                    assertThat(blk.backendName()).contains(to.toString());
                }
                long w = load.writes();
                waitUntil(() -> load.writes() > w + 30, "workload progress after the last swap");
            } finally {
                VerifiedWorkload.Result r = load.stop();
                assertThat(r.firstError()).as(r.toString()).isNull();
                assertThat(r.lost()).as(r.toString()).isZero();
                assertThat(r.duplicated()).as(r.toString()).isZero();
                assertThat(r.corrupted()).as(r.toString()).isZero();
                assertThat(r.clean()).as(r.toString()).isTrue();
                assertThat(r.writes()).isGreaterThan(8 * 30L);
                assertThat(r.reads()).isPositive();
            }
            assertThat(blk.counters()).containsEntry("swaps", (long) swaps).containsEntry("detached", 0L);
            assertThat(blk.counters().get("carried.over")).as("requests placed again on fresh rings").isPositive();
            assertThat(blk.ringQueue(0).isPacked()).isTrue();
            writeAndVerify(blk, 20, 7);
        }
    }

    @Test
    void snapshotsAndRestoresOnPackedRingsUnderAVerifiedWorkloadLoseNothing() throws Exception {
        Path image = image("snap.raw", 8);
        Path sock = dir.resolve("s.sock");
        try (FileBlockModel m = shuffled(image, 21);
                VhostUserServer s = served(sock, m);
                VirtioBlkDriver blk = open(sock, true)) {
            VerifiedWorkload load = new VerifiedWorkload(blk, 4 * MIB, 4096, 4, 4, 41, blk::completedRequests);
            load.start();
            byte[] last = null;
            int restores = 0;
            try {
                for (int i = 0; i < 16; i++) {
                    long w = load.writes();
                    waitUntil(() -> load.writes() > w + 10, "workload progress before snapshot " + i);
                    if (i % 4 == 3) {
                        assertThat(blk.restore(last)).contains("placed again").contains("restarted fresh");
                        restores++;
                    } else {
                        last = blk.snapshot();
                    }
                }
                long w = load.writes();
                waitUntil(() -> load.writes() > w + 10, "workload progress after the last restore");
            } finally {
                VerifiedWorkload.Result r = load.stop();
                assertThat(r.firstError()).as(r.toString()).isNull();
                assertThat(r.lost()).isZero();
                assertThat(r.duplicated()).isZero();
                assertThat(r.corrupted()).isZero();
                assertThat(r.clean()).as(r.toString()).isTrue();
            }
            assertThat(restores).isEqualTo(4);
        }
    }

    @Test
    void aPackedSnapshotRecordsAFreshRestartAndRestoresWithTheDataIntact() throws Exception {
        Path image = image("data.raw", 4);
        Path sock = dir.resolve("d.sock");
        try (FileBlockModel m = shuffled(image, 5);
                VhostUserServer s = served(sock, m);
                VirtioBlkDriver blk = open(sock, true)) {
            writeAndVerify(blk, 40, 1); // more than a lap of the 64-entry rings
            MemorySegment kept = blk.allocateBuffer(8192);
            kept.fill((byte) 0x5A);
            blk.write(0, 1 << 20, kept).get(10, TimeUnit.SECONDS);
            byte[] snap = blk.snapshot();
            BlkDriverSnapshot decoded = BlkDriverSnapshot.decode(snap, 2);
            for (int q = 0; q < 2; q++) {
                assertThat(decoded.rings().get(q).restart()).isEqualTo(BlkDriverSnapshot.FRESH);
                assertThat(decoded.queues().get(q).nextAvail()).as("fresh ring: position 0, wrap counter 1").isEqualTo(0x8000);
            }
            assertThat(decoded.describe()).contains("packed, restarted fresh");
            writeAndVerify(blk, 50, 2);
            String r = blk.restore(snap);
            assertThat(r).contains("restored on").contains("restarted fresh");
            assertThat(blk.ringQueue(0).availIdx()).as("restored onto fresh rings").isEqualTo(0x8000);
            MemorySegment back = blk.allocateBuffer(8192);
            blk.read(1, 1 << 20, back).get(10, TimeUnit.SECONDS);
            assertThat(back.mismatch(kept)).as("data written before the snapshot").isEqualTo(-1);
            writeAndVerify(blk, 40, 3); // the device continues
            assertThat(blk.restore(blk.snapshot())).contains("restored on");
            writeAndVerify(blk, 10, 4);
        }
    }

    @Test
    void version2SnapshotsRestoreOnSplitRingsAndAreRefusedByNameOnPackedOnes() throws Exception {
        Path sockS = dir.resolve("split.sock");
        Path sockP = dir.resolve("packed.sock");
        try (FileBlockModel ms = FileBlockModel.open(image("split.raw", 4), false, 2, 64);
                FileBlockModel mp = FileBlockModel.open(image("packed.raw", 4), false, 2, 64);
                VhostUserServer ss = served(sockS, ms);
                VhostUserServer sp = served(sockP, mp);
                VirtioBlkDriver split = open(sockS, false);
                VirtioBlkDriver packed = open(sockP, true)) {
            writeAndVerify(split, 10, 1);
            byte[] v3 = split.snapshot();
            assertThat(BlkDriverSnapshot.decode(v3, 2).rings().get(0).restart()).isEqualTo(BlkDriverSnapshot.AT_INDICES);
            byte[] v2 = asVersion2(BlkDriverSnapshot.decode(v3, 2));
            assertThat(BlkDriverSnapshot.decode(v2, 2).rings()).isEqualTo(BlkDriverSnapshot.decode(v3, 2).rings());
            writeAndVerify(split, 30, 2);
            assertThat(split.restore(v2)).contains("restored on");
            assertThat(split.snapshot()).as("the version 2 snapshot restored the same indices").isEqualTo(v3);
            writeAndVerify(split, 10, 3);

            byte[] p3 = packed.snapshot();
            assertThatThrownBy(() -> packed.restore(asVersion2(BlkDriverSnapshot.decode(p3, 2))))
                    .isInstanceOf(VirtioDeviceException.class).hasMessageContaining("records ring indices")
                    .hasMessageContaining("VIRTIO_F_RING_PACKED");
            assertThatThrownBy(() -> split.restore(p3)).isInstanceOf(VhostFeatureException.class)
                    .hasMessageContaining("acked features");
            byte[] v4 = p3.clone();
            v4[7] = 4;
            assertThatThrownBy(() -> packed.restore(v4)).isInstanceOf(VirtioDeviceException.class)
                    .hasMessageContaining("versions 2..3");
            writeAndVerify(packed, 10, 4); // the refusals changed nothing
        }
    }

    /** Encodes {@code s} in the version 2 layout: no {@code restart} field. */
    private static byte[] asVersion2(BlkDriverSnapshot s) {
        return SnapshotFrames.writeDriverSnapshot(BlkDriverSnapshot.MAGIC, 2, s.ackedFeatures(), s.config(), s.backendState(),
                s.queues(), s.rings(), (out, r) -> {
                    out.writeInt(r.availIdx());
                    out.writeInt(r.usedIdx());
                    out.writeInt(r.inFlight().size());
                    for (BlkDriverSnapshot.InFlight f : r.inFlight()) {
                        out.writeInt(f.type());
                        out.writeLong(f.offset());
                        out.writeLong(f.length());
                    }
                });
    }

    /** Writes {@code n} random 4 KiB blocks in the first 512 KiB through both queues and reads each back. */
    private static void writeAndVerify(VirtioBlkDriver blk, int n, long seed) throws Exception {
        Random rnd = new Random(seed);
        MemorySegment buf = blk.allocateBuffer(4096);
        MemorySegment back = blk.allocateBuffer(4096);
        for (int i = 0; i < n; i++) {
            byte[] d = new byte[4096];
            rnd.nextBytes(d);
            long off = (long) rnd.nextInt(128) * 4096;
            buf.copyFrom(MemorySegment.ofArray(d));
            blk.write(i % 2, off, buf).get(10, TimeUnit.SECONDS);
            blk.read((i + 1) % 2, off, back).get(10, TimeUnit.SECONDS);
            assertThat(back.toArray(ValueLayout.JAVA_BYTE)).as("block at %d", off).isEqualTo(d);
        }
        blk.freeBuffer(buf);
        blk.freeBuffer(back);
    }

    private static void waitUntil(BooleanSupplier c, String what) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!c.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting for " + what);
            }
            Thread.sleep(2);
        }
    }
}
