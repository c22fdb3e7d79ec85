package com.vhost.devices.blk.driver;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.vhost.api.VhostBackend;
import com.vhost.api.VhostException;
import com.vhost.api.VhostOps;
import com.vhost.api.VhostTarget;
import com.vhost.api.VirtioDeviceException;
import com.vhost.api.blk.BlockCompletion;
import com.vhost.api.blk.BlockDevice;
import com.vhost.api.blk.BlockDeviceInfo;
import com.vhost.api.blk.VirtioBlk;
import com.vhost.user.VhostUserOps;
import com.vhost.user.interop.Peers;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The virtio-blk driver against a real, independently written vhost-user-blk back-end:
 * qemu-storage-daemon (QEMU 7.2), started as a child process per test on a temp raw image or a
 * null-co disk. The written image is checked afterwards with plain Java file reads.
 *
 * <p>Skipped when {@code qemu-storage-daemon} is missing (a failure when {@code CI=true}).
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class VhostUserBlkQsdTest {
    private static final long IMAGE_BYTES = 64L << 20;

    private Path dir;
    private Peers.Qsd qsd;

    private VhostOps ops;

    @BeforeEach
    void setUp() throws IOException {
        ops = vhostUserOps();
        dir = Files.createTempDirectory("vub");
    }

    @AfterEach
    void tearDown() throws Exception {
        stopQsd();
        if (dir != null) {
            try (var s = Files.list(dir)) {
                for (Path p : s.toList()) {
                    Files.deleteIfExists(p);
                }
            }
            Files.deleteIfExists(dir);
        }
    }

    private void stopQsd() throws Exception {
        if (qsd != null) {
            qsd.close(); // SIGTERM to this PID, SIGKILL after 5 s
            qsd = null;
        }
    }

    private static VhostOps vhostUserOps() {
        return new VhostUserOps();
    }

    /** Starts qemu-storage-daemon exporting {@code node} as vhost-user-blk with 2 queues. */
    private Path startQsd(List<String> blockdevs, String node) throws Exception {
        qsd = Peers.Qsd.start(dir, blockdevs, node, 2);
        return qsd.socket();
    }

    private VirtioBlkDriver open(Path sock, BlkDriverOptions options) throws VhostException {
        VhostBackend backend = ops.open(VhostTarget.of(sock.toString()));
        return BlockDevices.open(backend, options);
    }

    private Path rawImage() throws IOException {
        Path img = dir.resolve("disk.raw");
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
            f.setLength(IMAGE_BYTES);
        }
        return img;
    }

    @Test
    void randomBlocksWrittenThroughTheDriverAreInTheImage() throws Exception {
        Path img = rawImage();
        Path sock = startQsd(List.of("driver=file,node-name=file0,filename=" + img,
                "driver=raw,node-name=fmt0,file=file0"), "fmt0");
        Random rnd = new Random(42);
        Map<Long, byte[]> written = new HashMap<>();
        try (VirtioBlkDriver dev = open(sock, new BlkDriverOptions(2, 128, false, 16L << 20))) {
            BlockDeviceInfo info = dev.info();
            assertThat(info.capacityBytes()).isEqualTo(IMAGE_BYTES);
            assertThat(info.blockSize()).isEqualTo(512);
            assertThat(info.numQueues()).isEqualTo(2);
            assertThat(info.readOnly()).isFalse();
            assertThat(info.backend()).contains(sock.toString());

            List<CompletableFuture<Void>> fs = new ArrayList<>();
            // Zero-copy buffers from the shared pool on queue 0, bounced heap arrays on queue 1.
            for (int i = 0; i < 64; i++) {
                int blocks = 1 + rnd.nextInt(16);
                // Disjoint 8 KiB slots in the lower half; the large write below goes to the upper half.
                long off = (long) rnd.nextInt((int) (IMAGE_BYTES / 2 / 8192)) * 8192;
                if (written.containsKey(off)) {
                    continue;
                }
                byte[] data = new byte[blocks * 512];
                rnd.nextBytes(data);
                written.put(off, data);
                MemorySegment buf;
                int queue = i % 2;
                if (queue == 0) {
                    buf = dev.allocateBuffer(data.length);
                    buf.copyFrom(MemorySegment.ofArray(data));
                } else {
                    buf = MemorySegment.ofArray(data.clone());
                }
                fs.add(dev.write(queue, off, buf));
            }
            CompletableFuture.allOf(fs.toArray(CompletableFuture[]::new)).get(30, TimeUnit.SECONDS);
            dev.flush().get(10, TimeUnit.SECONDS);

            for (Map.Entry<Long, byte[]> e : written.entrySet()) {
                byte[] back = new byte[e.getValue().length];
                dev.read(1, e.getKey(), MemorySegment.ofArray(back)).get(10, TimeUnit.SECONDS);
                assertThat(back).as("block at %d", e.getKey()).isEqualTo(e.getValue());
            }
            // A large write is split into several requests and lands whole.
            byte[] big = new byte[(int) Math.min(6L << 20, IMAGE_BYTES / 4)];
            rnd.nextBytes(big);
            long bigOff = IMAGE_BYTES - big.length;
            MemorySegment bigBuf = dev.allocateBuffer(big.length);
            bigBuf.copyFrom(MemorySegment.ofArray(big));
            dev.write(0, bigOff, bigBuf).get(30, TimeUnit.SECONDS);
            written.put(bigOff, big);

            assertThat(dev.getId(0).get(10, TimeUnit.SECONDS)).isNotNull();
        }
        stopQsd();
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "r")) {
            for (Map.Entry<Long, byte[]> e : written.entrySet()) {
                byte[] onDisk = new byte[e.getValue().length];
                f.seek(e.getKey());
                f.readFully(onDisk);
                assertThat(onDisk).as("image bytes at %d", e.getKey()).isEqualTo(e.getValue());
            }
        }
    }

    /**
     * Inflight I/O tracking against qemu-storage-daemon 7.2: it does not offer INFLIGHT_SHMFD
     * (protocol features 0x8f2b), so the front-end never sends GET/SET_INFLIGHT_FD to it (its
     * libvhost-user would accept them only once negotiated) and the driver resubmits itself.
     */
    @Test
    void qsdOffersNoInflightTrackingSoTheFrontEndNeverAsksForIt() throws Exception {
        Path sock = startQsd(List.of("driver=null-co,node-name=n0,read-zeroes=on,size=" + IMAGE_BYTES), "n0");
        com.vhost.spi.vhost.GenericVhostDevice v = new com.vhost.spi.vhost.GenericVhostDevice(
                ops.open(VhostTarget.of(sock.toString())), 1);
        try (com.vhost.spi.vhost.InflightTracking t = new com.vhost.spi.vhost.InflightTracking()) {
            assertThat(com.vhost.api.user.VhostUserProtocolFeature.INFLIGHT_SHMFD.in(v.protocolFeatures())).isFalse();
            assertThat(com.vhost.spi.vhost.InflightTracking.offered(v)).isFalse();
            assertThat(t.attach(v, 1, 128)).isFalse();
            assertThat(t.active()).isFalse();
            assertThatThrownBy(() -> ((com.vhost.api.user.VhostUserBackend) v.backend()).getInflightFd(1, 128))
                    .isInstanceOf(VhostException.class).hasMessageContaining("INFLIGHT_SHMFD");
            // the session goes on: the peer still answers
            assertThat(v.backend().isConnected()).isTrue();
        } finally {
            v.close();
        }
    }

    @Test
    void argumentsOutsideTheDeviceLimitsAreRejectedBeforeQueueing() throws Exception {
        Path img = rawImage();
        Path sock = startQsd(List.of("driver=file,node-name=file0,filename=" + img,
                "driver=raw,node-name=fmt0,file=file0"), "fmt0");
        try (VirtioBlkDriver dev = open(sock, BlkDriverOptions.defaults())) {
            MemorySegment buf = dev.allocateBuffer(4096);
            assertThatThrownBy(() -> dev.read(0, 100, buf).get()).isInstanceOf(ExecutionException.class)
                    .cause().isInstanceOf(VirtioDeviceException.class).hasMessageContaining("offset 100")
                    .hasMessageContaining("block size 512");
            assertThatThrownBy(() -> dev.write(0, IMAGE_BYTES - 512, buf).get()).cause()
                    .isInstanceOf(VirtioDeviceException.class).hasMessageContaining("capacity of " + IMAGE_BYTES);
            assertThatThrownBy(() -> dev.read(5, 0, buf).get()).cause()
                    .isInstanceOf(VirtioDeviceException.class).hasMessageContaining("queue 5");
            assertThat(dev.info().numQueues()).isEqualTo(1);
            dev.discard(0, 0, 1 << 20).get(10, TimeUnit.SECONDS);
            dev.writeZeroes(0, 1 << 20, 1 << 20, false).get(10, TimeUnit.SECONDS);
        }
    }

    @Test
    void lowLevelQueueOnNullDiskCompletesEveryTag() throws Exception {
        Path sock = startQsd(List.of("driver=null-co,node-name=n0,read-zeroes=on,size=" + IMAGE_BYTES), "n0");
        try (VirtioBlkDriver dev = open(sock, new BlkDriverOptions(1, 64, false, 1L << 20))) {
            BlkRequestQueue q = dev.queue(0);
            MemorySegment[] bufs = new MemorySegment[16];
            for (int i = 0; i < bufs.length; i++) {
                bufs[i] = dev.allocateBuffer(4096);
                bufs[i].fill((byte) 0x5a);
            }
            long[] completed = new long[1];
            AtomicInteger bad = new AtomicInteger();
            BlockCompletion h = (tag, status) -> {
                completed[0] += tag;
                if (status != VirtioBlk.S_OK) {
                    bad.incrementAndGet();
                }
            };
            long expected = 0;
            int submitted = 0;
            int done = 0;
            for (int round = 0; round < 20; round++) {
                for (int i = 0; i < bufs.length; i++) {
                    long tag = round * 100L + i;
                    int type = i % 2 == 0 ? VirtioBlk.T_IN : VirtioBlk.T_OUT;
                    assertThat(q.submit(type, (long) i * 4096, bufs[i], tag)).isTrue();
                    expected += tag;
                    submitted++;
                }
                q.kick();
                while (done < submitted) {
                    int n = q.await(h, TimeUnit.SECONDS.toNanos(10));
                    assertThat(n).as("completions within 10 s").isPositive();
                    done += n;
                }
            }
            assertThat(completed[0]).isEqualTo(expected);
            assertThat(bad.get()).isZero();
            // null-co reads zeros.
            assertThat(bufs[0].get(ValueLayout.JAVA_BYTE, 0)).isZero();
            assertThatThrownBy(() -> q.submit(VirtioBlk.T_IN, 0, MemorySegment.ofArray(new byte[512]), 0))
                    .isInstanceOf(VirtioDeviceException.class).hasMessageContaining("not from allocateBuffer");
            assertThatThrownBy(() -> dev.read(0, 0, bufs[0]).get()).cause()
                    .isInstanceOf(VirtioDeviceException.class).hasMessageContaining("low-level mode");
        }
    }

    @Test
    void pollModeReadsAndWrites() throws Exception {
        Path img = rawImage();
        Path sock = startQsd(List.of("driver=file,node-name=file0,filename=" + img,
                "driver=raw,node-name=fmt0,file=file0"), "fmt0");
        try (VirtioBlkDriver dev = open(sock, new BlkDriverOptions(1, 32, true, 1L << 20));
                Arena arena = Arena.ofShared(); Arena confined = Arena.ofConfined()) {
            MemorySegment src = arena.allocate(8192);
            for (int i = 0; i < 8192; i++) {
                src.set(ValueLayout.JAVA_BYTE, i, (byte) i);
            }
            dev.write(0, 8192, src).get(10, TimeUnit.SECONDS);
            MemorySegment dst = arena.allocate(8192);
            dev.read(0, 8192, dst).get(10, TimeUnit.SECONDS);
            assertThat(dst.mismatch(src)).isEqualTo(-1);
            assertThatThrownBy(() -> dev.read(0, 0, confined.allocate(512)).get()).cause()
                    .isInstanceOf(VirtioDeviceException.class).hasMessageContaining("confined");
        }
    }

    @Test
    void killedBackendFailsOutstandingRequestsAndCloseIsBounded() throws Exception {
        Path sock = startQsd(List.of("driver=null-co,node-name=n0,read-zeroes=on,size=" + IMAGE_BYTES), "n0");
        VirtioBlkDriver dev = open(sock, BlkDriverOptions.defaults());
        dev.setRequestTimeoutNanos(TimeUnit.SECONDS.toNanos(1));
        dev.read(0, 0, dev.allocateBuffer(4096)).get(10, TimeUnit.SECONDS);
        stopQsd();
        List<CompletableFuture<Void>> fs = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            fs.add(dev.read(0, i * 4096L, dev.allocateBuffer(4096)));
        }
        // The dead daemon is noticed without closing: no completion within the request timeout.
        assertThatThrownBy(() -> fs.get(0).get(10, TimeUnit.SECONDS)).isInstanceOf(ExecutionException.class)
                .cause().isInstanceOf(VhostException.class);
        long t0 = System.nanoTime();
        dev.close();
        assertThat(TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - t0)).isLessThan(15);
        for (CompletableFuture<Void> f : fs) {
            assertThat(f).isDone();
            assertThatThrownBy(() -> f.get()).isInstanceOf(ExecutionException.class)
                    .cause().isInstanceOf(VhostException.class);
        }
    }

    @Test
    void sleepSnapshotWakeKeepsTheRingsGoingOnTheRealBackend() throws Exception {
        Path img = rawImage();
        Path sock = startQsd(List.of("driver=file,node-name=file0,filename=" + img,
                "driver=raw,node-name=fmt0,file=file0"), "fmt0");
        try (VirtioBlkDriver dev = open(sock, BlkDriverOptions.defaults())) {
            MemorySegment buf = dev.allocateBuffer(4096);
            for (int i = 0; i < 5; i++) {
                buf.fill((byte) i);
                dev.write(0, i * 4096L, buf).get(10, TimeUnit.SECONDS);
            }
            VirtioBlkFrontend fe = dev.frontend();
            List<com.vhost.api.virtio.VirtqueueConfig> slept = fe.sleep();
            assertThat(slept.get(0).nextAvail()).as("GET_VRING_BASE after 5 requests").isEqualTo(5);
            byte[] snap = fe.snapshot();
            fe.restore(snap);
            assertThat(fe.snapshot()).isEqualTo(snap);
            fe.wake(slept);
            for (int i = 5; i < 10; i++) {
                buf.fill((byte) i);
                dev.write(0, i * 4096L, buf).get(10, TimeUnit.SECONDS);
            }
            for (int i = 0; i < 10; i++) {
                dev.read(0, i * 4096L, buf).get(10, TimeUnit.SECONDS);
                assertThat(buf.get(ValueLayout.JAVA_BYTE, 4095)).isEqualTo((byte) i);
            }
        }
    }

    /** The BlockDevice interface alone is enough for an application. */
    @Test
    void usableThroughTheApiInterface() throws Exception {
        Path sock = startQsd(List.of("driver=null-co,node-name=n0,read-zeroes=on,size=" + IMAGE_BYTES), "n0");
        try (BlockDevice dev = open(sock, BlkDriverOptions.defaults())) {
            MemorySegment b = dev.allocateBuffer(512);
            dev.write(0, b).get(10, TimeUnit.SECONDS);
            dev.read(512, b).get(10, TimeUnit.SECONDS);
            assertThat(dev.info().capacityBytes()).isEqualTo(IMAGE_BYTES);
        }
    }
}
