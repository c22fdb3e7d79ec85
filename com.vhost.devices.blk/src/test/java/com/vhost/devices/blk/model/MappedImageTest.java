package com.vhost.devices.blk.model;

import static org.assertj.core.api.Assertions.assertThat;

import com.vhost.spi.nativeio.SharedMemory;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** The in-memory model's mapped image: copies instead of pread/pwrite, unwritten pages read as zeroes. */
class MappedImageTest {
    private static final long SIZE = 64 * 1024;

    @Test
    void readsWhatWasWrittenAndZeroesElsewhereAcrossPages() throws Exception {
        try (SharedMemory shm = SharedMemory.create("mapped-image-test", SIZE); Arena arena = Arena.ofConfined()) {
            FileStore store = FileStore.mapped("memfd:test", shm.fd(), shm.segment());
            MemorySegment src = arena.allocate(6000);
            for (int i = 0; i < 6000; i++) {
                src.set(ValueLayout.JAVA_BYTE, i, (byte) (i * 7 + 1));
            }
            store.pwriteFully(src.address(), 6000, 4096 + 1000); // pages 1 and 2, partly
            MemorySegment dst = arena.allocate(4 * 4096);
            dst.fill((byte) 0x55);
            assertThat(store.preadFully(dst.address(), dst.byteSize(), 0)).isEqualTo(dst.byteSize());
            for (int i = 0; i < dst.byteSize(); i++) {
                long at = i - (4096 + 1000);
                byte want = at >= 0 && at < 6000 ? (byte) (at * 7 + 1) : 0;
                assertThat(dst.get(ValueLayout.JAVA_BYTE, i)).as("byte %d", i).isEqualTo(want);
            }
            // the same bytes through the fd (pread past the mapping's use): the memfd holds them
            MemorySegment viaFd = arena.allocate(6000);
            assertThat(FileStore.borrow("memfd:test", shm.fd()).preadFully(viaFd.address(), 6000, 5096)).isEqualTo(6000);
            assertThat(viaFd.mismatch(src)).isEqualTo(-1);
            // a range past the end goes to the fd: end of file, a short count
            assertThat(store.preadFully(dst.address(), 4096, SIZE - 1024)).isEqualTo(1024);
        }
    }

    @Test
    void aReadOfPagesNeverWrittenDoesNotFaultThemIn() throws Exception {
        long size = 8L << 20;
        try (SharedMemory shm = SharedMemory.create("mapped-image-test", size); Arena arena = Arena.ofConfined()) {
            FileStore store = FileStore.mapped("memfd:test", shm.fd(), shm.segment());
            MemorySegment dst = arena.allocate(size);
            dst.fill((byte) 1);
            long before = rssShmemKb();
            store.preadFully(dst.address(), size, 0);
            long grown = rssShmemKb() - before;
            assertThat(dst.asByteBuffer().equals(arena.allocate(size).asByteBuffer())).as("all zeroes").isTrue();
            assertThat(grown).as("kB of shared memory made resident by reading 8 MiB never written").isLessThan(1024);
        }
    }

    private static long rssShmemKb() throws Exception {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("RssShmem:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", ""));
            }
        }
        throw new AssertionError("no RssShmem in /proc/self/status");
    }
}
