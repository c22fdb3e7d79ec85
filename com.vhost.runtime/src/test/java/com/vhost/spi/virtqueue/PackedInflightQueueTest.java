package com.vhost.spi.virtqueue;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.vhost.api.VirtqueueException;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.spi.memory.GuestMemoryMap;
import com.vhost.spi.memory.InflightPackedRegion;
import com.vhost.spi.memory.InflightTable;
import com.vhost.spi.testing.TestGuestMemory;
import com.vhost.spi.testing.TestPackedDriver;
import com.vhost.spi.testing.TestPackedDriver.Buf;
import com.vhost.spi.testing.TestPackedDriver.Used;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * A packed device queue over an inflight region (vhost-user "Inflight I/O tracking", packed
 * virtqueue): tracked pops and completions, resubmission after the back-end is dropped.
 */
class PackedInflightQueueTest {
    private static final long BASE = 0x10000;
    private static final long SPAN = 0x80000;
    private static final int SIZE = 16;
    private static final long PACKED = VirtioFeatures.bit(VirtioFeatures.F_RING_PACKED);
    private static final long INDIRECT = VirtioFeatures.bit(VirtioFeatures.F_INDIRECT_DESC);
    private static final ValueLayout.OfLong LE64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final TestGuestMemory raw = new TestGuestMemory(BASE, SPAN);
    private final TestPackedDriver driver = new TestPackedDriver(raw, 0, SIZE, BASE, SPAN);
    private final MemorySegment part = Arena.ofAuto().allocate(InflightPackedRegion.queueBytes(SIZE));
    private final InflightTable table = new InflightTable(1);
    private final GuestMemoryMap mem = GuestMemoryMap.of(raw.regions()).withInflight(table);
    /** Per buffer id the driver has out: the request's sequence number (in its first buffer). */
    private final Map<Integer, Long> outstanding = new HashMap<>();
    private long seq;

    @AfterEach
    void close() {
        raw.close();
    }

    /** Submits request {@code seq}: a readable header holding it, {@code extra} more buffers, a status byte. */
    private int submit(int extra, boolean indirect) {
        long hdr = driver.alloc(8);
        driver.at(hdr, 8).set(LE64, 0, seq);
        List<Buf> bufs = new ArrayList<>();
        bufs.add(new Buf(hdr, 8, false));
        for (int i = 0; i < extra; i++) {
            bufs.add(new Buf(driver.alloc(16), 16, true));
        }
        Buf[] b = bufs.toArray(Buf[]::new);
        int id = indirect ? driver.submitIndirect(b) : driver.submit(b);
        outstanding.put(id, seq++);
        return id;
    }

    private DeviceQueue queue() throws VirtqueueException {
        return new DeviceQueue(mem, driver.config(-1, -1), PACKED | INDIRECT);
    }

    @Test
    void aNewQueueResubmitsExactlyTheUncompletedChainsInTheOrderTakenThenNewOnes() throws Exception {
        table.set(0, part);
        int[] ids = new int[6];
        int[] extra = {0, 2, 1, 3, 0, 1};
        for (int i = 0; i < ids.length; i++) {
            ids[i] = submit(extra[i], i == 4);
        }
        DeviceQueue q = queue();
        DescriptorChain c = q.newChain();
        for (int i = 0; i < ids.length; i++) {
            assertThat(q.pop(c)).isTrue();
            assertThat(c.head()).isEqualTo(ids[i]);
        }
        // completed out of order: the used descriptors overwrite the ring slots of chains 0 and 1
        q.addUsed(ids[3], 1);
        q.addUsed(ids[1], 1);
        q.addUsed(ids[5], 1);
        assertThat(driver.pollUsed()).isEqualTo(new Used(ids[3], 1));
        assertThat(driver.pollUsed()).isEqualTo(new Used(ids[1], 1));
        assertThat(driver.pollUsed()).isEqualTo(new Used(ids[5], 1));
        int fresh = submit(1, false);
        int usedBefore = q.nextUsed();

        // the back-end is dropped; a new one starts over the same ring memory and region
        DeviceQueue again = queue();
        assertThat(again.nextUsed()).isEqualTo(usedBefore);
        assertThat(again.packedInflight().inflightAtOpen()).isEqualTo(3);
        assertThat(again.needsNotification()).isTrue(); // its predecessor may have died before notifying
        assertThat(again.hasAvailable()).isTrue();
        List<Integer> got = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            assertThat(again.pop(c)).isTrue();
            got.add(c.head());
            assertThat(c.readLong(0)).isEqualTo(outstanding.get(c.head()));
            int expectedDescs = c.head() == ids[4] ? 1 + 1 : 1 + (c.head() == fresh ? 1 : extra[indexOf(ids, c.head())]);
            assertThat(c.descriptorCount()).isEqualTo(expectedDescs);
            again.addUsed(c.head(), 2);
        }
        assertThat(got).containsExactly(ids[0], ids[2], ids[4], fresh);
        assertThat(again.pop(c)).isFalse();
        for (int id : got) {
            assertThat(driver.pollUsed()).isEqualTo(new Used(id, 2));
        }
        assertThat(driver.pollUsed()).isNull();
        assertThat(again.nextUsed()).isEqualTo(driver.usedPosition());
        assertThat(InflightPackedRegion.countInflight(part, SIZE)).isZero();
    }

    private static int indexOf(int[] a, int v) {
        for (int i = 0; i < a.length; i++) {
            if (a[i] == v) {
                return i;
            }
        }
        return -1;
    }

    @Test
    void aChainTheRingRefusesIsNotLeftInTheRegion() throws Exception {
        table.set(0, part);
        int good = submit(1, false);
        DeviceQueue q = queue();
        DescriptorChain c = q.newChain();
        assertThat(q.pop(c)).isTrue();
        // a chain whose buffer lies outside guest memory
        driver.submitRaw(9, 2, i -> i == 0 ? BASE + SPAN + 0x1000 : driver.alloc(8), i -> 8, i -> i == 0 ? 1 : 0);
        assertThatThrownBy(() -> q.pop(c)).isInstanceOf(VirtqueueException.class);
        DeviceQueue again = queue();
        assertThat(again.packedInflight().inflightAtOpen()).isEqualTo(1);
        assertThat(again.pop(c)).isTrue();
        assertThat(c.head()).isEqualTo(good);
    }

    @Test
    void hostileRegionFailsTheQueueWithTheFieldNamed() throws Exception {
        table.set(0, part);
        submit(0, false);
        DeviceQueue q = queue();
        assertThat(q.pop(q.newChain())).isTrue();
        part.set(ValueLayout.JAVA_SHORT_UNALIGNED, InflightPackedRegion.HEADER_BYTES + InflightPackedRegion.D_NUM, (short) 40);
        assertThatThrownBy(this::queue).isInstanceOf(VirtqueueException.class).hasMessageContaining("desc[0].num 40 is not in 1..16");
        part.set(ValueLayout.JAVA_SHORT_UNALIGNED, InflightPackedRegion.DESC_NUM_OFF, (short) 4);
        assertThatThrownBy(this::queue).isInstanceOf(VirtqueueException.class).hasMessageContaining("desc_num 4 is not the queue size 16");
    }

    /** The front-end writes the region while the ring runs: a chain link it broke fails the resubmission by name. */
    @Test
    void aLinkBrokenAfterTheRegionWasCheckedFailsTheResubmission() throws Exception {
        table.set(0, part);
        submit(2, false);
        DeviceQueue q = queue();
        DescriptorChain c = q.newChain();
        assertThat(q.pop(c)).isTrue();
        DeviceQueue again = queue();
        part.set(ValueLayout.JAVA_SHORT_UNALIGNED, InflightPackedRegion.HEADER_BYTES + InflightPackedRegion.D_NEXT, (short) 900);
        assertThatThrownBy(() -> again.pop(c)).isInstanceOf(VirtqueueException.class)
                .hasMessageContaining("inflight region: desc[0]'s chain links to entry 900, not below 16");
    }

    /**
     * Random workload: chains of random length (some indirect), taken and completed in random
     * order, the back-end dropped at random points (also between taking and completing); every
     * request is completed exactly once, with its own buffers.
     */
    @Test
    void randomRestartsLoseAndDuplicateNothing() throws Exception {
        table.set(0, part);
        Random rnd = new Random(13);
        DeviceQueue q = queue();
        DescriptorChain c = q.newChain();
        List<Integer> held = new ArrayList<>(); // popped by the current back-end, not completed
        Set<Long> completed = new HashSet<>();
        int restarts = 0;
        for (int round = 0; round < 3000; round++) {
            int action = rnd.nextInt(10);
            if (action < 4) {
                try {
                    submit(rnd.nextInt(3), rnd.nextInt(5) == 0);
                } catch (IllegalStateException full) {
                    // ring full: the device must complete first
                }
            } else if (action < 7) {
                if (q.pop(c)) {
                    assertThat(c.readLong(0)).isEqualTo(outstanding.get(c.head()));
                    held.add(c.head());
                }
            } else if (action < 9) {
                if (!held.isEmpty()) {
                    int id = held.remove(rnd.nextInt(held.size()));
                    q.addUsed(id, 0);
                    Used u;
                    while ((u = driver.pollUsed()) != null) {
                        Long s = outstanding.remove(u.id());
                        assertThat(s).isNotNull();
                        assertThat(completed.add(s)).as("request %d completed twice", s).isTrue();
                    }
                }
            } else {
                q = queue();
                held.clear();
                restarts++;
            }
        }
        // drain: everything still out is taken (resubmitted or new) and completed
        for (int i = 0; i < 4 * SIZE; i++) {
            while (q.pop(c)) {
                held.add(c.head());
            }
            for (int id : held) {
                q.addUsed(id, 0);
            }
            held.clear();
            Used u;
            while ((u = driver.pollUsed()) != null) {
                Long s = outstanding.remove(u.id());
                assertThat(s).isNotNull();
                assertThat(completed.add(s)).isTrue();
            }
        }
        assertThat(restarts).isGreaterThan(50);
        assertThat(outstanding).isEmpty();
        assertThat(completed).hasSize((int) seq);
    }
}
