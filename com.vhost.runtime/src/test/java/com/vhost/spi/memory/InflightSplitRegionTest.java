package com.vhost.spi.memory;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import org.junit.jupiter.api.Test;

/** The split-ring inflight bookkeeping of vhost-user's "Inflight I/O tracking". */
class InflightSplitRegionTest {
    private static final ValueLayout.OfShort LE16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong LE64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final int SIZE = 8;

    private final MemorySegment region = Arena.ofAuto().allocate(InflightSplitRegion.queueBytes(SIZE));

    private static int[] drain(InflightSplitRegion r) {
        int[] out = new int[r.inflightAtOpen()];
        for (int i = 0; i < out.length; i++) {
            out[i] = r.nextResubmit();
        }
        assertThat(r.nextResubmit()).isEqualTo(-1);
        return out;
    }

    /** Pre-put, the used ring publishing {@code usedIdx}, post-put: one complete completion. */
    private static void complete(InflightSplitRegion r, int head, int usedIdx) {
        r.prePut(head);
        r.postPut(head, usedIdx);
    }

    @Test
    void queueBytesFollowsLibvhostUser() {
        assertThat(InflightSplitRegion.queueBytes(1)).isEqualTo(64);
        assertThat(InflightSplitRegion.queueBytes(128)).isEqualTo(2112);
        assertThat(InflightSplitRegion.queueBytes(256)).isEqualTo(4160);
        for (int q = 1; q <= 1024; q++) {
            assertThat(InflightSplitRegion.queueBytes(q)).isGreaterThanOrEqualTo(16L + 16L * q).matches(b -> b % 64 == 0);
        }
        assertThatThrownBy(() -> InflightSplitRegion.queueBytes(0)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void newRegionIsInitialisedAndResubmitsNothing() {
        InflightSplitRegion r = InflightSplitRegion.open(region, SIZE, 42);
        assertThat(region.get(LE16, 8)).isEqualTo((short) 1);
        assertThat(region.get(LE16, 10)).isEqualTo((short) SIZE);
        assertThat(r.usedIdx()).isEqualTo(42);
        assertThat(r.inflightAtOpen()).isZero();
        assertThat(r.hasResubmit()).isFalse();
    }

    @Test
    void resubmitsExactlyTheUncompletedHeadsInCounterOrder() {
        InflightSplitRegion r = InflightSplitRegion.open(region, SIZE, 0);
        int[] popped = {5, 1, 7, 3, 0};
        for (int h : popped) {
            r.markPopped(h);
        }
        complete(r, 1, 1); // out of order: the second and fourth popped finish first
        complete(r, 3, 2);
        assertThat(r.isInflight(5)).isTrue();
        assertThat(r.isInflight(1)).isFalse();

        InflightSplitRegion again = InflightSplitRegion.open(region, SIZE, 2);
        assertThat(drain(again)).containsExactly(5, 7, 0);
        // counters go on after the highest seen, so a second restart keeps the order
        again.markPopped(2);
        assertThat(region.get(LE64, 16 + 16 * 2 + 8)).isEqualTo(5L);
        complete(again, 7, 3);
        assertThat(drain(InflightSplitRegion.open(region, SIZE, 3))).containsExactly(5, 0, 2);
    }

    @Test
    void usedIdxPublishedButNotRecordedClearsTheLastBatch() {
        InflightSplitRegion r = InflightSplitRegion.open(region, SIZE, 10);
        r.markPopped(2);
        r.markPopped(4);
        r.prePut(4);
        // the used ring now says 11 (element for head 4 published), then the back-end died
        InflightSplitRegion again = InflightSplitRegion.open(region, SIZE, 11);
        assertThat(again.usedIdx()).isEqualTo(11);
        assertThat(again.isInflight(4)).isFalse();
        assertThat(drain(again)).containsExactly(2);
    }

    @Test
    void killedBeforeTheUsedRingMovedResubmitsTheHead() {
        InflightSplitRegion r = InflightSplitRegion.open(region, SIZE, 10);
        r.markPopped(2);
        r.prePut(2);
        InflightSplitRegion again = InflightSplitRegion.open(region, SIZE, 10);
        assertThat(drain(again)).containsExactly(2);
    }

    @Test
    void hostileValuesAreRefusedByName() {
        InflightSplitRegion.open(region, SIZE, 0);
        assertThat(InflightSplitRegion.check(region, SIZE)).isNull();
        assertThat(InflightSplitRegion.check(region, 16)).contains("needs 320");
        assertThat(InflightSplitRegion.check(region.asSlice(0, 100), SIZE)).isEqualTo("region of 100 bytes, needs 192 for queue size 8");

        region.set(LE16, 10, (short) 4);
        assertThat(InflightSplitRegion.check(region, SIZE)).isEqualTo("desc_num 4 is not the queue size 8");
        assertThatThrownBy(() -> InflightSplitRegion.open(region, SIZE, 0)).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("inflight region: desc_num 4 is not the queue size 8");
        region.set(LE16, 10, (short) SIZE);

        region.set(ValueLayout.JAVA_BYTE, 16 + 16 * 3, (byte) 9);
        assertThat(InflightSplitRegion.check(region, SIZE)).isEqualTo("entry 3: inflight 9 is neither 0 nor 1");
        region.set(ValueLayout.JAVA_BYTE, 16 + 16 * 3, (byte) 0);

        region.set(LE16, 12, (short) 300);
        assertThat(InflightSplitRegion.check(region, SIZE)).isEqualTo("last_batch_head 300 is not below the queue size 8");
        region.set(LE16, 12, (short) 0);

        region.set(LE16, 8, (short) 7);
        assertThat(InflightSplitRegion.check(region, SIZE)).isEqualTo("version 7 is not 0 or 1");
    }

    @Test
    void aNewRegionIgnoresGarbageInItsEntries() {
        region.fill((byte) 0x5A);
        region.set(LE16, 8, (short) 0);
        InflightSplitRegion r = InflightSplitRegion.open(region, SIZE, 0);
        assertThat(r.inflightAtOpen()).isZero();
        for (int i = 0; i < SIZE; i++) {
            assertThat(r.isInflight(i)).isFalse();
        }
    }
}
