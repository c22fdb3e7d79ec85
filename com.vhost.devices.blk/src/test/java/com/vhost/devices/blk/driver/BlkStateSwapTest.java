package com.vhost.devices.blk.driver;

import static org.assertj.core.api.Assertions.assertThat;

import com.vhost.api.VhostException;
import com.vhost.api.VhostTarget;
import com.vhost.api.blk.VirtioBlk;
import com.vhost.devices.blk.model.FileBlockModel;
import com.vhost.user.VhostUserOps;
import com.vhost.user.backend.VhostUserServer;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * What a hot-swap of a running {@link VirtioBlkDriver} carries besides the rings: the back-end's
 * own state (the blk model's writeback setting) travels from one {@link VhostUserServer} to the
 * next through DEVICE_STATE when both offer it. Rebinds under load, detach, refusals and a dying
 * back-end are the driver contract's ({@link BlkDriverContractTest}).
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class BlkStateSwapTest {
    private static final int MIB = 1 << 20;

    @TempDir
    Path dir;

    private static VirtioBlkDriver open(Path sock) throws VhostException {
        return BlockDevices.open(new VhostUserOps().open(VhostTarget.of(sock.toString())), new BlkDriverOptions(2, 64, false, 4 * MIB));
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

                com.vhost.api.VhostBackend first = blk.vhost().backend();
                blk.rebind(new VhostUserOps().open(VhostTarget.of(sockB.toString())));
                assertThat(first.isConnected()).as("the old back-end is closed once the new one started").isFalse();
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
}
