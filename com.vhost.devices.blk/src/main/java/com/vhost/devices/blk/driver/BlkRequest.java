package com.vhost.devices.blk.driver;

import com.vhost.api.VhostException;
import com.vhost.api.VirtioDeviceException;
import com.vhost.api.blk.VirtioBlk;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
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
            driver.countError();
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

    /**
     * Submits a read ({@link VirtioBlk#T_IN}) or write ({@link VirtioBlk#T_OUT}) of {@code buf}
     * at byte {@code offset} on {@code q}: split in requests of at most
     * {@link BlkGeometry#maxRequestBytes()}; a buffer not from the driver's pool is bounced
     * through it (one request at a time when it needs several).
     *
     * @throws VirtioDeviceException for a range outside the device's limits, a destination the
     *     completion thread cannot write, or a pool without room for the bounce buffer
     */
    static CompletableFuture<Void> submitData(VirtioBlkDriver d, BlkRequestQueue q, int type, int queue, long offset,
            MemorySegment buf) throws VhostException {
        BlkGeometry geometry = d.geometry();
        BufferPool pool = d.pool();
        long len = buf.byteSize();
        geometry.checkRange(type, offset, len, false);
        if (len == 0) {
            return CompletableFuture.completedFuture(null);
        }
        boolean inPlace = pool.owns(buf);
        if (!inPlace && type == VirtioBlk.T_IN && !q.completer().canAccess(buf)) {
            throw new VirtioDeviceException(typeName(type) + " at offset " + offset + ", length " + len
                    + ": the destination segment is confined to its thread, so the completion thread cannot copy"
                    + " into it; use allocateBuffer, a heap segment or a shared arena");
        }
        long max = geometry.maxRequestBytes();
        int parts = (int) ((len + max - 1) / max);
        if (!inPlace && parts > 1) {
            // A large caller-owned buffer is bounced one request at a time, so it never needs
            // more pool space than one request (a 16 MiB heap read works with a small pool).
            CompletableFuture<Void> chain = CompletableFuture.completedFuture(null);
            for (long off = 0; off < len; off += max) {
                long pieceOff = off;
                long n = Math.min(max, len - off);
                chain = chain.thenComposeAsync(v -> d.data(type, queue, offset + pieceOff, buf.asSlice(pieceOff, n)));
            }
            return chain;
        }
        Group g = new Group(parts);
        List<BlkRequest> reqs = new ArrayList<>(parts);
        for (long off = 0; off < len; off += max) {
            long n = Math.min(max, len - off);
            MemorySegment part = buf.asSlice(off, n);
            MemorySegment shared = part;
            if (!inPlace) {
                shared = pool.allocate(n);
                if (shared == null) {
                    for (BlkRequest r : reqs) {
                        pool.release(r.shared);
                    }
                    throw new VirtioDeviceException(typeName(type) + " at offset " + offset + ", length " + len
                            + ": buffer pool exhausted for a bounce buffer of " + n + " bytes (" + pool.freeBytes()
                            + " of " + pool.capacity() + " free); use allocateBuffer for zero-copy I/O");
                }
                if (type == VirtioBlk.T_OUT) {
                    MemorySegment.copy(part, 0, shared, 0, n);
                }
            }
            reqs.add(new BlkRequest(d, type, offset + off, part, shared, !inPlace, 0, 0, g, null));
        }
        for (BlkRequest r : reqs) {
            q.submit(r);
        }
        return g.future;
    }

    /**
     * Submits a DISCARD or WRITE_ZEROES of {@code length} bytes at {@code offset} on {@code q}, in
     * segments of at most {@code maxSectors} (kept a multiple of the block size).
     *
     * @throws VirtioDeviceException for a range outside the device's limits
     */
    static CompletableFuture<Void> submitRange(VirtioBlkDriver d, BlkRequestQueue q, int type, long maxSectors, int flags,
            long offset, long length) throws VhostException {
        d.geometry().checkRange(type, offset, length, false);
        if (length == 0) {
            return CompletableFuture.completedFuture(null);
        }
        long sectors = length >>> VirtioBlk.SECTOR_SHIFT;
        long perPart = Math.min(maxSectors, 0xFFFF_FFFFL);
        perPart -= perPart % (d.geometry().blockSize() >>> VirtioBlk.SECTOR_SHIFT);
        int parts = (int) ((sectors + perPart - 1) / perPart);
        Group g = new Group(parts);
        for (long s = 0; s < sectors; s += perPart) {
            long n = Math.min(perPart, sectors - s);
            q.submit(new BlkRequest(d, type, offset + (s << VirtioBlk.SECTOR_SHIFT), null, null, false, (int) n, flags, g, null));
        }
        return g.future;
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
