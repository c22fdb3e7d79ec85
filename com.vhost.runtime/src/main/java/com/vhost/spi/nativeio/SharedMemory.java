package com.vhost.spi.nativeio;

import com.vhost.api.VhostNativeException;
import java.lang.foreign.MemorySegment;

/**
 * A shared mapping: either memory this process made ({@link #create}: memfd + ftruncate + mmap
 * MAP_SHARED, whose fd can be passed to a back-end) or a peer's fd mapped here ({@link #map}).
 */
public final class SharedMemory implements AutoCloseable {
    private final MemorySegment mapping;
    private final MemorySegment segment;
    /** Scope of {@link #segment} for memory this process made: closed before the unmap. */
    private final java.lang.foreign.Arena arena;
    private int fd;
    private boolean closed;

    private SharedMemory(MemorySegment mapping, MemorySegment segment, int fd, java.lang.foreign.Arena arena) {
        this.mapping = mapping;
        this.segment = arena == null ? segment : segment.reinterpret(arena, null);
        this.arena = arena;
        this.fd = fd;
    }

    /**
     * Creates {@code size} bytes of zeroed shared memory backed by a memfd.
     *
     * @param name memfd name (shows in /proc/PID/fd)
     * @param size bytes, &gt; 0
     */
    public static SharedMemory create(String name, long size) throws VhostNativeException {
        if (size <= 0) {
            throw new IllegalArgumentException("shared memory size must be > 0, was " + size);
        }
        int fd = Linux.memfdCreate(name);
        try {
            Linux.ftruncate(fd, size);
            MemorySegment m = Linux.mmap(fd, 0, size);
            // A shared arena scopes the segments handed out (driver rings, buffer pool): after
            // close() an access throws IllegalStateException instead of touching unmapped memory.
            return new SharedMemory(m, m, fd, java.lang.foreign.Arena.ofShared());
        } catch (VhostNativeException e) {
            Linux.closeQuietly(fd);
            throw e;
        }
    }

    /**
     * Maps {@code size} bytes of a peer's {@code fd} at byte {@code offset} (any alignment: the
     * mapping starts at the page below and is sliced). Does not take ownership of {@code fd}.
     */
    public static SharedMemory map(int fd, long offset, long size) throws VhostNativeException {
        if (size <= 0 || offset < 0) {
            throw new IllegalArgumentException("bad mapping: offset " + offset + ", size " + size);
        }
        long pageOff = offset & (Linux.PAGE_SIZE - 1);
        long base = offset - pageOff;
        MemorySegment m = Linux.mmap(fd, base, Math.addExact(size, pageOff));
        return new SharedMemory(m, m.asSlice(pageOff, size), -1, null);
    }

    /** @return the usable bytes */
    public MemorySegment segment() {
        return segment;
    }

    /** @return the memfd of memory made by {@link #create}, or -1 for a peer's mapping */
    public int fd() {
        return fd;
    }

    /** @return the virtual address of the first usable byte */
    public long address() {
        return segment.address();
    }

    /** @return size in bytes */
    public long size() {
        return segment.byteSize();
    }

    /**
     * Unmaps and closes the memfd it created. Idempotent. Segments taken from memory made by
     * {@link #create} are closed first (a later access throws {@link IllegalStateException});
     * those of a peer's mapping ({@link #map}) become invalid.
     */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (arena != null) {
            // Closing a shared arena waits for threads accessing its segments; it refuses while a
            // segment is held by a native call, which ends soon: retry, bounded.
            for (int i = 0; ; i++) {
                try {
                    arena.close();
                    break;
                } catch (IllegalStateException e) {
                    if (i >= 100) {
                        break;
                    }
                    java.util.concurrent.locks.LockSupport.parkNanos(10_000_000L);
                }
            }
        }
        try {
            Linux.munmap(mapping);
        } catch (VhostNativeException ignored) {
            // nothing more can be done for an unmapped range
        }
        Linux.closeQuietly(fd);
        fd = -1;
    }
}
