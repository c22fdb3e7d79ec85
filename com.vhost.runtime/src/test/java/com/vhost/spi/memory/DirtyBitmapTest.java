package com.vhost.spi.memory;

import static org.assertj.core.api.Assertions.assertThat;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.BitSet;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The dirty log's bit layout (one bit per 4 KiB page, page p = bit p % 8 of byte p / 8), its
 * bounds, that marks made while the reader clears are never lost, and {@link WriteLog}'s on/off
 * rule (a bitmap and LOG_ALL both needed).
 */
@Timeout(30)
class DirtyBitmapTest {
    private static BitSet range(int from, int toInclusive) {
        BitSet b = new BitSet();
        b.set(from, toInclusive + 1);
        return b;
    }

    @Test
    void sizesCoverTheGuestMemoryInWholeWords() {
        assertThat(DirtyBitmap.bytesFor(1 << 20)).isEqualTo(32);
        assertThat(DirtyBitmap.bytesFor(1)).isEqualTo(8);
        assertThat(DirtyBitmap.bytesFor(4096L * 64 + 1)).isEqualTo(16);
        assertThat(DirtyBitmap.bytesFor(4L << 30)).isEqualTo(128 << 10); // 4 GiB: 1 Mi pages, 128 KiB
    }

    @Test
    void marksSetThePagesBitsAcrossWordsAndSyncClearsThem() {
        MemorySegment m = Arena.ofAuto().allocate(64, 8);
        DirtyBitmap b = new DirtyBitmap(m, 0, 64);
        b.mark(60 * 4096L + 4000, 11 * 4096L); // page 60 to page 71 (its first bytes)
        b.mark(0, 1);
        b.mark(5 * 4096L, 0); // nothing
        assertThat(m.get(java.lang.foreign.ValueLayout.JAVA_BYTE, 0)).isEqualTo((byte) 1);
        assertThat(b.isDirty(60)).isTrue();
        assertThat(b.isDirty(72)).isFalse();
        BitSet expected = range(60, 71);
        expected.set(0);
        assertThat(b.syncAndClear()).isEqualTo(expected);
        assertThat(b.syncAndClear().isEmpty()).isTrue();
        assertThat(m.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE)).containsOnly((byte) 0);
        assertThat(b.missed()).isZero();
    }

    @Test
    void marksPastTheEndAreDroppedAndCountedAndAClosedLogIsNotTouched() {
        Arena arena = Arena.ofShared();
        MemorySegment m = arena.allocate(8, 8);
        DirtyBitmap b = new DirtyBitmap(m, 0, 8); // 64 pages
        b.mark(63 * 4096L, 2 * 4096L);
        b.mark(1L << 40, 4096);
        b.mark(-4096L, 8192); // wraps past 2^64
        assertThat(b.missed()).isEqualTo(3);
        assertThat(b.syncAndClear()).isEqualTo(range(63, 63));
        arena.close();
        b.mark(0, 4096); // the mapping went away (a newer log replaced it): a no-op, not a fault
    }

    @Test
    void marksMadeWhileTheReaderClearsAreNeverLost() throws Exception {
        MemorySegment m = Arena.ofAuto().allocate(256, 8);
        DirtyBitmap b = new DirtyBitmap(m, 0, 256); // 2048 pages
        AtomicBoolean done = new AtomicBoolean();
        BitSet seen = new BitSet();
        Thread reader = Thread.ofPlatform().start(() -> {
            while (!done.get()) {
                seen.or(b.syncAndClear());
            }
        });
        Thread[] writers = new Thread[2];
        for (int w = 0; w < writers.length; w++) {
            int first = w;
            writers[w] = Thread.ofPlatform().start(() -> {
                for (int p = first; p < 2048; p += 2) {
                    b.mark(p * 4096L, 1);
                }
            });
        }
        for (Thread t : writers) {
            t.join(10_000);
        }
        done.set(true);
        reader.join(10_000);
        seen.or(b.syncAndClear());
        assertThat(seen).isEqualTo(range(0, 2047));
    }

    @Test
    void aWriteLogIsActiveOnlyWithABitmapAndLogAll() {
        WriteLog log = new WriteLog(2);
        DirtyBitmap b = new DirtyBitmap(Arena.ofAuto().allocate(8, 8), 0, 8);
        assertThat(log.active()).isNull();
        log.setLogAll(true);
        assertThat(log.active()).isNull();
        assertThat(log.setBitmap(b)).isNull();
        assertThat(log.active()).isSameAs(b);
        log.setLogAll(false);
        assertThat(log.active()).isNull();
        assertThat(log.usedLog(1)).isEqualTo(-1);
        log.setUsedLog(1, 0x2000);
        assertThat(log.usedLog(1)).isEqualTo(0x2000);
        assertThat(log.usedLog(7)).isEqualTo(-1);
        assertThat(WriteLog.OFF.active()).isNull();
    }
}
