package com.vhost.spi.nativeio;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link IoUring} against a temp file, a pipe and a bad fd (Linux include/uapi/linux/io_uring.h). */
class IoUringTest {
    @TempDir
    Path dir;

    private final List<long[]> done = new ArrayList<>();
    private final IoUring.Completions sink = (u, r) -> done.add(new long[] {u, r});

    @BeforeAll
    static void ioUringAvailable() {
        String why = IoUring.unavailableReason();
        if (why != null && "true".equals(System.getenv("CI"))) {
            throw new AssertionError("io_uring is needed with CI=true: " + why);
        }
        assumeTrue(why == null, "io_uring unavailable: " + why);
    }

    private void waitFor(IoUring ring, int n) throws Exception {
        while (done.size() < n) {
            ring.submit(1);
            ring.reap(sink);
        }
    }

    @Test
    void writesAndReadsAFileThroughPlainAndVectoredOps() throws Exception {
        Path f = dir.resolve("img");
        Files.write(f, new byte[8192]);
        int fd = Linux.open(f.toString(), Linux.O_RDWR);
        try (IoUring ring = IoUring.create(8); Arena a = Arena.ofConfined()) {
            assertThat(ring.entries()).isEqualTo(8);
            MemorySegment src = a.allocate(4096, 4096);
            for (int i = 0; i < 4096; i++) {
                src.set(ValueLayout.JAVA_BYTE, i, (byte) (i * 7));
            }
            assertThat(ring.prepare(IoUring.OP_WRITE, fd, src.address(), 4096, 4096, 0, 11)).isTrue();
            waitFor(ring, 1);
            assertThat(done.get(0)).containsExactly(11, 4096);

            MemorySegment dst = a.allocate(4096, 4096);
            MemorySegment iov = a.allocate(2 * IoUring.IOVEC_BYTES, 8);
            iov.set(ValueLayout.JAVA_LONG, 0, dst.address());
            iov.set(ValueLayout.JAVA_LONG, 8, 1000);
            iov.set(ValueLayout.JAVA_LONG, 16, dst.address() + 1000);
            iov.set(ValueLayout.JAVA_LONG, 24, 3096);
            assertThat(ring.prepare(IoUring.OP_READV, fd, iov.address(), 2, 4096, 0, 12)).isTrue();
            assertThat(ring.prepare(IoUring.OP_FSYNC, fd, 0, 0, 0, IoUring.FSYNC_DATASYNC, 13)).isTrue();
            waitFor(ring, 3);
            assertThat(done.subList(1, 3)).extracting(d -> d[0]).containsExactlyInAnyOrder(12L, 13L);
            assertThat(done.subList(1, 3)).anySatisfy(d -> assertThat(d).containsExactly(12, 4096));
            assertThat(done.subList(1, 3)).anySatisfy(d -> assertThat(d).containsExactly(13, 0));
            assertThat(dst.mismatch(src)).isEqualTo(-1);
            byte[] onDisk = Files.readAllBytes(f);
            assertThat(onDisk[4096 + 5]).isEqualTo((byte) 35);
            assertThat(ring.hasCompletions()).isFalse();
        } finally {
            Linux.close(fd);
        }
    }

    @Test
    void completionsArriveInAnyOrderAndSignalARegisteredEventFd() throws Exception {
        int[] pipe = Linux.pipe();
        try (IoUring ring = IoUring.create(4); EventFd ev = EventFd.create(); Arena a = Arena.ofConfined()) {
            ring.registerEventFd(ev.fd());
            MemorySegment buf = a.allocate(16, 8);
            ring.prepare(IoUring.OP_READ, pipe[0], buf.address(), 16, -1, 0, 1); // waits for the writer
            ring.prepare(IoUring.OP_NOP, -1, 0, 0, 0, 0, 2);
            ring.submit(0);
            assertThat(ev.await(5000)).isTrue();
            waitFor(ring, 1);
            assertThat(done).extracting(d -> d[0]).containsExactly(2L); // the later one first
            MemorySegment msg = a.allocate(5);
            msg.setString(0, "ping");
            Linux.write(pipe[1], msg, 5);
            waitFor(ring, 2);
            assertThat(done.get(1)).containsExactly(1, 5);
            assertThat(buf.getString(0)).isEqualTo("ping");
        } finally {
            Linux.close(pipe[0]);
            Linux.close(pipe[1]);
        }
    }

    @Test
    void aFailedRequestCompletesWithMinusErrno() throws Exception {
        try (IoUring ring = IoUring.create(2); Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(512, 512);
            ring.prepare(IoUring.OP_READ, 1_000_000, buf.address(), 512, 0, 0, 7);
            waitFor(ring, 1);
            assertThat(done.get(0)).containsExactly(7, -Linux.EBADF);
        }
    }

    @Test
    void aRefusedSetupSaysWhyInWords() {
        assertThat(IoUring.setupFailure(1, "2")).isEqualTo("io_uring is disabled on this host (sysctl kernel.io_uring_disabled = 2)");
        assertThat(IoUring.setupFailure(1, "1")).contains("kernel.io_uring_disabled = 1", "kernel.io_uring_group");
        assertThat(IoUring.setupFailure(1, "0")).contains("seccomp");
        assertThat(IoUring.setupFailure(38, null)).contains("no io_uring", "ENOSYS");
        assertThat(IoUring.setupFailure(12, "0")).isEqualTo(Linux.strerror(12));
    }

    @Test
    void aFullSubmissionQueueRefusesMoreAndBadSizesAreRefused() throws Exception {
        try (IoUring ring = IoUring.create(2)) {
            assertThat(ring.prepare(IoUring.OP_NOP, -1, 0, 0, 0, 0, 1)).isTrue();
            assertThat(ring.prepare(IoUring.OP_NOP, -1, 0, 0, 0, 0, 2)).isTrue();
            assertThat(ring.freeSlots()).isZero();
            assertThat(ring.prepare(IoUring.OP_NOP, -1, 0, 0, 0, 0, 3)).isFalse();
            waitFor(ring, 2);
            assertThat(ring.freeSlots()).isEqualTo(2);
        }
        assertThatThrownBy(() -> IoUring.create(3)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("power of two");
    }
}
