package com.vhost.spi.memory;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.lang.foreign.Arena;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;

/** The packed-ring inflight bookkeeping of vhost-user's "Inflight I/O tracking". */
class InflightPackedRegionTest {
    private static final ValueLayout.OfShort LE16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final int SIZE = 8;
    private static final int F_AVAIL = 1 << 7;
    private static final int F_USED = 1 << 15;

    /** The spec's {@code DescStatePacked}, field by field, C layout. */
    static final StructLayout DESC_STATE_PACKED = MemoryLayout.structLayout(
            ValueLayout.JAVA_BYTE.withName("inflight"), ValueLayout.JAVA_BYTE.withName("padding"),
            ValueLayout.JAVA_SHORT.withName("next"), ValueLayout.JAVA_SHORT.withName("last"),
            ValueLayout.JAVA_SHORT.withName("num"), ValueLayout.JAVA_LONG.withName("counter"),
            ValueLayout.JAVA_SHORT.withName("id"), ValueLayout.JAVA_SHORT.withName("flags"),
            ValueLayout.JAVA_INT.withName("len"), ValueLayout.JAVA_LONG.withName("addr"));
    /** The spec's {@code QueueRegionPacked} header (its flexible {@code desc[]} aligned to 8, as C places it). */
    static final StructLayout QUEUE_REGION_PACKED = MemoryLayout.structLayout(
            ValueLayout.JAVA_LONG.withName("features"), ValueLayout.JAVA_SHORT.withName("version"),
            ValueLayout.JAVA_SHORT.withName("desc_num"), ValueLayout.JAVA_SHORT.withName("free_head"),
            ValueLayout.JAVA_SHORT.withName("old_free_head"), ValueLayout.JAVA_SHORT.withName("used_idx"),
            ValueLayout.JAVA_SHORT.withName("old_used_idx"), ValueLayout.JAVA_BYTE.withName("used_wrap_counter"),
            ValueLayout.JAVA_BYTE.withName("old_used_wrap_counter"),
            MemoryLayout.sequenceLayout(7, ValueLayout.JAVA_BYTE).withName("padding"), MemoryLayout.paddingLayout(3));

    private final MemorySegment region = Arena.ofAuto().allocate(InflightPackedRegion.queueBytes(SIZE));
    /** A stand-in packed descriptor ring (only the flags at the old used position are read). */
    private final MemorySegment ring = Arena.ofAuto().allocate(16L * SIZE);

    private static long off(StructLayout l, String field) {
        return l.byteOffset(groupElement(field));
    }

    @Test
    void layoutIsTheSpecs() {
        assertThat(DESC_STATE_PACKED.byteSize()).isEqualTo(InflightPackedRegion.DESC_BYTES).isEqualTo(32);
        assertThat(QUEUE_REGION_PACKED.byteSize()).isEqualTo(InflightPackedRegion.HEADER_BYTES).isEqualTo(32);
        assertThat(off(QUEUE_REGION_PACKED, "features")).isEqualTo(InflightPackedRegion.FEATURES_OFF);
        assertThat(off(QUEUE_REGION_PACKED, "version")).isEqualTo(InflightPackedRegion.VERSION_OFF);
        assertThat(off(QUEUE_REGION_PACKED, "desc_num")).isEqualTo(InflightPackedRegion.DESC_NUM_OFF);
        assertThat(off(QUEUE_REGION_PACKED, "free_head")).isEqualTo(InflightPackedRegion.FREE_HEAD_OFF);
        assertThat(off(QUEUE_REGION_PACKED, "old_free_head")).isEqualTo(InflightPackedRegion.OLD_FREE_HEAD_OFF);
        assertThat(off(QUEUE_REGION_PACKED, "used_idx")).isEqualTo(InflightPackedRegion.USED_IDX_OFF);
        assertThat(off(QUEUE_REGION_PACKED, "old_used_idx")).isEqualTo(InflightPackedRegion.OLD_USED_IDX_OFF);
        assertThat(off(QUEUE_REGION_PACKED, "used_wrap_counter")).isEqualTo(InflightPackedRegion.USED_WRAP_OFF);
        assertThat(off(QUEUE_REGION_PACKED, "old_used_wrap_counter")).isEqualTo(InflightPackedRegion.OLD_USED_WRAP_OFF);
        assertThat(off(DESC_STATE_PACKED, "inflight")).isEqualTo(InflightPackedRegion.D_INFLIGHT);
        assertThat(off(DESC_STATE_PACKED, "next")).isEqualTo(InflightPackedRegion.D_NEXT);
        assertThat(off(DESC_STATE_PACKED, "last")).isEqualTo(InflightPackedRegion.D_LAST);
        assertThat(off(DESC_STATE_PACKED, "num")).isEqualTo(InflightPackedRegion.D_NUM);
        assertThat(off(DESC_STATE_PACKED, "counter")).isEqualTo(InflightPackedRegion.D_COUNTER);
        assertThat(off(DESC_STATE_PACKED, "id")).isEqualTo(InflightPackedRegion.D_ID);
        assertThat(off(DESC_STATE_PACKED, "flags")).isEqualTo(InflightPackedRegion.D_FLAGS);
        assertThat(off(DESC_STATE_PACKED, "len")).isEqualTo(InflightPackedRegion.D_LEN);
        assertThat(off(DESC_STATE_PACKED, "addr")).isEqualTo(InflightPackedRegion.D_ADDR);
    }

    @Test
    void queueBytesIsHeaderAndEntriesAlignedTo64() {
        assertThat(InflightPackedRegion.queueBytes(1)).isEqualTo(64);
        assertThat(InflightPackedRegion.queueBytes(128)).isEqualTo(4160);
        assertThat(InflightPackedRegion.queueBytes(256)).isEqualTo(8256);
        for (int q = 1; q <= 1024; q++) {
            // DPDK: 32 * n + 8 + 2 * 6 + 9, rounded up to 64
            long dpdk = (32L * q + 29 + 63) & -64L;
            assertThat(InflightPackedRegion.queueBytes(q)).isEqualTo(dpdk);
        }
        assertThatThrownBy(() -> InflightPackedRegion.queueBytes(0)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> InflightPackedRegion.queueBytes(32769)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void newRegionIsInitialisedAtTheBaseAndResubmitsNothing() {
        InflightPackedRegion r = InflightPackedRegion.open(region, SIZE, 0x8003, ring);
        assertThat(region.get(LE16, 8)).isEqualTo((short) 1);
        assertThat(region.get(LE16, 10)).isEqualTo((short) SIZE);
        assertThat(r.usedPosition()).isEqualTo(0x8003);
        assertThat(r.availPosition()).isEqualTo(0x8003);
        assertThat(r.inflightAtOpen()).isZero();
        assertThat(r.hasResubmit()).isFalse();
        for (int i = 0; i < SIZE; i++) {
            assertThat(r.next(i)).isEqualTo(i + 1);
        }
    }

    /** Takes a chain of {@code n} descriptors with buffer id {@code id}; @return its head entry. */
    private final java.util.Map<Integer, Integer> lastOf = new java.util.HashMap<>();

    private int take(InflightPackedRegion r, int id, int n) {
        int h = r.beginChain();
        for (int i = 0; i < n; i++) {
            int e = r.addDescriptor(0x1000L * (id + 1) + i, 10 + i, i == n - 1 ? id : 0, i == n - 1 ? 2 : 1, i == n - 1);
            lastOf.put(h, e);
        }
        return h;
    }

    private void writeUsedFlags(int pos, boolean wrap) {
        ring.set(LE16, 16L * pos + 14, (short) (wrap ? F_AVAIL | F_USED : 0));
    }

    private void writeAvailFlags(int pos, boolean wrap) {
        ring.set(LE16, 16L * pos + 14, (short) (wrap ? F_AVAIL : F_USED));
    }

    @Test
    void reopenResubmitsTheChainsInFlightInCounterOrderWithTheirDescriptors() {
        InflightPackedRegion r = InflightPackedRegion.open(region, SIZE, 0x8000, ring);
        for (int p = 0; p < SIZE; p++) {
            writeAvailFlags(p, true);
        }
        int a = take(r, 4, 2); // ring 0-1
        int b = take(r, 1, 1); // ring 2
        int c = take(r, 6, 3); // ring 3-5
        // b completes first: used descriptor at ring 0, used position 1
        r.used(b, lastOf.get(b), 0x8001);
        writeUsedFlags(0, true);
        r.usedPublished(b);

        InflightPackedRegion again = InflightPackedRegion.open(region, SIZE, 0, ring);
        assertThat(again.inflightAtOpen()).isEqualTo(2);
        assertThat(again.usedPosition()).isEqualTo(0x8001);
        assertThat(again.availPosition()).isEqualTo(0x8006); // 1 + 2 + 3 descriptors in flight
        int first = again.nextResubmit();
        int second = again.nextResubmit();
        assertThat(again.nextResubmit()).isEqualTo(-1);
        assertThat(first).isEqualTo(a);
        assertThat(second).isEqualTo(c);
        assertThat(again.num(first)).isEqualTo(2);
        assertThat(again.addr(first)).isEqualTo(0x5000L);
        assertThat(again.len(again.next(first))).isEqualTo(11);
        assertThat(again.id(again.next(first))).isEqualTo(4);
        assertThat(again.num(second)).isEqualTo(3);
        int e = second;
        for (int i = 0; i < 2; i++) {
            e = again.next(e);
        }
        assertThat(again.id(e)).isEqualTo(6);
        assertThat(again.flags(e)).isEqualTo(2);
        // the free list holds the other 3 entries: exactly 3 more descriptors fit
        int d = take(again, 2, 3);
        assertThat(d).isNotIn(first, second);
        assertThatThrownBy(() -> again.beginChain()).isInstanceOf(IllegalStateException.class);
    }

    @Test
    void aUsedUpdateCutShortIsRolledBackUnlessItsFlagsWereWritten() {
        InflightPackedRegion r = InflightPackedRegion.open(region, SIZE, 0x8000, ring);
        for (int p = 0; p < SIZE; p++) {
            writeAvailFlags(p, true);
        }
        take(r, 0, 1);
        int b = take(r, 1, 2);
        // killed after the region moved, before the used flags: rolled back, both still in flight
        r.used(b, lastOf.get(b), 0x8002);
        InflightPackedRegion rolled = InflightPackedRegion.open(region, SIZE, 0, ring);
        assertThat(rolled.inflightAtOpen()).isEqualTo(2);
        assertThat(rolled.usedPosition()).isEqualTo(0x8000);

        // killed after the used flags, before inflight = 0: committed, b is no longer in flight
        rolled.used(b, lastOf.get(b), 0x8002);
        writeUsedFlags(0, true);
        InflightPackedRegion committed = InflightPackedRegion.open(region, SIZE, 0, ring);
        assertThat(committed.inflightAtOpen()).isEqualTo(1);
        assertThat(committed.usedPosition()).isEqualTo(0x8002);
        assertThat(committed.availPosition()).isEqualTo(0x8003);
        assertThat(committed.id(committed.nextResubmit())).isEqualTo(0);
    }

    @Test
    void aChainCutShortWhileTakenIsNotResubmitted() {
        InflightPackedRegion r = InflightPackedRegion.open(region, SIZE, 0x8000, ring);
        take(r, 3, 1);
        int h = r.beginChain();
        r.addDescriptor(0x9000, 1, 0, 1, false); // killed before the last descriptor
        InflightPackedRegion again = InflightPackedRegion.open(region, SIZE, 0, ring);
        assertThat(again.inflightAtOpen()).isEqualTo(1);
        assertThat(again.availPosition()).isEqualTo(0x8001);
        assertThat(again.isInflight(h)).isFalse();
    }

    private void hostile(Consumer<MemorySegment> corrupt, String message) {
        MemorySegment fresh = Arena.ofAuto().allocate(InflightPackedRegion.queueBytes(SIZE));
        InflightPackedRegion r = InflightPackedRegion.open(fresh, SIZE, 0x8000, ring);
        take(r, 5, 2);
        take(r, 2, 1);
        corrupt.accept(fresh);
        assertThatThrownBy(() -> InflightPackedRegion.open(fresh, SIZE, 0x8000, ring)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining(message);
    }

    private static long entry(int e) {
        return InflightPackedRegion.HEADER_BYTES + 32L * e;
    }

    @Test
    void hostileRegionsAreRefusedNamingTheField() {
        hostile(s -> s.set(LE16, 8, (short) 2), "version 2 is not 0 or 1");
        hostile(s -> s.set(LE16, 10, (short) 16), "desc_num 16 is not the queue size 8");
        hostile(s -> s.set(LE16, 12, (short) 9), "free_head 9 is not in 0..8");
        hostile(s -> s.set(LE16, 14, (short) 0x7FFF), "old_free_head 32767 is not in 0..8");
        hostile(s -> s.set(LE16, 16, (short) 8), "used_idx 8 is not below the queue size 8");
        hostile(s -> s.set(LE16, 18, (short) 100), "old_used_idx 100 is not below the queue size 8");
        hostile(s -> s.set(ValueLayout.JAVA_BYTE, 20, (byte) 2), "used_wrap_counter 2 is not 0 or 1");
        hostile(s -> s.set(ValueLayout.JAVA_BYTE, 21, (byte) 9), "old_used_wrap_counter 9 is not 0 or 1");
        hostile(s -> s.set(ValueLayout.JAVA_BYTE, entry(4), (byte) 3), "desc[4].inflight 3 is neither 0 nor 1");
        hostile(s -> s.set(LE16, entry(0) + 6, (short) 0), "desc[0].num 0 is not in 1..8");
        hostile(s -> s.set(LE16, entry(0) + 6, (short) 9), "desc[0].num 9 is not in 1..8");
        hostile(s -> s.set(LE16, entry(0) + 2, (short) 8), "desc[0].next 8 is not below the queue size 8");
        hostile(s -> s.set(LE16, entry(0) + 4, (short) 5), "desc[0].last 5 is not the chain's last entry 1");
        hostile(s -> s.set(LE16, entry(2) + 16, (short) 5), "buffer id 5 is in two chains in flight");
        hostile(s -> s.set(LE16, entry(1) + 16, (short) 8), "desc[1].id 8 is not below the queue size 8");
        // the second chain claims the first chain's second entry
        hostile(s -> {
            s.set(LE16, entry(2) + 6, (short) 2);
            s.set(LE16, entry(2) + 2, (short) 1);
        }, "entry 1 is in two chains in flight");
        // the chains would hold 2 + 8 of the 8 ring descriptors
        hostile(s -> s.set(LE16, entry(2) + 6, (short) 8), "desc[2].num 8 is not in 1..6");
        assertThat(InflightPackedRegion.check(Arena.ofAuto().allocate(100), SIZE)).isEqualTo(
                "region of 100 bytes, needs 320 for queue size 8");
        assertThat(InflightPackedRegion.check(region, 0)).contains("inflight queue size 0");
    }

    @Test
    void aCycleInTheFreeListEndsTheWalk() {
        InflightPackedRegion r = InflightPackedRegion.open(region, SIZE, 0x8000, ring);
        take(r, 1, 1);
        for (int e = 1; e < SIZE; e++) {
            region.set(LE16, entry(e) + 2, (short) 1); // every free entry points at entry 1
        }
        InflightPackedRegion again = InflightPackedRegion.open(region, SIZE, 0, ring);
        assertThat(again.inflightAtOpen()).isEqualTo(1);
        assertThat(again.nextResubmit()).isZero();
        for (int e = 1; e < SIZE; e++) {
            assertThat(again.next(e)).isEqualTo(e + 1); // rebuilt
        }
    }

    @Test
    void countsTheEntriesMarkedInFlight() {
        assertThat(InflightPackedRegion.countInflight(region, SIZE)).isZero();
        InflightPackedRegion r = InflightPackedRegion.open(region, SIZE, 0x8000, ring);
        take(r, 1, 3);
        take(r, 2, 1);
        assertThat(InflightPackedRegion.countInflight(region, SIZE)).isEqualTo(2);
    }
}
