package com.vhost.api.blk;

import java.lang.foreign.MemorySegment;
import java.util.concurrent.CompletableFuture;
import org.osgi.annotation.versioning.ProviderType;

/**
 * A virtio-blk device as an application uses it: asynchronous block I/O over one or more request
 * queues. Offsets and lengths are in bytes and must be multiples of {@link BlockDeviceInfo#blockSize()};
 * a request past the capacity is rejected before it is queued. Futures complete exceptionally
 * with {@link com.vhost.api.VirtioDeviceException} for an argument outside the device's limits or
 * a request the device failed (IOERR, UNSUPP), and with another {@link com.vhost.api.VhostException}
 * when the backend is lost.
 *
 * <p>Buffers from {@link #allocateBuffer} are in memory the back-end shares and are used in
 * place; any other segment is copied through a bounce buffer.
 */
@ProviderType
public interface BlockDevice extends AutoCloseable {
    /** @return capacity, block size, queues and negotiated features */
    BlockDeviceInfo info();

    /**
     * @param bytes buffer size in bytes
     * @return a zeroed segment in shared memory, usable for zero-copy I/O until {@link #close()}
     * @throws IllegalStateException when the shared buffer pool is exhausted
     */
    MemorySegment allocateBuffer(long bytes);

    /**
     * Returns a buffer from {@link #allocateBuffer} to the shared pool. The caller must not use it
     * afterwards, nor free it while a request that uses it is pending.
     *
     * @param buffer a segment exactly as {@link #allocateBuffer} returned it
     * @throws IllegalArgumentException when {@code buffer} did not come from this device's pool
     * @throws IllegalStateException when it was already freed
     */
    void freeBuffer(MemorySegment buffer);

    /** Reads {@code dst.byteSize()} bytes at byte {@code offset} on queue {@code queue}. */
    CompletableFuture<Void> read(int queue, long offset, MemorySegment dst);

    /** Writes {@code src.byteSize()} bytes at byte {@code offset} on queue {@code queue}. */
    CompletableFuture<Void> write(int queue, long offset, MemorySegment src);

    /** Flushes the device's write cache (VIRTIO_BLK_T_FLUSH). */
    CompletableFuture<Void> flush(int queue);

    /** Discards {@code length} bytes at {@code offset} (VIRTIO_BLK_T_DISCARD). */
    CompletableFuture<Void> discard(int queue, long offset, long length);

    /** Zeroes {@code length} bytes at {@code offset} (VIRTIO_BLK_T_WRITE_ZEROES). */
    CompletableFuture<Void> writeZeroes(int queue, long offset, long length, boolean mayUnmap);

    /** @return the device's ID string (VIRTIO_BLK_T_GET_ID, up to 20 bytes, NUL-trimmed) */
    CompletableFuture<String> getId(int queue);

    /** Read on queue 0. */
    default CompletableFuture<Void> read(long offset, MemorySegment dst) {
        return read(0, offset, dst);
    }

    /** Write on queue 0. */
    default CompletableFuture<Void> write(long offset, MemorySegment src) {
        return write(0, offset, src);
    }

    /** Flush on queue 0. */
    default CompletableFuture<Void> flush() {
        return flush(0);
    }

    /** Waits (bounded) for in-flight requests, stops the device and releases its memory. */
    @Override
    void close();
}
