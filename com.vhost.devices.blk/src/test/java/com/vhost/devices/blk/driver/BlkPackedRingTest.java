package com.vhost.devices.blk.driver;

import static org.assertj.core.api.Assertions.assertThat;

import com.vhost.api.virtio.VirtioFeatures;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The blk driver on packed virtqueues (VIRTIO 1.2 2.8) against {@link EmulatedBlkBackend} in its
 * packed mode, a device written from the spec that completes each batch of requests in reverse
 * order: writes and reads of 512 B to 64 KiB round-trip on 2 queues with eventfds and with polling,
 * through indirect tables and, with INDIRECT_DESC off, 3-descriptor chains, over dozens of ring
 * wraps per queue (16-entry rings); a rebind restarts the packed rings fresh on the next back-end,
 * which serves on; the same back-end without
 * RING_PACKED gets split rings.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class BlkPackedRingTest {
    private static final long PACKED = VirtioFeatures.bit(VirtioFeatures.F_RING_PACKED);
    private static final long CAPACITY = 8L << 20;

    private static void roundTrips(long features, boolean poll, boolean indirect) throws Exception {
        EmulatedBlkBackend b = new EmulatedBlkBackend(features, CAPACITY, 65536, 32, 4);
        EmulatedBlkBackend next = new EmulatedBlkBackend(features, CAPACITY, 65536, 32, 4);
        try {
            try (VirtioBlkDriver dev = BlockDevices.open(b, new BlkDriverOptions(2, 16, poll, 64L << 20, true))) {
                assertThat(VirtioFeatures.has(dev.info().features(), VirtioFeatures.F_RING_PACKED)).isTrue();
                assertThat(dev.ringQueue(0).isPacked()).isTrue();
                assertThat(b.log).contains("SET_VRING_BASE 0 32768", "SET_VRING_BASE 1 32768");
                Random rnd = new Random(poll ? 3 : 4);
                for (int round = 0; round < 12; round++) {
                    List<CompletableFuture<Void>> fs = new ArrayList<>();
                    List<byte[]> data = new ArrayList<>();
                    List<Long> offs = new ArrayList<>();
                    for (int i = 0; i < 40; i++) {
                        byte[] d = new byte[512 * (1 + rnd.nextInt(128))];
                        rnd.nextBytes(d);
                        long off = (long) (round * 40 + i) % 120 * 65536;
                        data.add(d);
                        offs.add(off);
                        MemorySegment src = i % 2 == 0 ? MemorySegment.ofArray(d.clone())
                                : dev.allocateBuffer(d.length).copyFrom(MemorySegment.ofArray(d));
                        fs.add(dev.write(i % 2, off, src));
                    }
                    CompletableFuture.allOf(fs.toArray(CompletableFuture[]::new)).get(20, TimeUnit.SECONDS);
                    dev.flush(round % 2).get(5, TimeUnit.SECONDS);
                    for (int i = 0; i < 40; i++) {
                        byte[] back = new byte[data.get(i).length];
                        dev.read(1 - i % 2, offs.get(i), MemorySegment.ofArray(back)).get(5, TimeUnit.SECONDS);
                        assertThat(back).as("round %d request %d", round, i).isEqualTo(data.get(i));
                        assertThat(b.disk.asSlice(offs.get(i), back.length).toArray(ValueLayout.JAVA_BYTE)).isEqualTo(data.get(i));
                    }
                }
                assertThat(b.requests.get()).isGreaterThan(12 * 80);
                assertThat(b.outOfOrderBatches.get()).as("batches completed in reverse order").isPositive();
                if (indirect) {
                    assertThat(b.indirectChains.get()).as("indirect tables used").isPositive();
                } else {
                    assertThat(b.indirectChains.get()).isZero();
                    assertThat(b.maxChain.get()).as("multi-descriptor chains").isGreaterThan(2);
                }
                // a rebind moves the packed rings: fresh (0x8000) on the next back-end, which serves on
                dev.rebind(next);
                assertThat(next.log).contains("SET_VRING_BASE 0 32768", "SET_VRING_BASE 1 32768");
                assertThat(dev.ringQueue(0).availIdx()).as("fresh ring, nothing outstanding").isEqualTo(32768);
                byte[] d = new byte[8192];
                rnd.nextBytes(d);
                dev.write(0, 65536, MemorySegment.ofArray(d.clone())).get(5, TimeUnit.SECONDS);
                byte[] back = new byte[d.length];
                dev.read(1, 65536, MemorySegment.ofArray(back)).get(5, TimeUnit.SECONDS);
                assertThat(back).isEqualTo(d);
                assertThat(next.disk.asSlice(65536, d.length).toArray(ValueLayout.JAVA_BYTE)).isEqualTo(d);
                assertThat(dev.getId(0).get(5, TimeUnit.SECONDS)).isEqualTo("emulated-blk");
            }
            assertThat(b.log).contains("GET_VRING_BASE 0", "CLOSE");
            assertThat(next.log).contains("CLOSE");
        } finally {
            b.release();
            next.release();
        }
    }

    @Test
    void packedRingsWithIndirectTablesAndEventfds() throws Exception {
        roundTrips(VirtioBlkDriverTest.BASE_FEATURES | PACKED, false, true);
    }

    @Test
    void packedRingsWithDirectChainsAndPolling() throws Exception {
        roundTrips((VirtioBlkDriverTest.BASE_FEATURES | PACKED) & ~VirtioFeatures.bit(VirtioFeatures.F_INDIRECT_DESC), true, false);
    }

    /**
     * The case packed rings are restarted fresh for: a back-end takes requests, holds some and
     * completes later ones, whose used descriptors overwrite the held ones' (2.8.21.3); then it is
     * replaced (a rebind, then a detach and a rebind). The held requests were taken, so the
     * GET_VRING_BASE index is past them: the driver places them again on fresh rings of the next
     * back-end, where each completes once and its data lands.
     */
    @Test
    void requestsHeldByABackEndThatCompletedLaterOnesOutOfOrderAreRedoneOnTheNextOne() throws Exception {
        long features = VirtioBlkDriverTest.BASE_FEATURES | PACKED;
        EmulatedBlkBackend first = new EmulatedBlkBackend(features, CAPACITY, 65536, 32, 4);
        EmulatedBlkBackend second = new EmulatedBlkBackend(features, CAPACITY, 65536, 32, 4);
        EmulatedBlkBackend third = new EmulatedBlkBackend(features, CAPACITY, 65536, 32, 4);
        try (VirtioBlkDriver dev = BlockDevices.open(first, new BlkDriverOptions(1, 16, false, 8L << 20, true))) {
            Random rnd = new Random(9);
            first.withhold.set(2);
            List<byte[]> data = new ArrayList<>();
            List<CompletableFuture<Void>> fs = writes(dev, rnd, data, 0, 6);
            awaitDone(fs, 4);
            Thread.sleep(100);
            assertThat(fs.stream().filter(CompletableFuture::isDone).count()).as("two held by the first back-end").isEqualTo(4);
            assertThat(fs.get(0)).isNotDone();
            assertThat(fs.get(1)).isNotDone();
            assertThat(first.withheld.get()).isEqualTo(2);

            dev.rebind(second);
            assertThat(second.log).contains("SET_VRING_BASE 0 32768");
            CompletableFuture.allOf(fs.toArray(CompletableFuture[]::new)).get(10, TimeUnit.SECONDS);
            assertThat(dev.counters().get("carried.over")).as("the two held requests placed again").isGreaterThanOrEqualTo(2);
            second.withhold.set(1);
            List<CompletableFuture<Void>> more = writes(dev, rnd, data, 6, 4);
            awaitDone(more, 3);
            Thread.sleep(50);
            assertThat(more.get(0)).as("request 6 held by the second back-end").isNotDone();
            dev.detach();
            dev.rebind(third);
            assertThat(third.log).contains("SET_VRING_BASE 0 32768");
            CompletableFuture.allOf(more.toArray(CompletableFuture[]::new)).get(10, TimeUnit.SECONDS);
            assertThat(second.withheld.get()).isEqualTo(1);
            // the back-ends take requests in avail order: the first two (0, 1) and request 6 were held
            for (int i = 0; i < 10; i++) {
                EmulatedBlkBackend ran = i < 2 ? second : i < 6 ? first : i == 6 ? third : second;
                assertThat(ran.disk.asSlice(i * 65536L, 4096).toArray(ValueLayout.JAVA_BYTE)).as("request %d", i)
                        .isEqualTo(data.get(i));
            }
            byte[] back = new byte[4096];
            dev.read(0, 6 * 65536L, MemorySegment.ofArray(back)).get(5, TimeUnit.SECONDS);
            assertThat(back).as("the held write, redone on the last back-end, reads back").isEqualTo(data.get(6));
            assertThat(dev.counters()).containsEntry("swaps", 2L);
        } finally {
            first.release();
            second.release();
            third.release();
        }
    }

    private static List<CompletableFuture<Void>> writes(VirtioBlkDriver dev, Random rnd, List<byte[]> data, int from, int n) {
        List<CompletableFuture<Void>> fs = new ArrayList<>();
        for (int i = from; i < from + n; i++) {
            byte[] d = new byte[4096];
            rnd.nextBytes(d);
            data.add(d);
            fs.add(dev.write(0, i * 65536L, MemorySegment.ofArray(d.clone())));
        }
        return fs;
    }

    private static void awaitDone(List<CompletableFuture<Void>> fs, int n) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (fs.stream().filter(CompletableFuture::isDone).count() < n) {
            assertThat(System.nanoTime()).as("%d of %d requests done", n, fs.size()).isLessThan(deadline);
            Thread.sleep(2);
        }
    }

    @Test
    void withoutRingPackedOfferedTheRingsAreSplit() throws Exception {
        EmulatedBlkBackend b = new EmulatedBlkBackend(VirtioBlkDriverTest.BASE_FEATURES, CAPACITY, 65536, 32, 4);
        try (VirtioBlkDriver dev = BlockDevices.open(b, new BlkDriverOptions(1, 16, false, 1L << 20, true))) {
            assertThat(VirtioFeatures.has(dev.info().features(), VirtioFeatures.F_RING_PACKED)).isFalse();
            assertThat(dev.ringQueue(0).isPacked()).isFalse();
            byte[] d = new byte[4096];
            new Random(5).nextBytes(d);
            dev.write(0, 0, MemorySegment.ofArray(d)).get(5, TimeUnit.SECONDS);
            assertThat(b.disk.asSlice(0, 4096).toArray(ValueLayout.JAVA_BYTE)).isEqualTo(d);
        } finally {
            b.release();
        }
    }
}
