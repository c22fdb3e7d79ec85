package com.vhost.spi.virtqueue;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.vhost.api.VirtqueueException;
import com.vhost.api.virtio.SplitVirtqueueLayout;
import com.vhost.api.virtio.VirtioFeatures;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** {@link DriverQueue} over a packed ring (VIRTIO 1.2, 2.8) against a device written here from the spec. */
class PackedDriverQueueTest {
    private static final ValueLayout.OfShort S = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt I = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong L = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final long GPA = 0x40000;
    private static final long PACKED = VirtioFeatures.bit(VirtioFeatures.F_RING_PACKED) | VirtioFeatures.bit(VirtioFeatures.F_VERSION_1);
    private static final int AVAIL = 1 << 7;
    private static final int USED = 1 << 15;

    private final Arena arena = Arena.ofConfined();

    @AfterEach
    void close() {
        arena.close();
    }

    /** One buffer the device took: its descriptors (after indirect resolution), id and ring descriptors. */
    record Taken(int id, int ringDescs, List<long[]> bufs) {
        int writable() {
            int w = 0;
            for (long[] b : bufs) {
                w += b[2] == 1 ? (int) b[1] : 0;
            }
            return w;
        }
    }

    /** A packed-ring device: reads available descriptors by their flags, writes used ones in order of use. */
    static final class Device {
        final MemorySegment mem;
        final int size;
        final long driverEvt;
        final long deviceEvt;
        int availPos;
        int availWrap;
        int usedPos;
        int usedWrap;

        Device(MemorySegment mem, int size, int startIdx) {
            this.mem = mem;
            this.size = size;
            this.driverEvt = SplitVirtqueueLayout.availOffset(size);
            this.deviceEvt = SplitVirtqueueLayout.usedOffset(size);
            availPos = startIdx & 0x7FFF;
            availWrap = startIdx >> 15 & 1;
            usedPos = availPos;
            usedWrap = availWrap;
        }

        int flags(int pos) {
            return Short.toUnsignedInt(mem.get(S, pos * 16L + 14));
        }

        boolean available(int pos, int wrap) {
            int f = flags(pos);
            return ((f & AVAIL) != 0 ? 1 : 0) == wrap && ((f & USED) != 0 ? 1 : 0) != wrap;
        }

        /** @return the next available buffer, or null */
        Taken take() {
            if (!available(availPos, availWrap)) {
                return null;
            }
            List<long[]> bufs = new ArrayList<>();
            int n = 0;
            int id;
            while (true) {
                long d = availPos * 16L;
                int f = flags(availPos);
                assertThat(available(availPos, availWrap)).as("descriptor %d of a chain is available", availPos).isTrue();
                id = Short.toUnsignedInt(mem.get(S, d + 12));
                long addr = mem.get(L, d);
                int len = mem.get(I, d + 8);
                if ((f & 4) != 0) {
                    long tbl = addr - GPA;
                    for (int k = 0; k < len / 16; k++) {
                        int tf = Short.toUnsignedInt(mem.get(S, tbl + k * 16L + 14));
                        bufs.add(new long[] {mem.get(L, tbl + k * 16L), mem.get(I, tbl + k * 16L + 8), (tf & 2) != 0 ? 1 : 0});
                    }
                } else {
                    bufs.add(new long[] {addr, len, (f & 2) != 0 ? 1 : 0});
                }
                n++;
                if (++availPos == size) {
                    availPos = 0;
                    availWrap ^= 1;
                }
                if ((f & 1) == 0) {
                    break;
                }
            }
            return new Taken(id, n, bufs);
        }

        /** Writes one used descriptor (flags last) and advances by the buffer's ring descriptors. */
        void use(int id, int len, int ringDescs) {
            long d = usedPos * 16L;
            mem.set(I, d + 8, len);
            mem.set(S, d + 12, (short) id);
            mem.set(S, d + 14, (short) (usedWrap == 1 ? AVAIL | USED : 0));
            usedPos += ringDescs;
            if (usedPos >= size) {
                usedPos -= size;
                usedWrap ^= 1;
            }
        }

        void use(Taken t, int len) {
            use(t.id, len, t.ringDescs);
        }

        void deviceEvent(int offWrap, int flags) {
            mem.set(S, deviceEvt, (short) offWrap);
            mem.set(S, deviceEvt + 2, (short) flags);
        }

        int driverFlags() {
            return Short.toUnsignedInt(mem.get(S, driverEvt + 2));
        }

        int driverOffWrap() {
            return Short.toUnsignedInt(mem.get(S, driverEvt));
        }
    }

    private MemorySegment segment(int size, int indirectMax) {
        return arena.allocate(DriverQueue.layoutBytes(size, indirectMax), 16);
    }

    private static List<long[]> poll(DriverQueue q) throws VirtqueueException {
        List<long[]> out = new ArrayList<>();
        q.pollUsed((token, len) -> out.add(new long[] {token, len}));
        return out;
    }

    @Test
    void freshRingIsPackedAtPositionZeroWrapOneWithEventAreasAtTheSplitOffsets() {
        MemorySegment mem = segment(64, 0);
        DriverQueue q = new DriverQueue(0, 64, mem, GPA, PACKED, 0);
        assertThat(q.isPacked()).isTrue();
        assertThat(q.freshIdx()).isEqualTo(0x8000);
        assertThat(q.availIdx()).isEqualTo(0x8000);
        assertThat(q.lastUsedIdx()).isEqualTo(0x8000);
        assertThat(q.descGpa()).isEqualTo(GPA);
        assertThat(q.availGpa()).isEqualTo(GPA + 64 * 16);
        assertThat(q.usedGpa()).isEqualTo(GPA + SplitVirtqueueLayout.usedOffset(64));
        assertThat(q.usedGpa() % 4).isZero();
        assertThat(new DriverQueue(0, 64, segment(64, 0), GPA, VirtioFeatures.bit(VirtioFeatures.F_VERSION_1), 0).isPacked()).isFalse();
    }

    @Test
    void chainsOfOneToThreeBuffersCrossManyWrapsInOrder() throws Exception {
        int size = 8;
        MemorySegment mem = segment(size, 0);
        DriverQueue q = new DriverQueue(0, size, mem, GPA, PACKED, 0);
        Device dev = new Device(mem, size, q.freshIdx());
        Random r = new Random(7);
        long token = 0;
        int wraps = 0;
        int lastWrap = 1;
        for (int round = 0; round < 2000; round++) {
            int n = 1 + r.nextInt(3);
            int out = r.nextInt(n + 1);
            long[] addrs = new long[n];
            int[] lens = new int[n];
            for (int i = 0; i < n; i++) {
                addrs[i] = 0x100000 + round * 0x1000L + i * 0x100;
                lens[i] = 10 + i + round % 50;
            }
            int id = q.add(addrs, lens, out, n - out, ++token);
            assertThat(id).isBetween(0, size - 1);
            Taken t = dev.take();
            assertThat(t).isNotNull();
            assertThat(t.id()).isEqualTo(id);
            assertThat(t.ringDescs()).isEqualTo(n);
            for (int i = 0; i < n; i++) {
                assertThat(t.bufs().get(i)).containsExactly(addrs[i], lens[i], i >= out ? 1 : 0);
            }
            assertThat(dev.take()).isNull();
            dev.use(t, t.writable());
            List<long[]> got = poll(q);
            assertThat(got).hasSize(1);
            assertThat(got.get(0)).containsExactly(token, t.writable());
            assertThat(q.inFlight()).isZero();
            assertThat(q.numFree()).isEqualTo(size);
            assertThat(q.lastUsedIdx()).isEqualTo(q.availIdx()).isEqualTo(dev.availPos | dev.availWrap << 15);
            if (dev.availWrap != lastWrap) {
                wraps++;
                lastWrap = dev.availWrap;
            }
        }
        assertThat(wraps).isGreaterThan(100);
    }

    @Test
    void outOfOrderUsedIdsFreeTheirOwnDescriptorsAndIdsAreReused() throws Exception {
        int size = 16;
        MemorySegment mem = segment(size, 0);
        DriverQueue q = new DriverQueue(1, size, mem, GPA, PACKED, 0);
        Device dev = new Device(mem, size, q.freshIdx());
        Random r = new Random(11);
        long next = 1;
        List<Taken> held = new ArrayList<>();
        java.util.Map<Integer, Long> tokenOf = new java.util.HashMap<>();
        long completed = 0;
        for (int round = 0; round < 3000; round++) {
            int n = 1 + r.nextInt(4);
            long[] addrs = new long[n];
            int[] lens = new int[n];
            java.util.Arrays.fill(lens, 64);
            int id = q.add(addrs, lens, 0, n, next);
            if (id >= 0) {
                assertThat(tokenOf).doesNotContainKey(id);
                tokenOf.put(id, next++);
                Taken t = dev.take();
                assertThat(t.id()).isEqualTo(id);
                held.add(t);
            } else {
                assertThat(q.numFree()).isLessThan(n);
            }
            int k = r.nextInt(3);
            for (int j = 0; j < k && !held.isEmpty(); j++) {
                Taken t = held.remove(r.nextInt(held.size()));
                dev.use(t, 7);
            }
            for (long[] u : poll(q)) {
                assertThat(u[1]).isEqualTo(7);
                assertThat(tokenOf.values()).contains(u[0]);
                tokenOf.values().remove(u[0]);
                completed++;
            }
            assertThat(q.inFlight()).isEqualTo(held.size()).isEqualTo(tokenOf.size());
            int heldDescs = held.stream().mapToInt(Taken::ringDescs).sum();
            assertThat(q.numFree()).isEqualTo(size - heldDescs);
        }
        assertThat(completed).isGreaterThan(1000);
    }

    @Test
    void indirectChainTakesOneRingDescriptorAndItsTableHoldsTheBuffers() throws Exception {
        int size = 4;
        long features = PACKED | VirtioFeatures.bit(VirtioFeatures.F_INDIRECT_DESC);
        MemorySegment mem = segment(size, 8);
        DriverQueue q = new DriverQueue(0, size, mem, GPA, features, 8);
        Device dev = new Device(mem, size, q.freshIdx());
        for (int r = 0; r < 50; r++) {
            final long round = r;
            long[] addrs = {0x1000, 0x2000, 0x3000, 0x4000, 0x5000, 0x6000};
            int[] lens = {16, 512, 4096, 4096, 100, 1};
            int id = q.add(addrs, lens, 2, 4, round);
            assertThat(q.numFree()).isEqualTo(size - 1);
            Taken t = dev.take();
            assertThat(t.id()).isEqualTo(id);
            assertThat(t.ringDescs()).isEqualTo(1);
            assertThat(t.bufs()).hasSize(6);
            for (int i = 0; i < 6; i++) {
                assertThat(t.bufs().get(i)).containsExactly(addrs[i], lens[i], i >= 2 ? 1 : 0);
            }
            dev.use(t, 8293);
            assertThat(poll(q)).singleElement().satisfies(u -> assertThat(u).containsExactly(round, 8293));
        }
        // a chain longer than the ring still fits through its indirect table; one buffer stays direct
        assertThat(q.add(new long[8], new int[8], 8, 0, 1)).isNotNegative();
        assertThat(dev.take().ringDescs()).isEqualTo(1);
        assertThat(q.add(new long[] {0x9000}, new int[] {5}, 1, 0, 2)).isNotNegative();
        assertThat(dev.take().bufs()).singleElement().satisfies(b -> assertThat(b).containsExactly(0x9000L, 5L, 0L));
    }

    @Test
    void deferredBatchBecomesAvailableOnlyAtPublishHeadFlagsLast() throws Exception {
        int size = 8;
        MemorySegment mem = segment(size, 0);
        DriverQueue q = new DriverQueue(0, size, mem, GPA, PACKED, 0);
        Device dev = new Device(mem, size, q.freshIdx());
        // fill 6 of 8 so the batch crosses the ring's end
        for (int i = 0; i < 6; i++) {
            q.add(new long[] {i}, new int[] {1}, 1, 0, i);
            dev.use(dev.take(), 0);
        }
        assertThat(poll(q)).hasSize(6);
        q.addDeferred(new long[] {0xA, 0xB}, new int[] {1, 2}, 1, 1, 100);
        q.addDeferred(new long[] {0xC}, new int[] {3}, 0, 1, 101);
        q.addDeferred(new long[] {0xD}, new int[] {4}, 1, 0, 102);
        assertThat(dev.take()).as("nothing before publish").isNull();
        assertThat(dev.available(7, 1)).as("the first chain's second descriptor is written already").isTrue();
        q.publish();
        Taken a = dev.take();
        Taken b = dev.take();
        Taken c = dev.take();
        assertThat(dev.take()).isNull();
        assertThat(a.bufs()).hasSize(2);
        assertThat(b.bufs().get(0)).containsExactly(0xCL, 3L, 1L);
        assertThat(c.bufs().get(0)).containsExactly(0xDL, 4L, 0L);
        dev.use(c, 0);
        dev.use(a, 2);
        dev.use(b, 3);
        assertThat(poll(q)).extracting(u -> u[0]).containsExactly(102L, 100L, 101L);
        assertThat(q.availIdx()).isEqualTo(2).isEqualTo(q.lastUsedIdx()); // position 2, wrap 0
    }

    @Test
    void kickFollowsDeviceEventSuppressionIncludingDescOffWrapAcrossTheWrap() throws Exception {
        int size = 8;
        long features = PACKED | VirtioFeatures.bit(VirtioFeatures.F_EVENT_IDX);
        MemorySegment mem = segment(size, 0);
        DriverQueue q = new DriverQueue(0, size, mem, GPA, features, 0);
        Device dev = new Device(mem, size, q.freshIdx());
        assertThat(q.kickNeeded()).as("nothing added").isFalse();
        q.add(new long[] {1}, new int[] {1}, 1, 0, 1);
        assertThat(q.kickNeeded()).as("ENABLE").isTrue();
        dev.deviceEvent(0, 1);
        q.add(new long[] {1}, new int[] {1}, 1, 0, 2);
        assertThat(q.kickNeeded()).as("DISABLE").isFalse();
        // positions 0,1 used so far; ask for a kick when position 4 (wrap 1) is made available
        dev.deviceEvent(4 | 1 << 15, 2);
        q.add(new long[] {1}, new int[] {1}, 1, 0, 3); // position 2
        assertThat(q.kickNeeded()).isFalse();
        q.add(new long[] {1, 2, 3}, new int[] {1, 1, 1}, 3, 0, 4); // positions 3..5
        assertThat(q.kickNeeded()).isTrue();
        for (int i = 0; i < 4; i++) {
            dev.use(dev.take(), 0);
        }
        assertThat(poll(q)).hasSize(4);
        // event at position 1 of the next lap (wrap 0); the driver is at 6 (wrap 1)
        dev.deviceEvent(1, 2);
        q.add(new long[] {1, 2}, new int[] {1, 1}, 2, 0, 5); // positions 6,7
        assertThat(q.kickNeeded()).isFalse();
        q.add(new long[] {1}, new int[] {1}, 1, 0, 6); // position 0, wrap 0
        assertThat(q.kickNeeded()).isFalse();
        q.add(new long[] {1, 2}, new int[] {1, 1}, 2, 0, 7); // positions 1,2, wrap 0
        assertThat(q.kickNeeded()).isTrue();
        // an event left in the previous lap (position 7, wrap 1) was passed by a batch that wrapped
        for (int i = 0; i < 3; i++) {
            dev.use(dev.take(), 0);
        }
        assertThat(poll(q)).hasSize(3);
        dev.deviceEvent(2 | 1 << 15, 2); // position 2 of lap wrap 1: passed long ago, only kicked if passed now
        q.add(new long[] {1}, new int[] {1}, 1, 0, 8); // position 3
        assertThat(q.kickNeeded()).isFalse();
        assertThat(DriverQueue.needEvent(1, 3, 0)).isTrue();
    }

    @Test
    void usedNotificationsFollowDriverEventSuppression() throws Exception {
        int size = 8;
        MemorySegment mem = segment(size, 0);
        DriverQueue plain = new DriverQueue(0, size, mem, GPA, PACKED, 0);
        Device dev = new Device(mem, size, plain.freshIdx());
        assertThat(dev.driverFlags()).as("ENABLE").isZero();
        plain.disableNotifications();
        assertThat(dev.driverFlags()).as("DISABLE").isEqualTo(1);
        plain.add(new long[] {1}, new int[] {1}, 1, 0, 1);
        assertThat(plain.enableNotifications()).isFalse();
        assertThat(dev.driverFlags()).isZero();
        dev.use(dev.take(), 0);
        plain.disableNotifications();
        assertThat(plain.enableNotifications()).as("used already there").isTrue();
        assertThat(plain.hasUsed()).isTrue();
        assertThat(poll(plain)).hasSize(1);
        assertThat(plain.hasUsed()).isFalse();

        MemorySegment mem2 = segment(size, 0);
        DriverQueue ev = new DriverQueue(0, size, mem2, GPA, PACKED | VirtioFeatures.bit(VirtioFeatures.F_EVENT_IDX), 0);
        Device dev2 = new Device(mem2, size, ev.freshIdx());
        assertThat(dev2.driverFlags()).as("DESC").isEqualTo(2);
        assertThat(dev2.driverOffWrap()).isEqualTo(0x8000);
        for (int i = 0; i < 5; i++) {
            ev.add(new long[] {1, 2}, new int[] {1, 1}, 2, 0, i);
            dev2.use(dev2.take(), 0);
            assertThat(poll(ev)).hasSize(1);
        }
        assertThat(dev2.driverOffWrap()).as("next used position 10 mod 8, wrap 0").isEqualTo(2);
        ev.disableNotifications();
        assertThat(dev2.driverFlags()).isEqualTo(1);
        ev.add(new long[] {1}, new int[] {1}, 1, 0, 9);
        dev2.use(dev2.take(), 0);
        assertThat(poll(ev)).hasSize(1);
        assertThat(dev2.driverOffWrap()).as("left alone while disabled").isEqualTo(2);
        assertThat(ev.enableNotifications()).isFalse();
        assertThat(dev2.driverFlags()).isEqualTo(2);
        assertThat(dev2.driverOffWrap()).isEqualTo(3);
    }

    @Test
    void malformedUsedDescriptorsEndInVirtqueueException() throws Exception {
        int size = 8;
        MemorySegment mem = segment(size, 0);
        DriverQueue q = new DriverQueue(3, size, mem, GPA, PACKED, 0);
        Device dev = new Device(mem, size, q.freshIdx());
        q.add(new long[] {1, 2}, new int[] {4, 8}, 1, 1, 1);
        Taken t = dev.take();
        dev.use(t.id() + 5, 0, 1); // an id never handed out
        assertThatThrownBy(() -> poll(q)).isInstanceOf(VirtqueueException.class)
                .hasMessageContaining("queue 3").hasMessageContaining("buffer id " + (t.id() + 5)).hasMessageContaining("not outstanding");

        q.reset(q.freshIdx());
        dev = new Device(mem, size, q.freshIdx());
        q.add(new long[] {1, 2}, new int[] {4, 8}, 1, 1, 1);
        t = dev.take();
        dev.use(t, 13); // 4 + 8 bytes
        assertThatThrownBy(() -> poll(q)).isInstanceOf(VirtqueueException.class)
                .hasMessageContaining("13 bytes written into buffer id 0, which holds only 12 bytes");
        q.reset(q.freshIdx());
        dev = new Device(mem, size, q.freshIdx());
        q.add(new long[] {1}, new int[] {4}, 0, 1, 1);
        dev.use(dev.take(), -1); // 4294967295 bytes
        assertThatThrownBy(() -> poll(q)).isInstanceOf(VirtqueueException.class).hasMessageContaining("4294967295 bytes");

        q.reset(q.freshIdx());
        Device d3 = new Device(mem, size, q.freshIdx());
        q.add(new long[] {1}, new int[] {4}, 0, 1, 1);
        q.add(new long[] {1}, new int[] {4}, 0, 1, 2);
        Taken a = d3.take();
        d3.use(a, 4);
        d3.use(a.id(), 4, 1); // the same id twice: its slot is free by then
        assertThatThrownBy(() -> poll(q)).isInstanceOf(VirtqueueException.class).hasMessageContaining("not outstanding");

        q.reset(q.freshIdx());
        Device d4 = new Device(mem, size, q.freshIdx());
        d4.use(0xFFFF, 1, 1); // a used descriptor while nothing is outstanding is not even read
        assertThat(q.hasUsed()).isFalse();
        assertThat(poll(q)).isEmpty();
        q.add(new long[] {1}, new int[] {4}, 0, 1, 1); // and adding there overwrites it
        assertThat(poll(q)).isEmpty();
        d4.take();
        d4.usedPos = 0; // the bogus entry moved the test device on; a used entry for position 0 now
        d4.use(0xFFFF, 1, 1);
        assertThatThrownBy(() -> poll(q)).isInstanceOf(VirtqueueException.class).hasMessageContaining("buffer id 65535");
    }

    @Test
    void fullRingRefusesAndResumedIndicesCarryTheWrapCounter() throws Exception {
        int size = 4;
        MemorySegment mem = segment(size, 0);
        DriverQueue q = new DriverQueue(0, size, mem, GPA, PACKED, 0);
        assertThatThrownBy(() -> q.add(new long[5], new int[5], 5, 0, 1)).isInstanceOf(IllegalArgumentException.class);
        q.add(new long[3], new int[3], 3, 0, 1);
        assertThat(q.add(new long[2], new int[2], 2, 0, 2)).isEqualTo(-1);
        assertThat(q.numFree()).isEqualTo(1);
        assertThat(q.usedDistance(0x8003)).isEqualTo(3);
        assertThat(q.usedDistance(0x8000)).isZero();
        assertThat(q.usedDistance(0x0003)).as("other lap").isEqualTo(-1);

        // resume at position 2 with wrap counter 0: the device continues from there
        q.reset(2);
        assertThat(q.availIdx()).isEqualTo(2);
        Device dev = new Device(mem, size, 2);
        for (int i = 0; i < 20; i++) {
            q.add(new long[] {i}, new int[] {1}, 1, 0, i);
            Taken t = dev.take();
            assertThat(t).isNotNull();
            dev.use(t, 0);
            assertThat(poll(q)).singleElement().satisfies(u -> assertThat(u[0]).isEqualTo(t.bufs().get(0)[0]));
        }
        assertThat(q.availIdx()).isEqualTo((2 + 20) % 4 | ((22 / 4) % 2 == 0 ? 0 : 1 << 15));
        assertThatThrownBy(() -> q.reset(0x8004)).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("position 4");
    }

    private long allocSink;

    @Test
    void addPublishKickAndPollAllocateNothing() throws Exception {
        var mx = (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
        int size = 64;
        long features = PACKED | VirtioFeatures.bit(VirtioFeatures.F_EVENT_IDX) | VirtioFeatures.bit(VirtioFeatures.F_INDIRECT_DESC);
        MemorySegment mem = segment(size, 2);
        DriverQueue q = new DriverQueue(0, size, mem, GPA, features, 2);
        long[] addrs = {0x1000, 0x2000, 0x3000};
        int[] lens = {16, 4096, 1};
        DriverQueue.UsedHandler h = (token, len) -> allocSink += token + len;
        int[] pos = {0};
        int[] wrap = {1};
        long allocated = Long.MAX_VALUE;
        // the JIT needs a few rounds to compile the path; interpreted VarHandle calls may allocate
        for (int round = 0; round < 30 && allocated >= 1024; round++) {
            long before = mx.getCurrentThreadAllocatedBytes();
            for (int i = 0; i < 20_000; i++) {
                int a = q.addDeferred(addrs, lens, 1, 2, i); // 3 buffers: 3 direct descriptors
                int b = q.addDeferred(addrs, lens, 2, 0, i); // 2 buffers: one indirect descriptor
                q.publish();
                q.kickNeeded();
                // the device uses b then a (ids out of order), one used descriptor each
                usedInPlace(mem, size, pos, wrap, b, 0, 1);
                usedInPlace(mem, size, pos, wrap, a, 4097, 3);
                if (q.pollUsed(h) != 2) {
                    throw new AssertionError("two used buffers expected at round " + i);
                }
            }
            allocated = mx.getCurrentThreadAllocatedBytes() - before;
        }
        assertThat(allocSink).isNotZero();
        assertThat(allocated).as("bytes allocated by 40000 buffers").isLessThan(1024);
    }

    /** A device's used descriptor written without allocating: at pos[0] with wrap[0], advancing by {@code descs}. */
    private static void usedInPlace(MemorySegment mem, int size, int[] pos, int[] wrap, int id, int len, int descs) {
        long d = pos[0] * 16L;
        mem.set(I, d + 8, len);
        mem.set(S, d + 12, (short) id);
        mem.set(S, d + 14, (short) (wrap[0] == 1 ? AVAIL | USED : 0));
        pos[0] += descs;
        if (pos[0] >= size) {
            pos[0] -= size;
            wrap[0] ^= 1;
        }
    }
}
