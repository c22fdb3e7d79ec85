package com.vhost.devices.blk.model;

import static com.vhost.user.testing.LoggedBlkGuest.DATA_PAGE;
import static com.vhost.user.testing.LoggedBlkGuest.STATUS_PAGE;
import static com.vhost.user.testing.LoggedBlkGuest.USED_PAGE;
import static org.assertj.core.api.Assertions.assertThat;

import com.vhost.api.VhostFeatures;
import com.vhost.api.VhostTarget;
import com.vhost.api.VringAddr;
import com.vhost.api.blk.VirtioBlk;
import com.vhost.api.user.VhostUserBackend;
import com.vhost.api.user.VhostUserProtocolFeature;
import com.vhost.api.virtio.VirtqueueConfig;
import com.vhost.spi.vhost.DirtyLog;
import com.vhost.spi.vhost.DirtyLogging;
import com.vhost.user.VhostUserOps;
import com.vhost.user.backend.VhostUserServer;
import com.vhost.user.testing.LoggedBlkGuest;
import java.nio.file.Path;
import java.util.BitSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Dirty page logging (vhost-user spec, "Migration"; issue #11 items 1 and 2) between this
 * project's front-end ({@link DirtyLog}, {@link DirtyLogging} on a {@code GenericVhostDevice}) and
 * its own back-end serving the blk model: exactly the pages the back-end wrote are marked (a read:
 * data, status, used ring; a write: status, used ring), nothing while LOG_ALL is off, and logging
 * turns on and off while the ring runs.
 */
@Timeout(60)
class DirtyLogOverVhostUserTest {
    /** @return the model's I/O engine ({@code DirtyLogOverVhostUserUringTest}: io_uring) */
    FileBlockModel.Aio aio() {
        return FileBlockModel.Aio.THREADS;
    }

    @TempDir
    Path dir;

    private static BitSet pages(int... p) {
        BitSet b = new BitSet();
        for (int i : p) {
            b.set(i);
        }
        return b;
    }

    @Test
    void readsMarkDataStatusAndUsedPagesWritesOnlyStatusAndUsed() throws Exception {
        Path sock = dir.resolve("blk.sock");
        try (FileBlockModel blk = FileBlockModel.inMemory(1 << 20, 1, 64, aio());
                VhostUserServer server = new VhostUserServer(sock, blk)) {
            server.start();
            try (LoggedBlkGuest g = new LoggedBlkGuest(new VhostUserOps().open(VhostTarget.of(sock.toString())));
                    DirtyLog log = DirtyLog.forMemory(g.memory())) {
                assertThat(VhostUserProtocolFeature.LOG_SHMFD.in(g.device().protocolFeatures())).isTrue();
                assertThat(VhostFeatures.has(g.device().backendFeatures(), VhostFeatures.F_LOG_ALL)).isTrue();
                assertThat(log.pages()).isEqualTo(256); // 1 MiB / 4 KiB
                assertThat(log.bytes()).isEqualTo(32);

                DirtyLogging.start(g.device(), g.memory(), g.queues(), log);
                log.syncAndClear(); // whatever enabling itself touched (used flags)

                g.fillData((byte) 0x5A);
                assertThat(g.request(VirtioBlk.T_OUT, 3)).isZero();
                assertThat(log.syncAndClear()).as("after a write").isEqualTo(pages(USED_PAGE, STATUS_PAGE));

                g.fillData((byte) 0);
                assertThat(g.request(VirtioBlk.T_IN, 3)).isZero();
                assertThat(g.data()).containsOnly((byte) 0x5A);
                assertThat(log.syncAndClear()).as("after a read").isEqualTo(pages(USED_PAGE, DATA_PAGE, STATUS_PAGE));
                assertThat(log.syncAndClear().isEmpty()).as("cleared by the previous sync").isTrue();

                // off while the ring runs: nothing is marked
                DirtyLogging.stop(g.device(), g.memory(), g.queues());
                log.syncAndClear();
                assertThat(g.request(VirtioBlk.T_IN, 3)).isZero();
                assertThat(g.request(VirtioBlk.T_OUT, 4)).isZero();
                assertThat(log.syncAndClear().isEmpty()).as("logging off").isTrue();

                // and on again, on the same running ring
                DirtyLogging.start(g.device(), g.memory(), g.queues(), log);
                log.syncAndClear();
                assertThat(g.request(VirtioBlk.T_IN, 4)).isZero();
                assertThat(log.syncAndClear()).isEqualTo(pages(USED_PAGE, DATA_PAGE, STATUS_PAGE));
            }
        }
    }

    @Test
    void aLogWithoutLogAllMarksNothingAndLogAllWithoutTheRingFlagSkipsTheUsedRing() throws Exception {
        Path sock = dir.resolve("blk.sock");
        try (FileBlockModel blk = FileBlockModel.inMemory(1 << 20, 1, 64, aio());
                VhostUserServer server = new VhostUserServer(sock, blk)) {
            server.start();
            try (LoggedBlkGuest g = new LoggedBlkGuest(new VhostUserOps().open(VhostTarget.of(sock.toString())));
                    DirtyLog log = DirtyLog.forMemory(g.memory())) {
                VhostUserBackend fe = (VhostUserBackend) g.device().backend();
                fe.setLogBase(log.fd(), log.bytes(), 0);
                VirtqueueConfig q = g.queues().getFirst();
                long ua = g.memory().userAddrOfGuest(0);
                fe.setVringAddr(new VringAddr(0, VringAddr.F_LOG, ua + q.descAddr(), ua + q.usedAddr(), ua + q.availAddr(), q.usedAddr()));
                assertThat(g.request(VirtioBlk.T_IN, 1)).isZero();
                assertThat(log.syncAndClear().isEmpty()).as("log mapped, ring flagged, LOG_ALL not acked").isTrue();

                fe.setVringAddr(new VringAddr(0, 0, ua + q.descAddr(), ua + q.usedAddr(), ua + q.availAddr(), q.usedAddr()));
                fe.setFeatures(g.device().ackedFeatures() | VhostFeatures.bit(VhostFeatures.F_LOG_ALL));
                assertThat(g.request(VirtioBlk.T_IN, 1)).isZero();
                assertThat(log.syncAndClear()).as("LOG_ALL without VHOST_VRING_F_LOG").isEqualTo(pages(DATA_PAGE, STATUS_PAGE));

                // a second SET_LOG_BASE replaces the first: marks go to the new log only
                try (DirtyLog second = DirtyLog.forMemory(g.memory())) {
                    fe.setLogBase(second.fd(), second.bytes(), 0);
                    assertThat(g.request(VirtioBlk.T_IN, 2)).isZero();
                    assertThat(second.syncAndClear()).isEqualTo(pages(DATA_PAGE, STATUS_PAGE));
                    assertThat(log.syncAndClear().isEmpty()).isTrue();
                }
            }
        }
    }

    /**
     * SET_LOG_BASE replacing the log while the queue worker marks it: the old mapping is closed
     * under the worker (its late marks become no-ops), never unmapped beneath it (a SIGSEGV would
     * take the JVM down); the requests all complete and the last log gets the marks.
     */
    @Test
    void replacingTheLogWhileRequestsRunNeitherFaultsNorLosesTheNewLog() throws Exception {
        Path sock = dir.resolve("blk.sock");
        try (FileBlockModel blk = FileBlockModel.inMemory(1 << 20, 1, 64, aio());
                VhostUserServer server = new VhostUserServer(sock, blk)) {
            server.start();
            try (LoggedBlkGuest g = new LoggedBlkGuest(new VhostUserOps().open(VhostTarget.of(sock.toString())))) {
                VhostUserBackend fe = (VhostUserBackend) g.device().backend();
                DirtyLog log = DirtyLog.forMemory(g.memory());
                DirtyLogging.start(g.device(), g.memory(), g.queues(), log);
                java.util.concurrent.atomic.AtomicInteger done = new java.util.concurrent.atomic.AtomicInteger();
                java.util.concurrent.atomic.AtomicReference<Throwable> failure = new java.util.concurrent.atomic.AtomicReference<>();
                Thread io = Thread.ofPlatform().start(() -> {
                    try {
                        for (int i = 0; i < 400; i++) {
                            assertThat(g.request(VirtioBlk.T_IN, i % 8)).isZero();
                            done.incrementAndGet();
                        }
                    } catch (Throwable t) {
                        failure.set(t);
                    }
                });
                int swaps = 0;
                while (io.isAlive() && swaps < 100) {
                    DirtyLog next = DirtyLog.forMemory(g.memory());
                    fe.setLogBase(next.fd(), next.bytes(), 0);
                    log.close();
                    log = next;
                    swaps++;
                }
                io.join(30_000);
                assertThat(io.isAlive()).as("requests finished in time").isFalse();
                assertThat(failure.get()).isNull();
                assertThat(done.get()).isEqualTo(400);
                assertThat(swaps).isPositive();
                log.syncAndClear();
                assertThat(g.request(VirtioBlk.T_IN, 1)).isZero();
                assertThat(log.syncAndClear()).isEqualTo(pages(USED_PAGE, DATA_PAGE, STATUS_PAGE));
                log.close();
            }
        }
    }
}
