package com.vhost.user.backend.session;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.vhost.spi.nativeio.Linux;
import com.vhost.spi.nativeio.OwnedFd;
import com.vhost.user.message.MemRegionPayload;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue #10: {@link MemoryTable} refuses, before mapping, a region its fd cannot back, with a
 * message naming the region index, its fd offset and size and the fd's type or size, and closes
 * the fd it was given (nothing mapped, nothing left open).
 */
class MemoryTableTest {
    private static final long USER = 0x7000_0000_0000L;
    private static final long MEM = 0x10000;

    @TempDir
    Path dir;
    private final MemoryTable table = new MemoryTable();

    @AfterEach
    void close() {
        table.close();
    }

    private static long openFds() throws IOException {
        try (Stream<Path> s = Files.list(Path.of("/proc/self/fd"))) {
            return s.count();
        }
    }

    private static OwnedFd memfd(long size) throws Exception {
        int fd = Linux.memfdCreate("guest");
        Linux.ftruncate(fd, size);
        return new OwnedFd(fd);
    }

    /** SET_MEM_TABLE with a good region 0 and {@code bad} as region 1: refused, every fd closed. */
    private void assertRefused(MemRegionPayload bad, OwnedFd badFd, String... message) throws Exception {
        OwnedFd good = memfd(MEM);
        long before = openFds();
        assertThatThrownBy(() -> table.replaceAll(List.of(new MemRegionPayload(0, MEM, USER, 0), bad), List.of(good, badFd), () -> {}))
                .isInstanceOf(Refusal.class).hasMessageContaining("memory region 1").hasMessageContainingAll(message);
        assertThat(good.fd()).isEqualTo(-1);
        assertThat(badFd.fd()).isEqualTo(-1);
        assertThat(openFds()).isEqualTo(before - 2);
        assertThat(table.memory()).isNull();
        assertThat(table.size()).isZero();
    }

    @Test
    void aRegionLargerThanItsMemfdIsRefused() throws Exception {
        assertRefused(new MemRegionPayload(0x100000, MEM, USER + MEM, 0), memfd(0x4000),
                "offset 0x0, size 0x10000", "past the end", "fd size 0x4000");
    }

    @Test
    void anOffsetPastTheEndIsRefused() throws Exception {
        assertRefused(new MemRegionPayload(0x100000, 0x1000, USER + MEM, 0x20000), memfd(MEM),
                "offset 0x20000, size 0x1000", "past the end", "fd size 0x10000");
    }

    @Test
    void anOffsetPlusSizeThatOverflowsIsRefused() throws Exception {
        assertRefused(new MemRegionPayload(0x100000, MEM, USER + MEM, 0x7fff_ffff_ffff_8000L), memfd(MEM),
                "offset 0x7fffffffffff8000 + size 0x10000 overflows", "fd size 0x10000");
        assertRefused(new MemRegionPayload(0x100000, MEM, USER + MEM, -0x1000L), memfd(MEM), "overflows");
    }

    @Test
    void aPipeOrAnEventfdIsRefused() throws Exception {
        int[] p = Linux.pipe();
        Linux.close(p[1]);
        assertRefused(new MemRegionPayload(0x100000, 0x1000, USER + MEM, 0), new OwnedFd(p[0]),
                "offset 0x0, size 0x1000", "its fd (FIFO) is not a regular file or memfd");
        assertRefused(new MemRegionPayload(0x100000, 0x1000, USER + MEM, 0), new OwnedFd(Linux.eventfd(Linux.EFD_CLOEXEC)),
                "(anonymous inode", "is not a regular file or memfd");
    }

    @Test
    void aSmallRegularFileIsRefused() throws Exception {
        Path f = dir.resolve("small");
        Files.write(f, new byte[100]);
        assertRefused(new MemRegionPayload(0x100000, MEM, USER + MEM, 0), new OwnedFd(Linux.open(f.toString(), Linux.O_RDWR)),
                "past the end", "fd size 0x64");
    }

    @Test
    void addMemRegChecksTheSameWayAndNamesTheSlot() throws Exception {
        table.add(new MemRegionPayload(0, MEM, USER, 0), memfd(MEM), 8, () -> {});
        OwnedFd small = memfd(0x1000);
        long before = openFds();
        assertThatThrownBy(() -> table.add(new MemRegionPayload(0x100000, MEM, USER + MEM, 0), small, 8, () -> {}))
                .isInstanceOf(Refusal.class).hasMessageContainingAll("memory region 1", "past the end", "fd size 0x1000");
        assertThat(small.fd()).isEqualTo(-1);
        assertThat(openFds()).isEqualTo(before - 1);
        assertThat(table.size()).isEqualTo(1);
    }

    /** SET_MEM_TABLE: regions adding up to the mapped-bytes bound map; one page more is refused, naming it. */
    @Test
    void setMemTableUpToTheMappedBytesBoundIsMappedOnePageMoreIsRefused() throws Exception {
        try (MemoryTable bounded = new MemoryTable(2 * MEM)) {
            bounded.replaceAll(List.of(new MemRegionPayload(0, MEM, USER, 0), new MemRegionPayload(MEM, MEM, USER + MEM, 0)),
                    List.of(memfd(MEM), memfd(MEM)), () -> {});
            assertThat(bounded.mappedBytes()).isEqualTo(2 * MEM);
            OwnedFd a = memfd(MEM);
            OwnedFd b = memfd(MEM + 0x1000);
            long before = openFds();
            assertThatThrownBy(() -> bounded.replaceAll(List.of(new MemRegionPayload(0, MEM, USER, 0),
                    new MemRegionPayload(MEM, MEM + 0x1000, USER + MEM, 0)), List.of(a, b), () -> {}))
                    .isInstanceOf(Refusal.class)
                    .hasMessage("0x21000 bytes of guest memory in 2 regions, at most 0x20000 (131072 bytes, MAX_MAPPED_BYTES)");
            assertThat(openFds()).isEqualTo(before - 2);
            assertThat(bounded.mappedBytes()).as("the old table stays").isEqualTo(2 * MEM);
        }
    }

    /** ADD_MEM_REG: counted with the regions already mapped; the refused region's fd is closed. */
    @Test
    void addMemRegPastTheMappedBytesBoundIsRefused() throws Exception {
        try (MemoryTable bounded = new MemoryTable(2 * MEM)) {
            bounded.replaceAll(List.of(new MemRegionPayload(0, MEM, USER, 0)), List.of(memfd(MEM)), () -> {});
            bounded.add(new MemRegionPayload(MEM, MEM - 0x1000, USER + MEM, 0), memfd(MEM), 8, () -> {});
            bounded.add(new MemRegionPayload(2 * MEM, 0x1000, USER + 2 * MEM, 0), memfd(0x1000), 8, () -> {});
            OwnedFd extra = memfd(0x1000);
            assertThatThrownBy(() -> bounded.add(new MemRegionPayload(3 * MEM, 0x1000, USER + 3 * MEM, 0), extra, 8, () -> {}))
                    .isInstanceOf(Refusal.class)
                    .hasMessage("0x21000 bytes of guest memory in 4 regions, at most 0x20000 (131072 bytes, MAX_MAPPED_BYTES)");
            assertThat(extra.fd()).isEqualTo(-1);
            assertThat(bounded.size()).isEqualTo(3);
        }
    }

    /**
     * The default bound, 64 GiB: a sparse memfd one page larger is refused before it is mapped
     * (without the bound it mapped: a shared mapping costs address space, not RAM), and a u64 size
     * of 2^63 or more does not wrap the sum.
     */
    @Test
    void theDefaultBoundIs64GiBAndHugeSizesDoNotWrap() throws Exception {
        long over = SessionLimits.DEFAULT_MAX_MAPPED_BYTES + 0x1000;
        assertThatThrownBy(() -> table.replaceAll(List.of(new MemRegionPayload(0, over, USER, 0)), List.of(memfd(over)), () -> {}))
                .isInstanceOf(Refusal.class)
                .hasMessage("0x1000001000 bytes of guest memory in 1 regions, at most 0x1000000000 (64 GiB, MAX_MAPPED_BYTES)");
        assertThatThrownBy(() -> table.replaceAll(List.of(new MemRegionPayload(0, MEM, USER, 0), new MemRegionPayload(MEM, -MEM, USER + MEM, 0)),
                List.of(memfd(MEM), memfd(MEM)), () -> {}))
                .isInstanceOf(Refusal.class).hasMessageStartingWith("more than 0x7fffffffffffffff bytes of guest memory in 2 regions");
        assertThat(table.size()).isZero();
    }

    @Test
    void aRegionEndingExactlyAtTheEndOfItsFileIsMapped() throws Exception {
        table.replaceAll(List.of(new MemRegionPayload(0, MEM, USER, MEM)), List.of(memfd(2 * MEM)), () -> {});
        assertThat(table.size()).isEqualTo(1);
        assertThat(table.memory()).isNotNull();
    }
}
