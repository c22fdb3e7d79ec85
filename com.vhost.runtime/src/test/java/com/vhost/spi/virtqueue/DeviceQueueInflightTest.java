package com.vhost.spi.virtqueue;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.vhost.api.VirtqueueException;
import com.vhost.spi.memory.GuestMemoryMap;
import com.vhost.spi.memory.InflightSplitRegion;
import com.vhost.spi.memory.InflightTable;
import com.vhost.spi.testing.TestGuestMemory;
import com.vhost.spi.testing.TestRingDriver;
import com.vhost.spi.testing.TestRingDriver.Buf;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** A device queue over an inflight region: tracked pops and completions, resubmission after a restart. */
class DeviceQueueInflightTest {
    private static final long BASE = 0x10000;
    private static final long SPAN = 0x40000;
    private static final int SIZE = 8;

    private final TestGuestMemory raw = new TestGuestMemory(BASE, SPAN);
    private final TestRingDriver driver = new TestRingDriver(raw, 0, SIZE, BASE, SPAN);
    private final MemorySegment part = Arena.ofAuto().allocate(InflightSplitRegion.queueBytes(SIZE));
    private final InflightTable table = new InflightTable(1);
    private final GuestMemoryMap mem = GuestMemoryMap.of(raw.regions()).withInflight(table);

    @AfterEach
    void close() {
        raw.close();
    }

    private int submit() {
        long b = driver.alloc(16);
        return driver.submit(new Buf(b, 16, true));
    }

    @Test
    void aRestartedQueueResubmitsWhatWasInFlightOldestFirstThenNewChains() throws Exception {
        table.set(0, part);
        int[] heads = new int[5];
        for (int i = 0; i < 5; i++) {
            heads[i] = submit();
        }
        DeviceQueue q = new DeviceQueue(mem, driver.config(-1, -1), 0);
        DescriptorChain c = q.newChain();
        for (int i = 0; i < 5; i++) {
            assertThat(q.pop(c)).isTrue();
        }
        q.addUsed(heads[3], 16); // completed out of order, then the back-end dies
        q.addUsed(heads[1], 16);
        int fresh = submit();

        // the front-end restarts the ring at its used idx (QEMU's restore after a lost back-end)
        DeviceQueue again = new DeviceQueue(mem, driver.config(-1, -1).withNextAvail(2), 0);
        assertThat(again.nextAvail()).isEqualTo(5); // 2 used + 3 in flight
        // the killed back-end may have published without notifying: the restarted one notifies once
        assertThat(again.needsNotification()).isTrue();
        assertThat(again.needsNotification()).isFalse();
        assertThat(again.hasAvailable()).isTrue();
        int[] got = new int[4];
        for (int i = 0; i < 4; i++) {
            assertThat(again.pop(c)).isTrue();
            got[i] = c.head();
            again.addUsed(c.head(), 16);
        }
        assertThat(got).containsExactly(heads[0], heads[2], heads[4], fresh);
        assertThat(again.pop(c)).isFalse();
        assertThat(driver.usedIdx()).isEqualTo(6);
        for (int h : heads) {
            assertThat(again.inflight().isInflight(h)).isFalse();
        }
    }

    @Test
    void untrackedQueuesIgnoreTheTable() throws Exception {
        submit();
        DeviceQueue q = new DeviceQueue(mem, driver.config(-1, -1), 0);
        assertThat(q.inflight()).isNull();
        DescriptorChain c = q.newChain();
        assertThat(q.pop(c)).isTrue();
        assertThat(part.get(ValueLayout.JAVA_BYTE, 16 + 16L * c.head())).isZero();
    }

    @Test
    void aRegionForAnotherQueueSizeIsRefused() {
        table.set(0, part);
        part.set(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 8, (short) 1);
        part.set(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 10, (short) 4);
        assertThatThrownBy(() -> new DeviceQueue(mem, driver.config(-1, -1), 0)).isInstanceOf(VirtqueueException.class)
                .hasMessageContaining("desc_num 4 is not the queue size 8");
    }
}
