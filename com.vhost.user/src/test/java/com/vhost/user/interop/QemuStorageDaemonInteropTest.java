package com.vhost.user.interop;

import static org.assertj.core.api.Assertions.assertThat;

import com.vhost.api.MemoryRegion;
import com.vhost.api.user.VhostUserBackend;
import com.vhost.api.VhostTarget;
import com.vhost.api.user.VhostUserProtocolFeature;
import com.vhost.api.VringAddr;
import com.vhost.api.registry.DeviceConfigKeys;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.spi.nativeio.EventFd;
import com.vhost.spi.nativeio.SharedMemory;
import com.vhost.user.VhostUserOps;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The front-end against an independently written back-end: QEMU's qemu-storage-daemon exporting a
 * raw file as vhost-user-blk (see /work/shared/reference/PEERS.md). Negotiates like QEMU's
 * vhost_dev_start, then reads sector 1 through a split ring laid out by a minimal test-only
 * driver. Skipped when qemu-storage-daemon is not installed.
 */
@Timeout(60)
class QemuStorageDaemonInteropTest {
    private static final ValueLayout.OfShort LE16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt LE32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final VarHandle LE16_ACQUIRE = ValueLayout.JAVA_SHORT.withOrder(ByteOrder.LITTLE_ENDIAN).varHandle();
    private static final ValueLayout.OfLong LE64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    @TempDir
    Path dir;

    @Test
    void negotiatesReadsConfigAndServesOneReadThroughARing() throws Exception {
        Path disk = dir.resolve("disk.raw");
        byte[] image = new byte[1 << 20];
        for (int i = 0; i < 512; i++) {
            image[512 + i] = (byte) (i * 7 + 1); // sector 1 pattern
        }
        Files.write(disk, image);
        try (Peers.Qsd qsd = Peers.Qsd.raw(dir, disk, 1);
                VhostUserBackend fe = new VhostUserOps().open(new VhostTarget(qsd.socket().toString(), Map.of(DeviceConfigKeys.OPTION_CONNECT_TIMEOUT_MS, "10000")));
                SharedMemory mem = SharedMemory.create("guest", 1 << 20);
                EventFd kick = EventFd.create(); EventFd call = EventFd.create()) {
            long features = fe.getFeatures();
            assertThat(VirtioFeatures.has(features, VirtioFeatures.F_VERSION_1)).isTrue();
            assertThat(features & (1L << 30)).isNotZero();
            fe.setOwner();
            long offered = fe.getProtocolFeatures();
            long wanted = VhostUserProtocolFeature.MQ.mask() | VhostUserProtocolFeature.REPLY_ACK.mask()
                    | VhostUserProtocolFeature.CONFIG.mask() | VhostUserProtocolFeature.CONFIGURE_MEM_SLOTS.mask()
                    | VhostUserProtocolFeature.BACKEND_REQ.mask();
            assertThat(offered & wanted).isEqualTo(wanted);
            fe.setProtocolFeatures(wanted);
            assertThat(fe.getQueueNum()).isEqualTo(1);
            assertThat(fe.getMaxMemSlots()).isEqualTo(32);
            byte[] config = fe.getConfig(0, 60);
            assertThat(MemorySegment.ofArray(config).get(LE64, 0)).isEqualTo(2048L); // capacity in 512-byte sectors
            fe.setFeatures(VirtioFeatures.bit(VirtioFeatures.F_VERSION_1));

            MemorySegment g = mem.segment();
            long ua = mem.address();
            fe.setMemTable(List.of(new MemoryRegion(0, 1 << 20, ua, 0, mem.fd())));
            fe.setVringNum(0, 8);
            fe.setVringBase(0, 0);
            fe.setVringAddr(new VringAddr(0, 0, ua, ua + 0x2000, ua + 0x1000, 0));
            fe.setVringCall(0, call.fd());
            fe.setVringKick(0, kick.fd());
            fe.setVringEnable(0, true);

            // virtio-blk IN request for sector 1: header (device reads), data + status (device writes)
            g.set(LE32, 0x3000, 0); // VIRTIO_BLK_T_IN
            g.set(LE64, 0x3008, 1L);
            g.set(ValueLayout.JAVA_BYTE, 0x5000, (byte) 0xFF);
            descriptor(g, 0, 0x3000, 16, 1, 1);
            descriptor(g, 1, 0x4000, 512, 1 | 2, 2);
            descriptor(g, 2, 0x5000, 1, 2, 0);
            g.set(LE16, 0x1000 + 4, (short) 0); // avail.ring[0] = head 0
            VarHandle.releaseFence();
            g.set(LE16, 0x1000 + 2, (short) 1); // avail.idx = 1
            VarHandle.fullFence();
            kick.signal();

            // libvhost-user signals a call fd as soon as it receives it, so a signal alone is not
            // the completion: wait (bounded) until used.idx moves
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            short usedIdx;
            while (true) {
                usedIdx = (short) LE16_ACQUIRE.getAcquire(g, 0x2000L + 2);
                long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
                if (usedIdx == 1 || left <= 0) {
                    break;
                }
                call.await((int) Math.min(left, 1000));
            }
            assertThat(usedIdx).isEqualTo((short) 1); // used.idx
            assertThat(g.get(LE32, 0x2000 + 4)).isZero(); // used.ring[0].id = head 0
            assertThat(g.get(ValueLayout.JAVA_BYTE, 0x5000)).isZero(); // VIRTIO_BLK_S_OK
            byte[] data = g.asSlice(0x4000, 512).toArray(ValueLayout.JAVA_BYTE);
            for (int i = 0; i < 512; i++) {
                assertThat(data[i]).as("byte %d of sector 1", i).isEqualTo((byte) (i * 7 + 1));
            }
            assertThat(fe.getVringBase(0)).isEqualTo(1);
        }
    }

    private static void descriptor(MemorySegment g, int i, long addr, int len, int flags, int next) {
        long d = 16L * i;
        g.set(LE64, d, addr);
        g.set(LE32, d + 8, len);
        g.set(LE16, d + 12, (short) flags);
        g.set(LE16, d + 14, (short) next);
    }
}
