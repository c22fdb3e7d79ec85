package com.vhost.spi.virtqueue;

import static com.vhost.spi.virtqueue.DescriptorChainFuzzTest.AVAIL;
import static com.vhost.spi.virtqueue.DescriptorChainFuzzTest.DESC;
import static com.vhost.spi.virtqueue.DescriptorChainFuzzTest.INDIRECT;
import static com.vhost.spi.virtqueue.DescriptorChainFuzzTest.LE16;
import static com.vhost.spi.virtqueue.DescriptorChainFuzzTest.LE32;
import static com.vhost.spi.virtqueue.DescriptorChainFuzzTest.LE64;
import static com.vhost.spi.virtqueue.DescriptorChainFuzzTest.MAX_SIZE;
import static com.vhost.spi.virtqueue.DescriptorChainFuzzTest.MEM;
import static com.vhost.spi.virtqueue.DescriptorChainFuzzTest.R0;
import static com.vhost.spi.virtqueue.DescriptorChainFuzzTest.R0_SIZE;
import static com.vhost.spi.virtqueue.DescriptorChainFuzzTest.USED;
import static com.vhost.spi.virtqueue.DescriptorChainFuzzTest.address;
import static com.vhost.spi.virtqueue.DescriptorChainFuzzTest.checkChain;
import static com.vhost.spi.virtqueue.DescriptorChainFuzzTest.length;
import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import com.vhost.api.VirtqueueException;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.api.virtio.VirtqueueConfig;
import java.lang.foreign.MemorySegment;

/**
 * Fuzz target for packed virtqueues, next to {@link DescriptorChainFuzzTest} (same guest memory,
 * same oracle: {@link DeviceQueue#pop} returns a valid chain or throws {@link VirtqueueException},
 * nothing else). A class of its own because Jazzer's fuzzing mode fuzzes one {@code @FuzzTest}
 * per run (the runtime's pom runs it as the {@code fuzz-packed-chain} execution).
 */
class PackedChainFuzzTest {
    @FuzzTest(maxDuration = "5m", maxExecutions = 100_000)
    void popFuzzedPackedChains(FuzzedDataProvider data) throws Exception {
        popPackedChains(data);
    }

    /**
     * The packed ring (VIRTIO 1.2, 2.8) version: the fuzzer writes the descriptor ring (addresses,
     * lengths, buffer ids, flags with any AVAIL/USED bits), an indirect table, the driver event
     * area, and picks the size, the start position and wrap counter and the features. Same
     * oracle; each popped chain is returned at once (its id must be one of the queue's) and
     * popping stops after four laps of descriptors.
     */
    static void popPackedChains(FuzzedDataProvider data) throws Exception {
        MemorySegment r0 = MEM.slice(R0, R0_SIZE);
        r0.fill((byte) 0);
        int size = 1 << data.consumeInt(0, 8);
        long features = VirtioFeatures.bit(VirtioFeatures.F_RING_PACKED)
                | (data.consumeBoolean() ? VirtioFeatures.bit(VirtioFeatures.F_INDIRECT_DESC) : 0)
                | (data.consumeBoolean() ? VirtioFeatures.bit(VirtioFeatures.F_EVENT_IDX) : 0);
        int base = data.consumeInt(0, size - 1) | (data.consumeBoolean() ? 0x8000 : 0);
        int descriptors = data.consumeInt(0, size);
        for (int i = 0; i < descriptors; i++) {
            long d = DESC + 16L * data.consumeInt(0, size - 1);
            MEM.slice(d, 16).set(LE64, 0, address(data));
            MEM.slice(d, 16).set(LE32, 8, length(data));
            MEM.slice(d, 16).set(LE16, 12, (short) (data.consumeBoolean() ? data.consumeInt(0, size - 1) : data.consumeInt(0, 0xFFFF)));
            int flags = data.consumeBoolean() ? data.consumeInt(0, 7) | (data.consumeBoolean() ? 0x80 : 0x8000) : data.consumeInt(0, 0xFFFF);
            MEM.slice(d, 16).set(LE16, 14, (short) flags);
        }
        int indirect = data.consumeInt(0, MAX_SIZE);
        for (int i = 0; i < indirect; i++) {
            long d = INDIRECT + 16L * i;
            MEM.slice(d, 16).set(LE64, 0, address(data));
            MEM.slice(d, 16).set(LE32, 8, length(data));
            MEM.slice(d, 16).set(LE16, 14, (short) data.consumeInt(0, data.consumeBoolean() ? 7 : 0xFFFF));
        }
        MEM.slice(AVAIL, 4).set(LE16, 0, (short) data.consumeInt(0, 0xFFFF));
        MEM.slice(AVAIL, 4).set(LE16, 2, (short) data.consumeInt(0, 3));
        VirtqueueConfig cfg = new VirtqueueConfig(0, size, DESC, AVAIL, USED, base, -1, -1, true);
        DeviceQueue q = new DeviceQueue(MEM, cfg, features);
        DescriptorChain c = q.newChain();
        for (int taken = 0; taken < 4 * size; ) {
            try {
                q.enableNotifications();
                if (!q.pop(c)) {
                    return;
                }
            } catch (VirtqueueException e) {
                assertThat(e.getMessage()).startsWith("queue 0").isNotBlank();
                return;
            }
            checkChain(c, size);
            taken += Math.max(1, c.descriptorCount());
            q.addUsed(c.head(), (int) Math.min(c.writableBytes(), Integer.MAX_VALUE));
            q.needsNotification();
        }
    }
}
