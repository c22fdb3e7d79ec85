package com.vhost.user.backend.session;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.vhost.spi.nativeio.Linux;
import com.vhost.spi.nativeio.OwnedFd;
import com.vhost.spi.nativeio.SharedMemory;
import java.lang.foreign.ValueLayout;
import java.util.BitSet;
import org.junit.jupiter.api.Test;

/**
 * SET_LOG_BASE's log as the back-end maps it ({@link MappedLog}): the fd is checked as memory
 * regions' fds are (kind, size against offset + size) and refused naming the problem; an accepted
 * log is marked where the front-end sees it, also at an offset that is not 8-byte aligned.
 */
class MappedLogTest {
    @Test
    void anFdThatIsNoFileOrIsTooShortIsRefusedNamingWhy() throws Exception {
        int[] pipe = Linux.pipe();
        try (OwnedFd write = new OwnedFd(pipe[1])) {
            assertThatThrownBy(() -> MappedLog.map(32, 0, new OwnedFd(pipe[0]))).isInstanceOf(Refusal.class)
                    .hasMessageStartingWith("dirty log (mmap_offset 0x0, mmap_size 0x20): its fd (a pipe (pipe:[")
                    .hasMessageEndingWith(") is not a regular file or memfd");
        }
        assertThatThrownBy(() -> MappedLog.map(8192, 0, memfd(4096))).isInstanceOf(Refusal.class)
                .hasMessage("dirty log (mmap_offset 0x0, mmap_size 0x2000) reaches past the end of its fd (fd size 0x1000)");
        assertThatThrownBy(() -> MappedLog.map(32, 4090, memfd(4096))).isInstanceOf(Refusal.class)
                .hasMessageContaining("reaches past the end of its fd");
        assertThatThrownBy(() -> MappedLog.map(0, 0, memfd(4096))).isInstanceOf(Refusal.class).hasMessageContaining("MAX_LOG_BYTES");
        assertThatThrownBy(() -> MappedLog.map(SessionLimits.MAX_LOG_BYTES + 1, 0, memfd(4096)))
                .isInstanceOf(Refusal.class).hasMessageContaining("size must be 1..0x2000000 bytes (MAX_LOG_BYTES, 32 MiB)");
    }

    private static OwnedFd memfd(long size) throws Exception {
        int fd = Linux.memfdCreate("log");
        Linux.ftruncate(fd, size);
        return new OwnedFd(fd);
    }

    @Test
    void anAcceptedLogIsMarkedWhereTheFrontEndSeesItAtAnUnalignedOffset() throws Exception {
        OwnedFd fd = memfd(8192);
        try (SharedMemory front = SharedMemory.map(fd.fd(), 0, 8192)) {
            // bytes around the log (offset 4100, 32 bytes) are not the back-end's to change
            front.segment().set(ValueLayout.JAVA_BYTE, 4099, (byte) 0xA5);
            front.segment().set(ValueLayout.JAVA_BYTE, 4132, (byte) 0x5A);
            try (MappedLog log = MappedLog.map(32, 4100, fd)) {
                assertThat(fd.fd()).as("the fd is closed once mapped").isNegative();
                assertThat(log.bitmap().pages()).isEqualTo(256);
                log.bitmap().mark(9 * 4096L + 100, 1); // page 9: byte 1, bit 1
                log.bitmap().mark(14 * 4096L, 3 * 4096L); // pages 14, 15 (byte 1), 16 (byte 2)
                log.bitmap().mark(255 * 4096L, 2 * 4096L); // page 255, then past the end: counted
                assertThat(front.segment().get(ValueLayout.JAVA_BYTE, 4101)).isEqualTo((byte) (0x02 | 0x40 | 0x80));
                assertThat(front.segment().get(ValueLayout.JAVA_BYTE, 4102)).isEqualTo((byte) 0x01);
                assertThat(front.segment().get(ValueLayout.JAVA_BYTE, 4131)).isEqualTo((byte) 0x80);
                assertThat(log.bitmap().missed()).isEqualTo(1);
                BitSet expected = new BitSet();
                expected.set(9);
                expected.set(14, 17);
                expected.set(255);
                assertThat(log.bitmap().syncAndClear()).isEqualTo(expected);
                assertThat(log.bitmap().syncAndClear().isEmpty()).isTrue();
            }
            assertThat(front.segment().get(ValueLayout.JAVA_BYTE, 4099)).isEqualTo((byte) 0xA5);
            assertThat(front.segment().get(ValueLayout.JAVA_BYTE, 4132)).isEqualTo((byte) 0x5A);
        }
    }

    /**
     * The class of the fault CI found (a JVM crash, SIGSEGV in an atomic OR on an unmapped log): logs
     * replaced and unmapped again and again while two threads mark them as queue workers do. Every
     * mark lands in a mapped log; the replaced ones are unmapped once their marks are done.
     */
    @Test
    void logsReplacedWhileQueuesMarkThemAreNeverUnmappedUnderAMark() throws Exception {
        com.vhost.spi.memory.WriteLog wl = new com.vhost.spi.memory.WriteLog(1);
        wl.setLogAll(true);
        MappedLog current = MappedLog.map(4096, 0, memfd(4096));
        wl.setBitmap(current.bitmap());
        java.util.concurrent.atomic.AtomicBoolean run = new java.util.concurrent.atomic.AtomicBoolean(true);
        java.util.concurrent.atomic.AtomicLong marks = new java.util.concurrent.atomic.AtomicLong();
        Thread[] markers = new Thread[2];
        for (int t = 0; t < markers.length; t++) {
            long seed = t;
            markers[t] = Thread.ofPlatform().start(() -> {
                java.util.SplittableRandom r = new java.util.SplittableRandom(seed);
                while (run.get()) {
                    com.vhost.spi.memory.DirtyBitmap b = wl.acquire();
                    if (b != null) {
                        try {
                            b.mark(r.nextLong(4096 * 8) * 4096L, 4096 * 3);
                            marks.incrementAndGet();
                        } finally {
                            b.exit();
                        }
                    }
                }
            });
        }
        try {
            for (int i = 0; i < 300; i++) {
                MappedLog next = MappedLog.map(4096, 0, memfd(4096));
                wl.setBitmap(next.bitmap());
                current.close();
                current = next;
            }
        } finally {
            run.set(false);
            for (Thread t : markers) {
                t.join(10_000);
            }
            wl.setBitmap(null);
            current.close();
        }
        assertThat(marks.get()).as("the markers ran").isPositive();
    }
}
