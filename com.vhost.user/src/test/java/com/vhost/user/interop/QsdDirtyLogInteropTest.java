package com.vhost.user.interop;

import static com.vhost.user.testing.LoggedBlkGuest.DATA_PAGE;
import static com.vhost.user.testing.LoggedBlkGuest.STATUS_PAGE;
import static com.vhost.user.testing.LoggedBlkGuest.USED_PAGE;
import static org.assertj.core.api.Assertions.assertThat;

import com.vhost.api.VhostFeatures;
import com.vhost.api.VhostTarget;
import com.vhost.api.blk.VirtioBlk;
import com.vhost.api.registry.DeviceConfigKeys;
import com.vhost.api.user.VhostUserProtocolFeature;
import com.vhost.spi.vhost.DirtyLog;
import com.vhost.spi.vhost.DirtyLogging;
import com.vhost.user.VhostUserOps;
import com.vhost.user.testing.LoggedBlkGuest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.BitSet;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * This project's driver-side dirty log ({@link DirtyLog}, {@link DirtyLogging}) against an
 * independently written back-end: qemu-storage-daemon (libvhost-user) offers LOG_SHMFD and
 * VHOST_F_LOG_ALL; with logging on, a read through our ring marks the data buffer's, the status
 * byte's and the used ring's pages in the log we handed it, and nothing is marked once logging is
 * off. Skipped without qemu-storage-daemon, failed under {@code CI=true} ({@link Peers}).
 */
@Timeout(60)
class QsdDirtyLogInteropTest {
    @TempDir
    Path dir;

    @Test
    void readsWithLoggingOnMarkTheBuffersPagesInOurLog() throws Exception {
        Path disk = dir.resolve("disk.raw");
        byte[] image = new byte[1 << 20];
        for (int i = 0; i < 512; i++) {
            image[2 * 512 + i] = (byte) (i * 3 + 1); // sector 2
        }
        Files.write(disk, image);
        try (Peers.Qsd qsd = Peers.Qsd.raw(dir, disk, 1);
                LoggedBlkGuest g = new LoggedBlkGuest(new VhostUserOps().open(new VhostTarget(qsd.socket().toString(),
                        Map.of(DeviceConfigKeys.OPTION_CONNECT_TIMEOUT_MS, "10000"))));
                DirtyLog log = DirtyLog.forMemory(g.memory())) {
            assertThat(VhostUserProtocolFeature.LOG_SHMFD.in(g.device().protocolFeatures())).as("qsd negotiated LOG_SHMFD").isTrue();
            assertThat(VhostFeatures.has(g.device().backendFeatures(), VhostFeatures.F_LOG_ALL)).isTrue();

            DirtyLogging.start(g.device(), g.memory(), g.queues(), log);
            log.syncAndClear();
            assertThat(g.request(VirtioBlk.T_IN, 2)).isZero();
            assertThat(g.data()[0]).isEqualTo((byte) 1);
            BitSet dirty = log.syncAndClear();
            assertThat(dirty.get(DATA_PAGE)).as("data buffer page marked").isTrue();
            assertThat(dirty.get(STATUS_PAGE)).as("status byte page marked").isTrue();
            assertThat(dirty.get(USED_PAGE)).as("used ring page marked").isTrue();
            BitSet expected = new BitSet();
            expected.set(USED_PAGE);
            expected.set(DATA_PAGE);
            expected.set(STATUS_PAGE);
            assertThat(dirty).as("exactly the pages qsd wrote").isEqualTo(expected);

            DirtyLogging.stop(g.device(), g.memory(), g.queues());
            log.syncAndClear();
            assertThat(g.request(VirtioBlk.T_IN, 2)).isZero();
            assertThat(log.syncAndClear().isEmpty()).as("logging off").isTrue();
            assertThat(g.device().stop()).containsExactly(2);
        }
    }
}
