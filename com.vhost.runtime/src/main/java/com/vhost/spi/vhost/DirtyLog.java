package com.vhost.spi.vhost;

import com.vhost.api.VhostNativeException;
import com.vhost.api.virtio.GuestMemory;
import com.vhost.api.virtio.GuestMemoryRegion;
import com.vhost.spi.memory.DirtyBitmap;
import com.vhost.spi.nativeio.SharedMemory;
import java.util.BitSet;

/**
 * A dirty log the driver side hands to a vhost back-end (QEMU {@code include/hw/virtio/vhost.h}
 * {@code struct vhost_log}, {@code vhost_log_get}, {@code vhost_sync_dirty_bitmap}): a memfd of
 * one bit per 4 KiB page of guest-physical memory ({@link DirtyBitmap} layout), passed with
 * SET_LOG_BASE ({@code VHOST_USER_PROTOCOL_F_LOG_SHMFD}), which the back-end marks while
 * {@code VHOST_F_LOG_ALL} is acked; {@link #syncAndClear()} takes what it marked. Turned on and off
 * on a running device by {@link DirtyLogging}.
 *
 * <p>Thread-safe: the back-end marks concurrently with {@link #syncAndClear()}; a mark is either
 * returned by one call or stays for the next.
 */
public final class DirtyLog implements AutoCloseable {
    private final SharedMemory shm;
    private final DirtyBitmap bitmap;

    private DirtyLog(SharedMemory shm, long bytes) {
        this.shm = shm;
        this.bitmap = new DirtyBitmap(shm.segment(), 0, bytes);
    }

    /**
     * A log covering guest-physical addresses {@code [0, guestEnd)}: {@code guestEnd / 4096 / 8}
     * bytes rounded up to whole {@code u64} words (QEMU {@code vhost_get_log_size}).
     *
     * @param guestEnd the first guest-physical address past the memory to log, bytes, {@code > 0}
     * @throws VhostNativeException when the memfd cannot be made
     * @throws IllegalArgumentException when {@code guestEnd} is not positive
     */
    public static DirtyLog create(long guestEnd) throws VhostNativeException {
        if (guestEnd <= 0) {
            throw new IllegalArgumentException("guest memory end " + guestEnd + " must be > 0");
        }
        long bytes = DirtyBitmap.bytesFor(guestEnd);
        return new DirtyLog(SharedMemory.create("vhost-log", bytes), bytes);
    }

    /**
     * @return a log covering every region of {@code memory} (up to its highest guest-physical end)
     * @throws VhostNativeException when the memfd cannot be made
     * @throws IllegalArgumentException when {@code memory} has no region
     */
    public static DirtyLog forMemory(GuestMemory memory) throws VhostNativeException {
        long end = 0;
        for (GuestMemoryRegion r : memory.regions()) {
            end = Math.max(end, Math.addExact(r.guestAddr(), r.size()));
        }
        return create(end);
    }

    /** @return the memfd to pass with SET_LOG_BASE (owned by this log) */
    public int fd() {
        return shm.fd();
    }

    /** @return the log's size in bytes ({@code mmap_size}; its {@code mmap_offset} is 0) */
    public long bytes() {
        return bitmap.bytes();
    }

    /** @return how many 4 KiB pages it covers */
    public long pages() {
        return bitmap.pages();
    }

    /** @return whether page {@code page} (guest-physical address / 4096) is marked now, without clearing it */
    public boolean isDirty(long page) {
        return bitmap.isDirty(page);
    }

    /**
     * Takes the marks (QEMU {@code vhost_sync_dirty_bitmap}): clears the log atomically word by
     * word and returns the pages that were marked.
     *
     * @return the dirty page numbers (guest-physical address / 4096); allocated per call
     * @throws IllegalStateException after {@link #close()}
     */
    public BitSet syncAndClear() {
        return bitmap.syncAndClear();
    }

    /** Unmaps the log and closes its memfd; a back-end still holding it keeps its own mapping. */
    @Override
    public void close() {
        shm.close();
    }
}
