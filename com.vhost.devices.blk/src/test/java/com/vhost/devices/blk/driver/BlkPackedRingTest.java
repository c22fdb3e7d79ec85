package com.vhost.devices.blk.driver;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.vhost.api.VhostException;
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
 * wraps per queue (16-entry rings); a rebind is refused on packed rings; the same back-end without
 * RING_PACKED gets split rings.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class BlkPackedRingTest {
    private static final long PACKED = VirtioFeatures.bit(VirtioFeatures.F_RING_PACKED);
    private static final long CAPACITY = 8L << 20;

    private static void roundTrips(long features, boolean poll, boolean indirect) throws Exception {
        EmulatedBlkBackend b = new EmulatedBlkBackend(features, CAPACITY, 65536, 32, 4);
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
                assertThatThrownBy(() -> dev.rebind(new EmulatedBlkBackend(features, CAPACITY, 65536, 32, 4)))
                        .isInstanceOf(VhostException.class).hasMessageContaining("VIRTIO_F_RING_PACKED");
                assertThat(dev.getId(0).get(5, TimeUnit.SECONDS)).isEqualTo("emulated-blk");
            }
            assertThat(b.log).contains("GET_VRING_BASE 0", "CLOSE");
        } finally {
            b.release();
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
