package com.vhost.devices.blk.driver;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.vhost.api.VhostException;
import com.vhost.api.VhostFeatureException;
import com.vhost.api.VhostTarget;
import com.vhost.api.VirtioDeviceException;
import com.vhost.api.blk.VirtioBlk;
import com.vhost.devices.blk.model.FileBlockModel;
import com.vhost.spi.workload.VerifiedWorkload;
import com.vhost.user.VhostUserOps;
import com.vhost.user.backend.VhostUserServer;
import com.vhost.user.interop.Peers;
import java.io.RandomAccessFile;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link VirtioBlkDriver#snapshot()} / {@link VirtioBlkDriver#restore(byte[])} of a running device
 * over a real vhost-user socket: this project's back-end and qemu-storage-daemon (what every
 * driver must do, snapshot/restore/snapshot equality on the own back-end among it, is the driver
 * contract's, {@link BlkDriverContractTest}; here what is blk's). A snapshot
 * stops the rings (GET_VRING_BASE), records them and restarts them in place; a restore resets
 * the rings at the snapshot's indices and restarts the back-end there, so a snapshot taken right
 * after a restore equals the one restored. Requests in flight complete exactly once throughout.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class DriverSnapshotTest {
    private static final int MIB = 1 << 20;

    @TempDir
    Path dir;

    private static VirtioBlkDriver open(Path sock, int queues) throws VhostException {
        return BlockDevices.open(new VhostUserOps().open(VhostTarget.of(sock.toString())),
                new BlkDriverOptions(queues, 64, false, 4 * MIB));
    }

    private static VhostUserServer started(VhostUserServer s) throws VhostException {
        s.start();
        return s;
    }

    private Path image(String name, long bytes) throws Exception {
        Path image = dir.resolve(name);
        try (RandomAccessFile f = new RandomAccessFile(image.toFile(), "rw")) {
            f.setLength(bytes);
        }
        return image;
    }

    /** Writes {@code n} random 4 KiB blocks (moving the ring indices) and reads each back. */
    private static void writeAndVerify(VirtioBlkDriver blk, int n, long seed) throws Exception {
        Random rnd = new Random(seed);
        MemorySegment buf = blk.allocateBuffer(4096);
        MemorySegment back = blk.allocateBuffer(4096);
        for (int i = 0; i < n; i++) {
            byte[] d = new byte[4096];
            rnd.nextBytes(d);
            long off = (long) rnd.nextInt(1024) * 4096;
            buf.copyFrom(MemorySegment.ofArray(d));
            blk.write(i % blk.info().numQueues(), off, buf).get(10, TimeUnit.SECONDS);
            blk.read((i + 1) % blk.info().numQueues(), off, back).get(10, TimeUnit.SECONDS);
            assertThat(back.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE)).as("block at %d", off).isEqualTo(d);
        }
        blk.freeBuffer(buf);
        blk.freeBuffer(back);
    }

    private static void assertRestoredSnapshotIsEqual(VirtioBlkDriver blk) throws Exception {
        writeAndVerify(blk, 10, 1);
        byte[] s1 = blk.snapshot();
        writeAndVerify(blk, 75, 2); // moves every ring index away from the snapshot's
        byte[] moved = blk.snapshot();
        assertThat(moved).as("indices moved by I/O").isNotEqualTo(s1);
        String result = blk.restore(s1);
        assertThat(result).contains("restored on").contains("q0").contains("q1");
        byte[] s2 = blk.snapshot();
        assertThat(s2).as("snapshot after restore equals the snapshot restored").isEqualTo(s1);
        writeAndVerify(blk, 30, 3); // and the restored device does I/O
    }

    @Test
    void theOwnBackEndsStateTravelsInTheSnapshotThroughDeviceState() throws Exception {
        Path sock = dir.resolve("state.sock");
        try (FileBlockModel model = FileBlockModel.open(image("state.img", 4 * MIB), false, 2, 64);
                VhostUserServer server = started(new VhostUserServer(sock, model));
                VirtioBlkDriver blk = open(sock, 2)) {
            model.writeConfig(VirtioBlk.CFG_WRITEBACK, new byte[] {0}); // write-through at the snapshot
            byte[] s1 = blk.snapshot();
            model.writeConfig(VirtioBlk.CFG_WRITEBACK, new byte[] {1});
            writeAndVerify(blk, 20, 4);
            String r = blk.restore(s1);
            assertThat(r).contains("back-end state");
            byte[] wb = new byte[1];
            model.readConfig(VirtioBlk.CFG_WRITEBACK, wb);
            assertThat(wb[0]).as("the model's writeback setting came back through SET_DEVICE_STATE_FD LOAD").isZero();
            assertThat(blk.snapshot()).isEqualTo(s1);
            writeAndVerify(blk, 20, 5);
        }
    }

    @Test
    void snapshotAfterRestoreEqualsTheSnapshotOnQemuStorageDaemon() throws Exception {
        Path image = image("qsd.img", 4 * MIB);
        try (Peers.Qsd qsd = Peers.Qsd.start(dir, List.of("driver=file,node-name=file0,filename=" + image,
                "driver=raw,node-name=fmt0,file=file0"), "fmt0", 2);
                VirtioBlkDriver blk = open(qsd.socket(), 2)) {
            assertRestoredSnapshotIsEqual(blk);
        }
    }

    @Test
    void snapshotsAndRestoresUnderAVerifiedWorkloadLoseNothing() throws Exception {
        Path sock = dir.resolve("load.sock");
        try (FileBlockModel model = FileBlockModel.open(image("load.img", 8 * MIB), false, 2, 64);
                VhostUserServer server = started(new VhostUserServer(sock, model));
                VirtioBlkDriver blk = open(sock, 2)) {
            VerifiedWorkload load = new VerifiedWorkload(blk, 4 * MIB, 4096, 4, 4, 21, blk::completedRequests);
            load.start();
            byte[] last = null;
            int snapshots = 0;
            try {
                for (int i = 0; i < 20; i++) {
                    long w = load.writes();
                    waitUntil(() -> load.writes() > w + 8, "workload progress before snapshot " + i);
                    if (i % 4 == 3) {
                        String r = blk.restore(last);
                        assertThat(r).contains("placed again");
                    } else {
                        last = blk.snapshot();
                        snapshots++;
                    }
                }
            } finally {
                VerifiedWorkload.Result r = load.stop();
                assertThat(r.firstError()).isNull();
                assertThat(r.clean()).as(r.toString()).isTrue();
                assertThat(r.writes()).isGreaterThan(20 * 8L);
            }
            assertThat(snapshots).isEqualTo(15);
        }
    }

    @Test
    void snapshotsOfAnotherLayoutAreRefusedByNameAndTheDeviceKeepsWorking() throws Exception {
        // garbage, truncation, other capacity and other acked features: the driver contract
        Path sockA = dir.resolve("a.sock");
        Path sockC = dir.resolve("c.sock");
        try (FileBlockModel a = FileBlockModel.open(image("a.img", 4 * MIB), false, 2, 64);
                FileBlockModel c = FileBlockModel.open(image("c.img", 4 * MIB), false, 2, 64);
                VhostUserServer sa = started(new VhostUserServer(sockA, a));
                VhostUserServer sc = started(new VhostUserServer(sockC, c));
                VirtioBlkDriver blk = open(sockA, 2);
                VirtioBlkDriver oneQueue = open(sockC, 1)) {
            byte[] good = blk.snapshot();
            byte[] trailing = Arrays.copyOf(good, good.length + 3);
            assertThatThrownBy(() -> blk.restore(trailing))
                    .isInstanceOf(VirtioDeviceException.class).hasMessageContaining("trailing");
            assertThatThrownBy(() -> blk.restore(oneQueue.snapshot()))
                    .isInstanceOf(VhostException.class).hasMessageContaining("restore: snapshot");
            byte[] flipped = good.clone();
            flipped[15] ^= 0x01; // a feature bit of the acked set (low byte of ackedFeatures)
            assertThatThrownBy(() -> blk.restore(flipped))
                    .isInstanceOf(VhostFeatureException.class).hasMessageContaining("acked features");
            writeAndVerify(blk, 20, 9);
            assertThat(blk.snapshot()).as("refusals changed nothing but the indices I/O moved").isNotNull();
        }
    }

    private static void waitUntil(java.util.function.BooleanSupplier c, String what) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (!c.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting for " + what);
            }
            Thread.sleep(2);
        }
    }
}
