package com.vhost.devices.blk.driver;

import static com.vhost.user.testing.FaultyBackends.connect;
import static com.vhost.user.testing.FaultyBackends.refusingKick;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.vhost.api.VhostDisconnectedException;
import com.vhost.api.VhostException;
import com.vhost.api.blk.BlockDevice;
import com.vhost.api.blk.BlockQueues;
import com.vhost.api.net.NetDevice;
import com.vhost.api.registry.VirtioDriver;
import com.vhost.devices.blk.model.FileBlockModel;
import com.vhost.user.backend.VhostUserServer;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The one failure rule of {@link VirtioDriver#rebind}, for both drivers: a new backend that
 * negotiates and then fails to start (here it refuses SET_VRING_KICK, after the old backend's
 * rings were stopped and it was closed) leaves the device detached; requests are held, go out on
 * the next backend that starts, and fail with {@link VhostDisconnectedException} only once
 * {@code swap.wait.ms} is over; a replacement refused while detached fails nothing either. Also:
 * the driver is its own {@link VirtioDriver} (no adapter).
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class BlkSwapFailureRuleTest {
    private static final int MIB = 1 << 20;

    @TempDir
    Path dir;

    @Test
    void blkWhoseNewBackendFailsToStartIsDetachedAndItsRequestsWaitForTheNextOne() throws Exception {
        Path image = dir.resolve("disk.raw");
        Files.write(image, new byte[2 * MIB]);
        Path sa = dir.resolve("a.sock");
        Path sb = dir.resolve("b.sock");
        try (FileBlockModel ma = FileBlockModel.open(image, false, 2, 64);
                FileBlockModel mb = FileBlockModel.open(image, false, 2, 64);
                VhostUserServer a = new VhostUserServer(sa, ma);
                VhostUserServer b = new VhostUserServer(sb, mb)) {
            a.start();
            b.start();
            try (VirtioBlkDriver blk = BlockDevices.open(connect(sa), new BlkDriverOptions(2, 64, false, 4 * MIB))) {
                MemorySegment buf = blk.allocateBuffer(4096);
                buf.fill((byte) 0x11);
                blk.write(0, 0, buf).get(10, TimeUnit.SECONDS);

                assertThatThrownBy(() -> blk.rebind(refusingKick(sb))).isInstanceOf(VhostException.class)
                        .hasMessageContaining("SET_VRING_KICK");
                assertThat(blk.isDetached()).as("detached, not failed").isTrue();
                assertThat(blk.counters()).containsEntry("detached", 1L).containsEntry("swaps", 0L);
                buf.fill((byte) 0x22);
                CompletableFuture<Void> held = blk.write(1, 4096, buf);
                Thread.sleep(200);
                assertThat(held).as("held while detached").isNotDone();

                blk.rebind(connect(sb));
                held.get(10, TimeUnit.SECONDS);
                MemorySegment back = blk.allocateBuffer(4096);
                blk.read(0, 4096, back).get(10, TimeUnit.SECONDS);
                assertThat(back.mismatch(buf)).isEqualTo(-1);
                assertThat(blk.counters()).containsEntry("detached", 0L).containsEntry("swaps", 1L);

                // held past swap.wait.ms after another failed start: the requests fail, typed; a rebind still helps
                blk.setSwapWaitNanos(TimeUnit.MILLISECONDS.toNanos(100));
                assertThatThrownBy(() -> blk.rebind(refusingKick(sa))).isInstanceOf(VhostException.class);
                CompletableFuture<Void> late = blk.write(0, 8192, buf);
                assertThatThrownBy(() -> late.get(10, TimeUnit.SECONDS)).isInstanceOf(ExecutionException.class)
                        .hasCauseInstanceOf(VhostDisconnectedException.class).hasMessageContaining("swap.wait.ms");
                blk.rebind(connect(sa));
                blk.read(0, 4096, back).get(10, TimeUnit.SECONDS);
                assertThat(back.mismatch(buf)).isEqualTo(-1);
            }
        }
    }

    @Test
    void aReplacementRefusedWhileDetachedLeavesTheRequestsWaiting() throws Exception {
        Path image = dir.resolve("r.raw");
        Files.write(image, new byte[2 * MIB]);
        Path sa = dir.resolve("ra.sock");
        Path small = dir.resolve("rs.sock");
        try (FileBlockModel ma = FileBlockModel.open(image, false, 2, 64);
                FileBlockModel ms = FileBlockModel.inMemory(MIB, 2, 64);
                VhostUserServer a = new VhostUserServer(sa, ma);
                VhostUserServer s = new VhostUserServer(small, ms)) {
            a.start();
            s.start();
            try (VirtioBlkDriver blk = BlockDevices.open(connect(sa), new BlkDriverOptions(2, 64, false, 4 * MIB))) {
                MemorySegment buf = blk.allocateBuffer(4096);
                buf.fill((byte) 0x33);
                blk.detach();
                CompletableFuture<Void> held = blk.write(0, 12288, buf);
                assertThatThrownBy(() -> blk.rebind(connect(small))).isInstanceOf(VhostException.class)
                        .hasMessageContaining("geometry differs");
                Thread.sleep(200);
                assertThat(held).as("still held after the refused replacement").isNotDone();
                assertThat(blk.isDetached()).isTrue();
                blk.rebind(connect(sa));
                held.get(10, TimeUnit.SECONDS);
                MemorySegment back = blk.allocateBuffer(4096);
                blk.read(1, 12288, back).get(10, TimeUnit.SECONDS);
                assertThat(back.mismatch(buf)).isEqualTo(-1);
            }
        }
    }

    @Test
    void theFactoryReturnsTheDriverItselfAsAVirtioDriver() throws Exception {
        Path image = dir.resolve("f.raw");
        Files.write(image, new byte[MIB]);
        Path sblk = dir.resolve("fb.sock");
        try (FileBlockModel mb = FileBlockModel.open(image, false, 1, 64);
                VhostUserServer b = new VhostUserServer(sblk, mb)) {
            b.start();
            try (VirtioDriver blk = new BlkDriverFactory().create(connect(sblk), Map.of("queue.size", 64))) {
                assertThat(blk).isInstanceOf(VirtioBlkDriver.class);
                assertThat(blk.api(BlockDevice.class)).isSameAs(blk);
                assertThat(blk.api(BlockQueues.class)).isSameAs(blk);
                assertThat(blk.api(VirtioBlkDriver.class)).as("no implementation class handed out").isNull();
                assertThat(blk.api(NetDevice.class)).isNull();
                assertThat(blk.api(Object.class)).isNull();
                Object none = blk.api(null);
                assertThat(none).isNull();
                assertThat(blk.device()).isSameAs(((VirtioBlkDriver) blk).frontend());
                assertThat(blk.summary()).startsWith("blk 1 MiB, block 512, 1 queue(s) of 64").contains("fb.sock");
            }
        }
    }
}
