package com.vhost.user.backend.session;

import com.vhost.api.VhostNativeException;
import com.vhost.spi.memory.DirtyBitmap;
import com.vhost.spi.nativeio.Linux;
import com.vhost.spi.nativeio.OwnedFd;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.locks.LockSupport;

/**
 * The dirty log a front-end handed over with SET_LOG_BASE (QEMU {@code docs/interop/vhost-user.rst},
 * SET_LOG_BASE and "Migration", with {@code VHOST_USER_PROTOCOL_F_LOG_SHMFD}): {@code mmap_size}
 * bytes of its fd at {@code mmap_offset}, mapped shared, as a {@link DirtyBitmap}.
 *
 * <p>The fd is checked as memory regions are ({@link MemoryTable}): a regular file or memfd (fstat
 * {@code S_IFREG}) at least {@code mmap_offset + mmap_size} bytes long, so no byte of the mapping
 * lies past the end of the file (SIGBUS); the size is at most {@link SessionLimits#MAX_LOG_BYTES}.
 * The fd is closed once mapped (as DPDK and libvhost-user do): the mapping keeps the memory.
 *
 * <p>The queues mark between {@code WriteLog.acquire()} and {@code DirtyBitmap.exit()}:
 * {@link #close()} waits until no mark is in progress on this log (which no queue can acquire any
 * more once another replaced it), then closes the shared arena scoping the mapping (a stray access
 * sees a closed segment) and unmaps.
 */
final class MappedLog implements AutoCloseable {
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(MappedLog.class);
    /** Longest wait for marks in progress before unmapping, ms. */
    static final long UNUSED_WAIT_MS = 1000;
    private final Arena arena;
    private final MemorySegment mapping;
    private final DirtyBitmap bitmap;

    private MappedLog(Arena arena, MemorySegment mapping, DirtyBitmap bitmap) {
        this.arena = arena;
        this.mapping = mapping;
        this.bitmap = bitmap;
    }

    /** @return the log as a bitmap to mark */
    DirtyBitmap bitmap() {
        return bitmap;
    }

    /**
     * Checks and maps the log; {@code fd} is closed whatever happens.
     *
     * @param size {@code mmap_size}, bytes
     * @param offset {@code mmap_offset}, bytes into {@code fd}
     * @throws Refusal naming the problem: a size of 0 or above {@link SessionLimits#MAX_LOG_BYTES},
     *     an fd that is not a regular file or memfd ("its fd (a pipe) is not a regular file or
     *     memfd"), an fd shorter than offset + size, or a failed mmap
     */
    static MappedLog map(long size, long offset, OwnedFd fd) throws Refusal {
        try (fd) {
            String what = String.format("dirty log (mmap_offset 0x%x, mmap_size 0x%x)", offset, size);
            if (size <= 0 || size > SessionLimits.MAX_LOG_BYTES) {
                throw new Refusal(String.format("%s: size must be 1..0x%x bytes (MAX_LOG_BYTES, %s)", what,
                        SessionLimits.MAX_LOG_BYTES, MemoryTable.bytes(SessionLimits.MAX_LOG_BYTES)));
            }
            long lead = offset & (Linux.PAGE_SIZE - 1);
            MemorySegment m = FdKinds.mapShared(what, fd, offset, size, DirtyBitmap.roundUp8(lead + size));
            Arena arena = Arena.ofShared();
            MemorySegment scoped = m.reinterpret(arena, null);
            return new MappedLog(arena, m, new DirtyBitmap(scoped, lead, size));
        }
    }

    /**
     * Waits out the marks in progress (bounded; the caller made the queues mark another log or
     * none first, {@code WriteLog.setBitmap}), closes the arena and unmaps. A log still being
     * marked after {@value #UNUSED_WAIT_MS} ms stays mapped (leaked rather than faulted). Never throws.
     */
    @Override
    public void close() {
        if (!bitmap.awaitUnused(UNUSED_WAIT_MS * 1_000_000L)) {
            LOG.warn("dirty log still being marked after {} ms: left mapped", UNUSED_WAIT_MS);
            return;
        }
        for (int i = 0; ; i++) {
            try {
                arena.close();
                break;
            } catch (IllegalStateException e) {
                if (i >= 100) {
                    return; // still held by a native call after 1 s: leave it mapped rather than fault
                }
                LockSupport.parkNanos(10_000_000L);
            }
        }
        try {
            Linux.munmap(mapping);
        } catch (VhostNativeException ignored) {
            // the address range stays reserved; nothing else to do
        }
    }
}
