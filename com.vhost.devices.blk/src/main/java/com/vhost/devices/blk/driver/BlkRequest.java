package com.vhost.devices.blk.driver;

import com.vhost.api.VhostException;
import com.vhost.api.VirtioDeviceException;
import com.vhost.api.blk.VirtioBlk;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

/**
 * One virtio-blk request of a {@link VirtioBlkDriver}'s high-level path (VIRTIO 1.2, 5.2.6):
 * type, byte offset, data (the caller's segment and the shared one the device sees, a bounce
 * buffer of the pool when they differ) or the sectors of a DISCARD / WRITE_ZEROES segment, and
 * the future it completes.
 */
final class BlkRequest {
    /** Completion of a (possibly split) application request. */
    static final class Group {
        final CompletableFuture<Void> future = new CompletableFuture<>();
        private final AtomicInteger remaining;
        private final AtomicReference<VhostException> error = new AtomicReference<>();

        Group(int parts) {
            remaining = new AtomicInteger(parts);
        }

        void done(VhostException e) {
            if (e != null) {
                error.compareAndSet(null, e);
            }
            if (remaining.decrementAndGet() == 0) {
                VhostException err = error.get();
                if (err != null) {
                    future.completeExceptionally(err);
                } else {
                    future.complete(null);
                }
            }
        }
    }

    private final VirtioBlkDriver driver;
    final int type;
    final long offset;
    final MemorySegment user;
    final MemorySegment shared;
    final boolean bounced;
    final int segSectors;
    final int segFlags;
    private final Group group;
    private final CompletableFuture<String> idFuture;
    String id;

    BlkRequest(VirtioBlkDriver driver, int type, long offset, MemorySegment user, MemorySegment shared, boolean bounced,
            int segSectors, int segFlags, Group group, CompletableFuture<String> idFuture) {
        this.driver = driver;
        this.type = type;
        this.offset = offset;
        this.user = user;
        this.shared = shared;
        this.bounced = bounced;
        this.segSectors = segSectors;
        this.segFlags = segFlags;
        this.group = group;
        this.idFuture = idFuture;
    }

    /** @return the request's data length in bytes (the segment's sectors for DISCARD / WRITE_ZEROES) */
    long length() {
        return shared != null ? shared.byteSize() : (long) segSectors << VirtioBlk.SECTOR_SHIFT;
    }

    /** The device answered with {@code status}. */
    void complete(int status) {
        if (status != VirtioBlk.S_OK) {
            finish(new VirtioDeviceException(typeName(type) + " at offset " + offset + ", length " + length()
                    + " failed: status " + statusName(status)));
            return;
        }
        if (bounced && type == VirtioBlk.T_IN) {
            MemorySegment.copy(shared, 0, user, 0, shared.byteSize());
        }
        driver.countCompletion(shared != null ? shared.byteSize() : 0);
        finish(null);
    }

    /** Releases the bounce buffer and completes the caller's future. */
    void finish(VhostException e) {
        if (bounced) {
            driver.pool().release(shared);
        }
        if (idFuture != null) {
            if (e != null) {
                idFuture.completeExceptionally(e);
            } else {
                idFuture.complete(id);
            }
        } else {
            group.done(e);
        }
    }

    /** @return the spec name of a request type, e.g. {@code VIRTIO_BLK_T_IN} */
    static String typeName(int type) {
        return switch (type) {
            case VirtioBlk.T_IN -> "VIRTIO_BLK_T_IN";
            case VirtioBlk.T_OUT -> "VIRTIO_BLK_T_OUT";
            case VirtioBlk.T_FLUSH -> "VIRTIO_BLK_T_FLUSH";
            case VirtioBlk.T_GET_ID -> "VIRTIO_BLK_T_GET_ID";
            case VirtioBlk.T_DISCARD -> "VIRTIO_BLK_T_DISCARD";
            case VirtioBlk.T_WRITE_ZEROES -> "VIRTIO_BLK_T_WRITE_ZEROES";
            default -> "request type " + type;
        };
    }

    static String statusName(int status) {
        return switch (status) {
            case VirtioBlk.S_IOERR -> "IOERR (1)";
            case VirtioBlk.S_UNSUPP -> "UNSUPP (2)";
            case BlkRequestQueue.STATUS_UNSET -> "255 (not written by the device)";
            default -> "unknown status " + status;
        };
    }
}
