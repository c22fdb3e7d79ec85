package com.vhost.devices.blk.driver;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.vhost.api.VhostDisconnectedException;
import com.vhost.api.VhostException;
import com.vhost.api.VhostFeatureException;
import com.vhost.api.VhostTarget;
import com.vhost.api.VirtioDeviceException;
import com.vhost.api.blk.VirtioBlk;
import com.vhost.api.virtio.VirtioDevice;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.devices.blk.model.FileBlockModel;
import com.vhost.user.VhostUserOps;
import com.vhost.user.backend.VhostUserServer;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Hot-swap of a running {@link VirtioBlkDriver} between two {@link VhostUserServer}s that serve
 * one image file (each through its own {@link FileBlockModel}), under a write-then-verify
 * workload with checksums: nothing lost, nothing duplicated, every block verifies.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class HotSwapTest {
    private static final int MIB = 1 << 20;

    @TempDir
    Path dir;

    private static VirtioBlkDriver open(Path sock) throws VhostException {
        return BlockDevices.open(new VhostUserOps().open(VhostTarget.of(sock.toString())), new BlkDriverOptions(2, 64, false, 4 * MIB));
    }

    @Test
    void swapsBackAndForthUnderAVerifiedWorkloadWithNothingLostOrDuplicated() throws Exception {
        Path image = dir.resolve("disk.raw");
        Files.write(image, new byte[8 * MIB]);
        Path sockA = dir.resolve("a.sock");
        Path sockB = dir.resolve("b.sock");
        int swaps = 20;
        List<Long> pausesUs = new ArrayList<>();
        try (FileBlockModel modelA = FileBlockModel.open(image, false, 2, 64);
                FileBlockModel modelB = FileBlockModel.open(image, false, 2, 64);
                VhostUserServer a = new VhostUserServer(sockA, modelA);
                VhostUserServer b = new VhostUserServer(sockB, modelB)) {
            a.start();
            b.start();
            try (VirtioBlkDriver blk = open(sockA)) {
                VerifiedWorkload load = new VerifiedWorkload(blk, 4 * MIB, 4096, 4, 4, 7, blk::completedRequests);
                load.start();
                for (int i = 0; i < swaps; i++) {
                    long writesBefore = load.writes();
                    waitUntil(() -> load.writes() > writesBefore + 8, "workload progress before swap " + i);
                    Path to = i % 2 == 0 ? sockB : sockA;
                    long measured = blk.pausesMeasured();
                    blk.rebind(new VhostUserOps().open(VhostTarget.of(to.toString())));
                    assertThat(blk.info().backend()).contains(to.getFileName().toString());
                    waitUntil(() -> blk.pausesMeasured() > measured, "first completion after swap " + i);
                    pausesUs.add(TimeUnit.NANOSECONDS.toMicros(blk.lastPauseNanos()));
                }
                VerifiedWorkload.Result r = load.stop();
                assertThat(r.firstError()).isNull();
                assertThat(r.clean()).as(r.toString()).isTrue();
                assertThat(r.writes()).isGreaterThan(swaps * 8L);
                assertThat(r.reads()).isGreaterThan(0);
                assertThat(blk.counters()).containsEntry("swaps", (long) swaps).containsEntry("detached", 0L)
                        .containsEntry("states.carried", (long) swaps);
                assertThat(blk.counters().get("requests")).isGreaterThanOrEqualTo(r.writes() + r.reads());
            }
        }
        assertThat(pausesUs).hasSize(swaps).allSatisfy(p -> assertThat(p).isBetween(0L, 5_000_000L));
        System.out.println("hot-swap pauses (us): " + pausesUs);
    }

    @Test
    void theBackEndStateTravelsWithTheSwapWhenBothBackEndsOfferDeviceState() throws Exception {
        Path image = dir.resolve("s.raw");
        Files.write(image, new byte[2 * MIB]);
        Path sockA = dir.resolve("sa.sock");
        Path sockB = dir.resolve("sb.sock");
        try (FileBlockModel modelA = FileBlockModel.open(image, false, 2, 64);
                FileBlockModel modelB = FileBlockModel.open(image, false, 2, 64);
                VhostUserServer a = new VhostUserServer(sockA, modelA);
                VhostUserServer b = new VhostUserServer(sockB, modelB)) {
            a.start();
            b.start();
            try (VirtioBlkDriver blk = open(sockA)) {
                MemorySegment buf = blk.allocateBuffer(4096);
                MemorySegment back = blk.allocateBuffer(4096);
                buf.fill((byte) 0x3C);
                blk.write(0, 4096, buf).get(10, TimeUnit.SECONDS);
                // the old back-end's write cache is switched to write-through (config writeback = 0)
                modelA.writeConfig(VirtioBlk.CFG_WRITEBACK, new byte[] {0});
                assertThat(writeback(modelB)).as("B's own setting before the swap").isEqualTo((byte) 1);

                blk.rebind(new VhostUserOps().open(VhostTarget.of(sockB.toString())));
                assertThat(writeback(modelB)).as("A's setting travelled to B").isEqualTo((byte) 0);
                assertThat(modelB.ackedFeatures()).isEqualTo(blk.info().features());
                blk.read(0, 4096, back).get(10, TimeUnit.SECONDS);
                assertThat(back.mismatch(buf)).isEqualTo(-1);

                // and back, with B's setting changed in between
                modelB.writeConfig(VirtioBlk.CFG_WRITEBACK, new byte[] {1});
                blk.rebind(new VhostUserOps().open(VhostTarget.of(sockA.toString())));
                assertThat(writeback(modelA)).isEqualTo((byte) 1);
                buf.fill((byte) 0x7E);
                blk.write(0, 8192, buf).get(10, TimeUnit.SECONDS);
                blk.read(0, 8192, back).get(10, TimeUnit.SECONDS);
                assertThat(back.mismatch(buf)).isEqualTo(-1);
                assertThat(blk.counters()).containsEntry("swaps", 2L).containsEntry("states.carried", 2L);
            }
        }
    }

    private static byte writeback(FileBlockModel m) {
        byte[] b = new byte[1];
        m.readConfig(VirtioBlk.CFG_WRITEBACK, b);
        return b[0];
    }

    @Test
    void aBackendLackingAnAckedFeatureIsRefusedAndTheDeviceKeepsServing() throws Exception {
        Path image = dir.resolve("f.raw");
        Files.write(image, new byte[2 * MIB]);
        Path sockA = dir.resolve("fa.sock");
        Path sockB = dir.resolve("fb.sock");
        Path sockC = dir.resolve("fc.sock");
        try (FileBlockModel modelA = FileBlockModel.open(image, false, 2, 64);
                FileBlockModel modelB = FileBlockModel.open(image, false, 2, 64);
                FileBlockModel small = FileBlockModel.inMemory(MIB, 2, 64);
                VhostUserServer a = new VhostUserServer(sockA, modelA);
                VhostUserServer b = new VhostUserServer(sockB, new FeatureMask(modelB, VirtioFeatures.bit(VirtioBlk.F_FLUSH)));
                VhostUserServer c = new VhostUserServer(sockC, small)) {
            a.start();
            b.start();
            c.start();
            try (VirtioBlkDriver blk = open(sockA)) {
                assertThat(VirtioFeatures.has(blk.info().features(), VirtioBlk.F_FLUSH)).isTrue();
                VerifiedWorkload load = new VerifiedWorkload(blk, MIB, 4096, 2, 4, 11, blk::completedRequests);
                load.start();
                assertThatThrownBy(() -> blk.rebind(new VhostUserOps().open(VhostTarget.of(sockB.toString()))))
                        .isInstanceOf(VhostFeatureException.class)
                        .hasMessageContaining("does not offer feature bits 0x200");
                assertThatThrownBy(() -> blk.rebind(new VhostUserOps().open(VhostTarget.of(sockC.toString()))))
                        .isInstanceOf(VirtioDeviceException.class)
                        .hasMessageContaining("geometry differs: capacity 1048576 bytes");
                long w = load.writes();
                waitUntil(() -> load.writes() > w + 8, "progress after the refused swaps");
                VerifiedWorkload.Result r = load.stop();
                assertThat(r.firstError()).isNull();
                assertThat(r.clean()).as(r.toString()).isTrue();
                assertThat(blk.counters()).containsEntry("swaps", 0L);
                assertThat(blk.info().backend()).contains("fa.sock");
            }
        }
    }

    @Test
    void aDetachedDeviceHoldsRequestsUntilRebindAndFailsThemAfterItsWait() throws Exception {
        Path image = dir.resolve("d.raw");
        Files.write(image, new byte[MIB]);
        Path sockA = dir.resolve("da.sock");
        Path sockB = dir.resolve("db.sock");
        try (FileBlockModel modelA = FileBlockModel.open(image, false, 2, 64);
                FileBlockModel modelB = FileBlockModel.open(image, false, 2, 64);
                VhostUserServer a = new VhostUserServer(sockA, modelA);
                VhostUserServer b = new VhostUserServer(sockB, modelB)) {
            a.start();
            b.start();
            try (VirtioBlkDriver blk = open(sockA)) {
                MemorySegment buf = blk.allocateBuffer(4096);
                buf.fill((byte) 0x5A);
                blk.detach();
                assertThat(blk.isDetached()).isTrue();
                assertThat(blk.counters()).containsEntry("detached", 1L);
                CompletableFuture<Void> held = blk.write(1, 8192, buf);
                Thread.sleep(200);
                assertThat(held).isNotDone();
                blk.rebind(new VhostUserOps().open(VhostTarget.of(sockB.toString())));
                held.get(10, TimeUnit.SECONDS);
                MemorySegment back = blk.allocateBuffer(4096);
                blk.read(0, 8192, back).get(10, TimeUnit.SECONDS);
                assertThat(back.mismatch(buf)).isEqualTo(-1);

                blk.setSwapWaitNanos(TimeUnit.MILLISECONDS.toNanos(100));
                blk.detach();
                CompletableFuture<Void> late = blk.write(0, 0, buf);
                assertThatThrownBy(() -> late.get(10, TimeUnit.SECONDS))
                        .isInstanceOf(ExecutionException.class)
                        .hasCauseInstanceOf(VhostDisconnectedException.class)
                        .hasMessageContaining("swap.wait.ms");
                // still rebindable after the wait ran out
                blk.rebind(new VhostUserOps().open(VhostTarget.of(sockA.toString())));
                blk.read(0, 8192, back).get(10, TimeUnit.SECONDS);
                assertThat(back.mismatch(buf)).isEqualTo(-1);
                assertThat(blk.counters()).containsEntry("swaps", 2L);
            }
        }
        byte[] file = Files.readAllBytes(image);
        assertThat(file[8192]).isEqualTo((byte) 0x5A);
        assertThat(file[8192 + 4095]).isEqualTo((byte) 0x5A);
    }

    private static void waitUntil(java.util.function.BooleanSupplier cond, String what) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (!cond.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting for " + what);
            }
            Thread.sleep(2);
        }
    }

    /** A device model that hides some feature bits (a back-end of an older version). */
    /** A model with feature bits {@code hidden} taken out of its offer. */
    private static final class FeatureMask extends com.vhost.spi.backend.ForwardingVirtioDevice {
        private final long hidden;

        FeatureMask(VirtioDevice d, long hidden) {
            super(d);
            this.hidden = hidden;
        }

        @Override
        public long features() {
            return delegate().features() & ~hidden;
        }

        @Override
        public void ackFeatures(long features) {
            delegate().ackFeatures(features & ~hidden);
        }
    }
}
