package com.vhost.devices.blk.driver;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.vhost.api.VhostDisconnectedException;
import com.vhost.api.VhostException;
import com.vhost.api.VhostFeatureException;
import com.vhost.api.VirtioDeviceException;
import com.vhost.api.blk.BlockCompletion;
import com.vhost.api.blk.BlockDevice;
import com.vhost.api.blk.VirtioBlk;
import com.vhost.api.registry.VirtioDriver;
import com.vhost.api.virtio.VirtioDeviceState;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.api.virtio.VirtqueueConfig;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The driver against {@link EmulatedBlkBackend}: a device emulated in test code over a second mapping of the memfd. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class VirtioBlkDriverTest {
    static final long VERSION_1 = VirtioFeatures.bit(VirtioFeatures.F_VERSION_1);
    static final long PROTO = 1L << 30;
    static final long BASE_FEATURES = VERSION_1 | PROTO | VirtioFeatures.bit(VirtioBlk.F_SIZE_MAX) | VirtioFeatures.bit(VirtioBlk.F_SEG_MAX)
            | VirtioFeatures.bit(VirtioBlk.F_BLK_SIZE) | VirtioFeatures.bit(VirtioBlk.F_FLUSH) | VirtioFeatures.bit(VirtioBlk.F_MQ)
            | VirtioFeatures.bit(VirtioBlk.F_DISCARD) | VirtioFeatures.bit(VirtioBlk.F_WRITE_ZEROES)
            | VirtioFeatures.bit(VirtioFeatures.F_EVENT_IDX) | VirtioFeatures.bit(VirtioFeatures.F_INDIRECT_DESC)
            | VirtioFeatures.bit(VirtioBlk.F_CONFIG_WCE) | (1L << 24);
    static final long CAPACITY = 8L << 20;

    private final List<EmulatedBlkBackend> backends = new ArrayList<>();

    @AfterEach
    void release() {
        backends.forEach(EmulatedBlkBackend::close);
        backends.forEach(EmulatedBlkBackend::release);
    }

    private EmulatedBlkBackend backend(long features, int sizeMax, int segMax) {
        EmulatedBlkBackend b = new EmulatedBlkBackend(features, CAPACITY, sizeMax, segMax, 4);
        backends.add(b);
        return b;
    }

    private static BlkDriverOptions opts(int queues, boolean poll) {
        return new BlkDriverOptions(queues, 64, poll, 1L << 20);
    }

    @Test
    void negotiatesTheIntersectionAndReadsConfig() throws Exception {
        EmulatedBlkBackend b = backend(BASE_FEATURES, 65536, 32);
        try (VirtioBlkDriver dev = BlockDevices.open(b, opts(2, false))) {
            long acked = dev.info().features();
            assertThat(acked & ~VirtioBlkFrontend.DRIVER_FEATURES).as("only driver-supported bits").isZero();
            assertThat(VirtioFeatures.has(acked, VirtioBlk.F_CONFIG_WCE)).isFalse();
            assertThat(VirtioFeatures.has(acked, 24)).as("NOTIFY_ON_EMPTY not acked").isFalse();
            assertThat(acked & PROTO).isZero();
            assertThat(dev.info().capacityBytes()).isEqualTo(CAPACITY);
            assertThat(dev.info().numQueues()).isEqualTo(2);
            assertThat(dev.info().segMax()).isEqualTo(32);
            assertThat(dev.info().sizeMax()).isEqualTo(65536);
            assertThat(b.log).contains("SET_FEATURES 0x" + Long.toHexString(acked | PROTO));
            assertThat(dev.frontend().state()).isEqualTo(VirtioDeviceState.ACTIVE);
            assertThat(dev.getId(1).get(5, TimeUnit.SECONDS)).isEqualTo("emulated-blk");
        }
        assertThat(b.log).contains("GET_VRING_BASE 0", "GET_VRING_BASE 1", "CLOSE");
    }

    @Test
    void backendWithoutVersion1IsRefusedAndClosed() {
        EmulatedBlkBackend b = backend(BASE_FEATURES & ~VERSION_1, 0, 0);
        assertThatThrownBy(() -> BlockDevices.open(b, opts(1, false))).isInstanceOf(VhostFeatureException.class)
                .hasMessageContaining("VERSION_1");
        assertThat(b.isConnected()).isFalse();
    }

    @Test
    void writesAndReadsRoundTripOnEveryQueueInBothModes() throws Exception {
        for (boolean poll : new boolean[] {false, true}) {
            EmulatedBlkBackend b = backend(BASE_FEATURES, 65536, 32);
            Random rnd = new Random(poll ? 1 : 2);
            try (VirtioBlkDriver dev = BlockDevices.open(b, opts(2, poll))) {
                List<CompletableFuture<Void>> fs = new ArrayList<>();
                List<byte[]> data = new ArrayList<>();
                for (int i = 0; i < 40; i++) {
                    byte[] d = new byte[4096];
                    rnd.nextBytes(d);
                    data.add(d);
                    MemorySegment src = i % 2 == 0 ? MemorySegment.ofArray(d.clone()) : dev.allocateBuffer(4096).copyFrom(MemorySegment.ofArray(d));
                    fs.add(dev.write(i % 2, i * 8192L, src));
                }
                CompletableFuture.allOf(fs.toArray(CompletableFuture[]::new)).get(10, TimeUnit.SECONDS);
                dev.flush(1).get(5, TimeUnit.SECONDS);
                for (int i = 0; i < 40; i++) {
                    byte[] back = new byte[4096];
                    dev.read(1 - i % 2, i * 8192L, MemorySegment.ofArray(back)).get(5, TimeUnit.SECONDS);
                    assertThat(back).isEqualTo(data.get(i));
                    assertThat(b.disk.asSlice(i * 8192L, 4096).toArray(ValueLayout.JAVA_BYTE)).isEqualTo(data.get(i));
                }
                assertThat(b.log).contains("flush");
                assertThat(b.indirectChains.get()).as("indirect descriptors used").isPositive();
            }
        }
    }

    @Test
    void largeIoIsSplitWithinSegMaxAndSizeMax() throws Exception {
        EmulatedBlkBackend b = backend(BASE_FEATURES, 4096, 4);
        try (VirtioBlkDriver dev = BlockDevices.open(b, opts(1, false))) {
            assertThat(dev.maxRequestBytes()).isEqualTo(16384);
            byte[] d = new byte[100 * 1024];
            new Random(3).nextBytes(d);
            dev.write(0, 4096, MemorySegment.ofArray(d)).get(10, TimeUnit.SECONDS);
            assertThat(b.requests.get()).isEqualTo(7); // ceil(100 KiB / 16 KiB)
            assertThat(b.maxChain.get()).isEqualTo(4 + 2);
            byte[] back = new byte[d.length];
            dev.read(0, 4096, MemorySegment.ofArray(back)).get(10, TimeUnit.SECONDS);
            assertThat(back).isEqualTo(d);
        }
    }

    @Test
    void argumentChecksNameTheNumbers() throws Exception {
        EmulatedBlkBackend b = backend(BASE_FEATURES, 65536, 32);
        try (VirtioBlkDriver dev = BlockDevices.open(b, opts(1, false))) {
            MemorySegment buf = dev.allocateBuffer(1024);
            assertThatThrownBy(() -> dev.read(0, 512 + 1, buf).get()).cause().isInstanceOf(VirtioDeviceException.class)
                    .hasMessageContaining("VIRTIO_BLK_T_IN at offset 513, length 1024").hasMessageContaining("block size 512");
            assertThatThrownBy(() -> dev.write(0, 0, MemorySegment.ofArray(new byte[700])).get()).cause()
                    .hasMessageContaining("length 700");
            assertThatThrownBy(() -> dev.write(0, CAPACITY - 512, buf).get()).cause()
                    .hasMessageContaining("offset " + (CAPACITY - 512)).hasMessageContaining("capacity of " + CAPACITY);
            assertThatThrownBy(() -> dev.read(0, -512, buf).get()).cause().isInstanceOf(VirtioDeviceException.class);
            assertThatThrownBy(() -> dev.read(3, 0, buf).get()).cause().hasMessageContaining("queue 3 outside 0..0");
            assertThatThrownBy(() -> dev.allocateBuffer(2L << 20)).isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("buffer pool exhausted");
            assertThat(b.requests.get()).as("nothing reached the device").isZero();
        }
    }

    @Test
    void readOnlyDeviceRejectsWrites() throws Exception {
        EmulatedBlkBackend b = backend(BASE_FEATURES | VirtioFeatures.bit(VirtioBlk.F_RO), 65536, 32);
        try (VirtioBlkDriver dev = BlockDevices.open(b, opts(1, false))) {
            assertThat(dev.info().readOnly()).isTrue();
            MemorySegment buf = dev.allocateBuffer(512);
            dev.read(0, 0, buf).get(5, TimeUnit.SECONDS);
            assertThatThrownBy(() -> dev.write(0, 0, buf).get()).cause().isInstanceOf(VirtioDeviceException.class)
                    .hasMessageContaining("read-only");
            assertThatThrownBy(() -> dev.discard(0, 0, 512).get()).cause().hasMessageContaining("read-only");
        }
    }

    @Test
    void deviceStatusErrorsFailTheFutureWithTypeOffsetAndStatus() throws Exception {
        EmulatedBlkBackend b = backend(BASE_FEATURES, 65536, 32);
        b.failSector = 16;
        try (VirtioBlkDriver dev = BlockDevices.open(b, opts(1, false))) {
            MemorySegment buf = dev.allocateBuffer(512);
            assertThatThrownBy(() -> dev.read(0, 16 * 512, buf).get(5, TimeUnit.SECONDS)).isInstanceOf(ExecutionException.class)
                    .cause().isInstanceOf(VirtioDeviceException.class)
                    .hasMessageContaining("VIRTIO_BLK_T_IN at offset 8192").hasMessageContaining("IOERR (1)");
            dev.read(0, 0, buf).get(5, TimeUnit.SECONDS);
            assertThat(dev.counters().get("errors")).as("the IOERR answer is counted").isGreaterThanOrEqualTo(1L);
        }
    }

    @Test
    void discardAndWriteZeroesCarryTheirSegment() throws Exception {
        EmulatedBlkBackend b = backend(BASE_FEATURES, 65536, 32);
        try (VirtioBlkDriver dev = BlockDevices.open(b, opts(1, false))) {
            b.disk.asSlice(0, 65536).fill((byte) 7);
            dev.discard(0, 4096, 4096).get(5, TimeUnit.SECONDS);
            dev.writeZeroes(0, 16384, 8192, true).get(5, TimeUnit.SECONDS);
            assertThat(b.log).contains("discard 8 8 flags 0", "write-zeroes 32 16 flags 1");
            assertThat(b.disk.get(ValueLayout.JAVA_BYTE, 4096)).isZero();
            assertThat(b.disk.get(ValueLayout.JAVA_BYTE, 0)).isEqualTo((byte) 7);
        }
        EmulatedBlkBackend plain = backend(BASE_FEATURES & ~VirtioFeatures.bit(VirtioBlk.F_DISCARD), 65536, 32);
        try (VirtioBlkDriver dev = BlockDevices.open(plain, opts(1, false))) {
            assertThatThrownBy(() -> dev.discard(0, 0, 512).get()).cause().isInstanceOf(VirtioDeviceException.class)
                    .hasMessageContaining("not negotiated");
        }
    }

    @Test
    void lostBackendFailsOutstandingFuturesWithoutHanging() throws Exception {
        EmulatedBlkBackend b = backend(BASE_FEATURES, 65536, 32);
        VirtioBlkDriver dev = BlockDevices.open(b, opts(1, false));
        try {
            b.mute = true;
            CompletableFuture<Void> f = dev.read(0, 0, dev.allocateBuffer(512));
            b.die();
            assertThatThrownBy(() -> f.get(5, TimeUnit.SECONDS)).isInstanceOf(ExecutionException.class)
                    .cause().isInstanceOf(VhostDisconnectedException.class).hasMessageContaining("lost");
            assertThatThrownBy(() -> dev.read(0, 0, dev.allocateBuffer(512)).get(1, TimeUnit.SECONDS)).cause()
                    .isInstanceOf(VhostDisconnectedException.class);
        } finally {
            long t0 = System.nanoTime();
            dev.close();
            assertThat(TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - t0)).isLessThan(8);
        }
    }

    @Test
    void silentBackendTimesOutOutstandingRequests() throws Exception {
        for (boolean poll : new boolean[] {false, true}) {
            EmulatedBlkBackend b = backend(BASE_FEATURES, 65536, 32);
            try (VirtioBlkDriver dev = BlockDevices.open(b, opts(1, poll))) {
                dev.setRequestTimeoutNanos(300_000_000L);
                dev.read(0, 0, dev.allocateBuffer(512)).get(5, TimeUnit.SECONDS);
                b.mute = true; // still connected, never answers
                CompletableFuture<Void> f = dev.read(0, 0, dev.allocateBuffer(512));
                assertThatThrownBy(() -> f.get(5, TimeUnit.SECONDS)).isInstanceOf(ExecutionException.class)
                        .cause().isInstanceOf(com.vhost.api.VhostTimeoutException.class)
                        .hasMessageContaining("no completion").hasMessageContaining("1 requests outstanding");
            }
        }
    }

    @Test
    void closeWithHungBackendIsBoundedAndFailsFutures() throws Exception {
        EmulatedBlkBackend b = backend(BASE_FEATURES, 65536, 32);
        VirtioBlkDriver dev = BlockDevices.open(b, opts(1, false));
        b.mute = true;
        CompletableFuture<Void> f = dev.write(0, 0, dev.allocateBuffer(512));
        long t0 = System.nanoTime();
        dev.close();
        assertThat(TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - t0)).isLessThan(8);
        assertThat(f).isCompletedExceptionally();
        assertThatThrownBy(f::get).cause().isInstanceOf(VhostException.class).hasMessageContaining("closed with 1 requests");
    }

    @Test
    void lowLevelQueueSubmitsPollsAndAwaitsWithoutFutures() throws Exception {
        EmulatedBlkBackend b = backend(BASE_FEATURES, 65536, 32);
        try (VirtioBlkDriver dev = BlockDevices.open(b, new BlkDriverOptions(1, 8, false, 1L << 20))) {
            BlkRequestQueue q = dev.queue(0);
            assertThatThrownBy(() -> dev.queue(0)).isInstanceOf(IllegalStateException.class);
            MemorySegment buf = dev.allocateBuffer(4096);
            buf.fill((byte) 9);
            long[] sum = new long[2];
            BlockCompletion h = (tag, status) -> {
                sum[0] += tag;
                sum[1] += status;
            };
            int submitted = 0;
            while (q.submit(VirtioBlk.T_OUT, submitted * 4096L, buf, submitted + 1)) {
                submitted++;
            }
            assertThat(submitted).as("queue of 8 slots").isEqualTo(8);
            q.kick();
            int done = 0;
            while (done < submitted) {
                int n = q.await(h, TimeUnit.SECONDS.toNanos(5));
                assertThat(n).isPositive();
                done += n;
            }
            assertThat(sum[0]).isEqualTo(36);
            assertThat(sum[1]).isZero();
            assertThat(b.disk.get(ValueLayout.JAVA_BYTE, 7 * 4096)).isEqualTo((byte) 9);
            assertThat(q.submit(VirtioBlk.T_FLUSH, 0, null, 99)).isTrue();
            q.kick();
            assertThat(q.await(h, TimeUnit.SECONDS.toNanos(5))).isEqualTo(1);
            assertThatThrownBy(() -> q.submit(VirtioBlk.T_IN, 0, dev.allocateBuffer(8L << 10).asSlice(0, 1000), 0))
                    .isInstanceOf(VirtioDeviceException.class).hasMessageContaining("length 1000");
            assertThatThrownBy(() -> q.submit(VirtioBlk.T_DISCARD, 0, buf, 0)).isInstanceOf(VirtioDeviceException.class);
            assertThat(q.await(h, 1_000_000)).as("timeout with nothing in flight").isZero();
        }
    }

    /**
     * The driver's own per-request code (submit, poll/await in poll mode) allocates nothing. Native
     * calls are left out of the measurement (the kick's eventfd write; in eventfd mode also the
     * call eventfd's poll and read): their FFM downcalls allocate about 40 bytes per call until C2
     * compiles them (~0 after some 10 000 calls, measured with a longer run), which is more warm-up
     * than a unit test should spend.
     */
    @Test
    void lowLevelPathAllocatesNothingPerRequest() throws Exception {
        var mx = (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
        for (boolean poll : new boolean[] {true}) {
            EmulatedBlkBackend b = backend(BASE_FEATURES, 65536, 32);
            try (VirtioBlkDriver dev = BlockDevices.open(b, new BlkDriverOptions(1, 16, poll, 1L << 20))) {
                BlkRequestQueue q = dev.queue(0);
                MemorySegment[] bufs = new MemorySegment[8];
                for (int i = 0; i < bufs.length; i++) {
                    bufs[i] = dev.allocateBuffer(4096);
                }
                long[] count = new long[1];
                BlockCompletion h = (tag, status) -> count[0] += status == 0 ? 1 : 1000;
                int allocatingRounds = 0;
                for (int r = 0; r < 500; r++) {
                    long t0 = mx.getCurrentThreadAllocatedBytes();
                    for (int i = 0; i < bufs.length; i++) {
                        q.submit(i % 2 == 0 ? VirtioBlk.T_OUT : VirtioBlk.T_IN, i * 4096L, bufs[i], i);
                    }
                    long t1 = mx.getCurrentThreadAllocatedBytes();
                    q.kick();
                    long t2 = mx.getCurrentThreadAllocatedBytes();
                    int done = 0;
                    while (done < bufs.length) {
                        done += q.await(h, 5_000_000_000L);
                    }
                    long t3 = mx.getCurrentThreadAllocatedBytes();
                    if (r >= 300 && (t1 - t0) + (t3 - t2) != 0) {
                        allocatingRounds++;
                    }
                }
                assertThat(count[0]).isEqualTo(500L * bufs.length);
                // A per-request allocation would show in every round; allow a few rounds with one-off
                // allocations of the JVM (JIT transitions, OSR).
                assertThat(allocatingRounds).as("rounds of 8 requests whose submit + await allocated (of 200, poll=%s)", poll)
                        .isLessThanOrEqualTo(10);
            }
        }
    }

    @Test
    void frontendLifeCycleSleepSnapshotRestoreWake() throws Exception {
        EmulatedBlkBackend b = backend(BASE_FEATURES, 65536, 32);
        try (VirtioBlkDriver dev = BlockDevices.open(b, opts(1, false))) {
            VirtioBlkFrontend fe = dev.frontend();
            MemorySegment buf = dev.allocateBuffer(512);
            for (int i = 0; i < 3; i++) {
                dev.write(0, i * 512L, buf).get(5, TimeUnit.SECONDS);
            }
            assertThatThrownBy(fe::snapshot).isInstanceOf(VirtioDeviceException.class).hasMessageContaining("ACTIVE");
            assertThatThrownBy(() -> fe.wake(List.of())).isInstanceOf(VirtioDeviceException.class);
            List<VirtqueueConfig> slept = fe.sleep();
            assertThat(fe.state()).isEqualTo(VirtioDeviceState.ASLEEP_ACTIVE);
            assertThat(slept).hasSize(1);
            assertThat(slept.get(0).nextAvail()).isEqualTo(3);
            assertThatThrownBy(fe::sleep).isInstanceOf(VirtioDeviceException.class);
            byte[] snap = fe.snapshot();
            fe.restore(snap);
            assertThat(fe.snapshot()).isEqualTo(snap);
            assertThat(fe.state()).isEqualTo(VirtioDeviceState.ASLEEP_ACTIVE);
            assertThatThrownBy(() -> fe.restore(new byte[] {1, 2, 3})).isInstanceOf(VirtioDeviceException.class);
            fe.wake(slept);
            assertThat(fe.state()).isEqualTo(VirtioDeviceState.ACTIVE);
            assertThat(b.log).contains("SET_VRING_BASE 0 3");
            // I/O continues after the wake, from the same ring state.
            dev.write(0, 4096, buf).get(5, TimeUnit.SECONDS);
            dev.read(0, 4096, buf).get(5, TimeUnit.SECONDS);
            assertThatThrownBy(() -> fe.activate(null, null, List.of())).isInstanceOf(VirtioDeviceException.class)
                    .hasMessageContaining("activate").hasMessageContaining("ACTIVE");
            assertThatThrownBy(() -> fe.ackFeatures(0)).isInstanceOf(IllegalStateException.class);
        }
    }

    @Test
    void frontendOfANewDeviceSleepsAndWakesWithoutQueues() throws Exception {
        EmulatedBlkBackend b = backend(BASE_FEATURES, 65536, 32);
        var vhost = new com.vhost.spi.vhost.GenericVhostDevice(b, 1);
        VirtioBlkFrontend fe = new VirtioBlkFrontend(vhost, 1, 128);
        assertThat(fe.deviceType().id()).isEqualTo(2);
        assertThat(fe.queueMaxSizes()).containsExactly(128);
        fe.ackFeatures(-1L);
        assertThat(fe.ackedFeatures()).isEqualTo(fe.features());
        byte[] cfg = new byte[8];
        fe.readConfig(0, cfg);
        assertThat(MemorySegment.ofArray(cfg).get(EmulatedBlkBackend.L, 0)).isEqualTo(CAPACITY / 512);
        byte[] past = {9, 9};
        fe.readConfig(VirtioBlk.CONFIG_SIZE + 4, past);
        assertThat(past).containsExactly(0, 0);
        assertThat(fe.sleep()).isEmpty();
        assertThat(fe.state()).isEqualTo(VirtioDeviceState.ASLEEP_NEW);
        byte[] snap = fe.snapshot();
        fe.wake(List.of());
        assertThat(fe.state()).isEqualTo(VirtioDeviceState.NEW);
        fe.sleep();
        fe.restore(snap);
        assertThat(fe.state()).isEqualTo(VirtioDeviceState.ASLEEP_INACTIVE);
        vhost.close();
    }

    @Test
    void factoryReadsConfigurationAndExposesTheBlockDevice() throws Exception {
        assertThat(BlkDriverFactory.options(Map.of("queues", "2", "queue.size", 256, "poll", "true")))
                .isEqualTo(new BlkDriverOptions(2, 256, true, 16L << 20));
        assertThatThrownBy(() -> BlkDriverFactory.options(Map.of("queue.size", "100"))).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("100");
        assertThatThrownBy(() -> BlkDriverFactory.options(Map.of("poll", "maybe"))).hasMessageContaining("poll");
        assertThat(BlkDriverFactory.options(Map.of("packed", "true"))).isEqualTo(BlkDriverOptions.defaults().withPacked(true));
        assertThat(BlkDriverFactory.options(Map.of()).packed()).isFalse();
        assertThatThrownBy(() -> BlkDriverFactory.options(Map.of("packed", 7))).hasMessageContaining("packed");
        BlkDriverFactory f = new BlkDriverFactory();
        assertThat(f.deviceType()).isEqualTo("blk");
        EmulatedBlkBackend b = backend(BASE_FEATURES, 65536, 32);
        try (VirtioDriver d = f.create(b, Map.of("queues", 1, "queue.size", "64"))) {
            BlockDevice dev = d.api(BlockDevice.class);
            assertThat(dev).isNotNull();
            assertThat(d.api(String.class)).isNull();
            assertThat(d.device().deviceType().shortName()).isEqualTo("blk");
            assertThat(d.summary()).contains("blk 8 MiB").contains("1 queue(s) of 64");
            dev.write(0, dev.allocateBuffer(512)).get(5, TimeUnit.SECONDS);
        }
        EmulatedBlkBackend bad = backend(BASE_FEATURES, 65536, 32);
        assertThatThrownBy(() -> f.create(bad, Map.of("queues", 0))).isInstanceOf(VirtioDeviceException.class)
                .hasMessageContaining("queues 0");
        assertThat(bad.isConnected()).isFalse();
    }
}
