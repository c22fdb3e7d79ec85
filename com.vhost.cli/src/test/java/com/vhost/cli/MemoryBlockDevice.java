package com.vhost.cli;

import com.vhost.api.VirtioDeviceException;
import com.vhost.api.blk.BlockDevice;
import com.vhost.api.blk.BlockDeviceInfo;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/** Test double: a block device over a memory segment whose requests complete at once. */
final class MemoryBlockDevice implements BlockDevice {
    private final MemorySegment disk;
    private final BlockDeviceInfo info;
    final AtomicBoolean closed = new AtomicBoolean();
    final AtomicLong requests = new AtomicLong();
    /** When set, reads return this byte at byte offset {@code corruptAt}. */
    volatile long corruptAt = -1;

    MemoryBlockDevice(long capacity, int queues) {
        this(Arena.ofAuto().allocate(capacity, 4096), queues);
    }

    /** A device over {@code disk}, which outlives it (several opens see the same contents). */
    MemoryBlockDevice(MemorySegment disk, int queues) {
        this.disk = disk;
        long capacity = disk.byteSize();
        info = new BlockDeviceInfo(capacity, 512, queues, 256, (1L << 32) | (1L << 9) | (1L << 6), false, 126, 65536,
                "memory:test");
    }

    @Override
    public BlockDeviceInfo info() {
        return info;
    }

    @Override
    public MemorySegment allocateBuffer(long bytes) {
        throw new IllegalStateException("no shared pool in this test double");
    }

    @Override
    public void freeBuffer(MemorySegment buffer) {
        throw new IllegalArgumentException("no shared pool in this test double");
    }

    private CompletableFuture<Void> check(int queue, long offset, long length) {
        if (closed.get()) {
            return CompletableFuture.failedFuture(new VirtioDeviceException("device closed"));
        }
        if (queue < 0 || queue >= info.numQueues()) {
            return CompletableFuture.failedFuture(new VirtioDeviceException("queue " + queue + " out of range"));
        }
        if (offset < 0 || offset % 512 != 0 || length % 512 != 0 || offset + length > info.capacityBytes()) {
            return CompletableFuture.failedFuture(new VirtioDeviceException("bad range " + offset + "+" + length));
        }
        requests.incrementAndGet();
        return null;
    }

    @Override
    public CompletableFuture<Void> read(int queue, long offset, MemorySegment dst) {
        CompletableFuture<Void> bad = check(queue, offset, dst.byteSize());
        if (bad != null) {
            return bad;
        }
        MemorySegment.copy(disk, offset, dst, 0, dst.byteSize());
        long c = corruptAt;
        if (c >= offset && c < offset + dst.byteSize()) {
            dst.set(java.lang.foreign.ValueLayout.JAVA_BYTE, c - offset, (byte) (dst.get(java.lang.foreign.ValueLayout.JAVA_BYTE, c - offset) ^ 1));
        }
        return CompletableFuture.completedFuture(null);
    }

    @Override
    public CompletableFuture<Void> write(int queue, long offset, MemorySegment src) {
        CompletableFuture<Void> bad = check(queue, offset, src.byteSize());
        if (bad != null) {
            return bad;
        }
        MemorySegment.copy(src, 0, disk, offset, src.byteSize());
        return CompletableFuture.completedFuture(null);
    }

    @Override
    public CompletableFuture<Void> flush(int queue) {
        CompletableFuture<Void> bad = check(queue, 0, 0);
        return bad != null ? bad : CompletableFuture.completedFuture(null);
    }

    @Override
    public CompletableFuture<Void> discard(int queue, long offset, long length) {
        return CompletableFuture.failedFuture(new VirtioDeviceException("discard not offered"));
    }

    @Override
    public CompletableFuture<Void> writeZeroes(int queue, long offset, long length, boolean mayUnmap) {
        return CompletableFuture.failedFuture(new VirtioDeviceException("write zeroes not offered"));
    }

    @Override
    public CompletableFuture<String> getId(int queue) {
        return CompletableFuture.completedFuture("memdisk");
    }

    MemorySegment contents() {
        return disk;
    }

    @Override
    public void close() {
        closed.set(true);
    }
}
