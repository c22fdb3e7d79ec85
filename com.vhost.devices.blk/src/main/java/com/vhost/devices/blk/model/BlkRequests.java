package com.vhost.devices.blk.model;

import static com.vhost.api.blk.VirtioBlk.SECTOR_SHIFT;
import static com.vhost.api.blk.VirtioBlk.SECTOR_SIZE;

import com.vhost.api.VhostNativeException;
import com.vhost.api.VirtqueueException;
import com.vhost.api.blk.VirtioBlk;
import com.vhost.spi.virtqueue.DescriptorChain;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.function.BooleanSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The data path of {@link FileBlockModel}: one virtio-blk request (VIRTIO 1.2, section 5.2.6)
 * read from a validated {@link DescriptorChain} and carried out on the image with
 * {@code pread}/{@code pwrite} straight into and out of guest memory, {@code fdatasync} for FLUSH
 * (and after each write while the device is write-through), {@code fallocate} for DISCARD and
 * WRITE_ZEROES. A request outside the capacity, misaligned or a write on a read-only image
 * answers IOERR, and so does data in the wrong direction (section 5.2.6: an IN's data is
 * device-writable, an OUT's device-readable; an IN with readable bytes after its 16-byte header or
 * an OUT with writable bytes before its status byte touches neither image nor buffers, where it
 * used to answer OK for a transfer of 0 bytes); an unknown type UNSUPP; a chain too short for the
 * header or without a status byte is a {@link VirtqueueException} (the queue stops, the device
 * needs a reset). Runs on the model's worker thread only; allocates nothing.
 */
final class BlkRequests {
    private static final Logger LOG = LoggerFactory.getLogger(FileBlockModel.class);
    private static final int DISCARD_FLAG_UNMAP = 1;
    private static final long ZERO_BUF_BYTES = 64 * 1024;
    private static final MemorySegment ZEROES = Arena.global().allocate(ZERO_BUF_BYTES, 4096);

    private final String name;
    private final FileStore store;
    private final boolean readOnly;
    private final long capacitySectors;
    private final MemorySegment id;
    private final BooleanSupplier writeThrough;

    /**
     * @param name the image's name, for log lines
     * @param store the image
     * @param readOnly refuse writes, discards and write-zeroes (IOERR)
     * @param capacitySectors capacity in sectors of 512 bytes
     * @param id the {@code VIRTIO_BLK_ID_BYTES} answered to GET_ID
     * @param writeThrough whether each write must be stable before it is answered
     */
    BlkRequests(String name, FileStore store, boolean readOnly, long capacitySectors, MemorySegment id,
            BooleanSupplier writeThrough) {
        this.name = name;
        this.store = store;
        this.readOnly = readOnly;
        this.capacitySectors = capacitySectors;
        this.id = id;
        this.writeThrough = writeThrough;
    }

    /** @return bytes written into the chain's writable part, status byte included */
    int handle(DescriptorChain c, QueueCounters ctr) throws VirtqueueException {
        if (c.readableBytes() < VirtioBlk.REQ_HEADER_SIZE) {
            throw new VirtqueueException(c.queueIndex(), "blk request at descriptor " + c.head() + ": header needs "
                    + VirtioBlk.REQ_HEADER_SIZE + " readable bytes, chain has " + c.readableBytes());
        }
        if (c.writableBytes() < 1) {
            throw new VirtqueueException(c.queueIndex(), "blk request at descriptor " + c.head()
                    + ": no writable status byte");
        }
        int type = c.readInt(0);
        long sector = c.readLong(8);
        long statusAt = c.writableBytes() - 1;
        long written = 0;
        int status;
        switch (type) {
            case VirtioBlk.T_IN -> {
                status = c.readableBytes() > VirtioBlk.REQ_HEADER_SIZE ? VirtioBlk.S_IOERR : read(c, sector, statusAt, ctr);
                written = status == VirtioBlk.S_OK ? statusAt : 0;
            }
            case VirtioBlk.T_OUT -> status = statusAt > 0 ? VirtioBlk.S_IOERR
                    : write(c, sector, c.readableBytes() - VirtioBlk.REQ_HEADER_SIZE, ctr);
            case VirtioBlk.T_FLUSH -> status = flush();
            case VirtioBlk.T_GET_ID -> {
                long n = Math.min(VirtioBlk.ID_BYTES, statusAt);
                c.copyToWritable(0, id, 0, n);
                written = n;
                status = VirtioBlk.S_OK;
            }
            case VirtioBlk.T_DISCARD -> status = discardOrZero(c, false, ctr);
            case VirtioBlk.T_WRITE_ZEROES -> status = discardOrZero(c, true, ctr);
            default -> status = VirtioBlk.S_UNSUPP;
        }
        c.writeByte(statusAt, (byte) status);
        return (int) Math.min(written + 1, 0xFFFF_FFFFL);
    }

    /** @return whether {@code [sector, sector + bytes/512)} lies within capacity */
    private boolean inRange(long sector, long bytes) {
        long sectors = bytes >>> SECTOR_SHIFT;
        return sector >= 0 && sector <= capacitySectors && sectors <= capacitySectors - sector;
    }

    private int read(DescriptorChain c, long sector, long len, QueueCounters ctr) {
        if ((len & (SECTOR_SIZE - 1)) != 0 || !inRange(sector, len)) {
            return VirtioBlk.S_IOERR;
        }
        long fileOff = sector << SECTOR_SHIFT;
        long left = len;
        try {
            for (int i = 0, n = c.writableSegmentCount(); i < n && left > 0; i++) {
                long part = Math.min(c.writableLength(i), left);
                long got = store.preadFully(c.writableHostAddress(i), part, fileOff);
                if (got != part) {
                    LOG.warn("blk {}: short read of {} bytes at {} (image shrank?)", name, part - got, fileOff + got);
                    return VirtioBlk.S_IOERR;
                }
                fileOff += part;
                left -= part;
            }
        } catch (VhostNativeException e) {
            LOG.warn("blk {}: read of {} bytes at sector {} failed: {}", name, len, sector, e.getMessage());
            return VirtioBlk.S_IOERR;
        }
        ctr.bytesRead += len;
        return VirtioBlk.S_OK;
    }

    private int write(DescriptorChain c, long sector, long len, QueueCounters ctr) {
        if (readOnly || (len & (SECTOR_SIZE - 1)) != 0 || !inRange(sector, len)) {
            return VirtioBlk.S_IOERR;
        }
        long fileOff = sector << SECTOR_SHIFT;
        long skip = VirtioBlk.REQ_HEADER_SIZE; // the header may share a buffer with the data
        try {
            for (int i = 0, n = c.readableSegmentCount(); i < n; i++) {
                long segLen = c.readableLength(i);
                if (skip >= segLen) {
                    skip -= segLen;
                    continue;
                }
                long part = segLen - skip;
                store.pwriteFully(c.readableHostAddress(i) + skip, part, fileOff);
                skip = 0;
                fileOff += part;
            }
            if (writeThrough.getAsBoolean()) {
                store.fdatasync();
            }
        } catch (VhostNativeException e) {
            LOG.warn("blk {}: write of {} bytes at sector {} failed: {}", name, len, sector, e.getMessage());
            return VirtioBlk.S_IOERR;
        }
        ctr.bytesWritten += len;
        return VirtioBlk.S_OK;
    }

    private int flush() {
        try {
            store.fdatasync();
            return VirtioBlk.S_OK;
        } catch (VhostNativeException e) {
            LOG.warn("blk {}: flush failed: {}", name, e.getMessage());
            return VirtioBlk.S_IOERR;
        }
    }

    /** DISCARD or WRITE_ZEROES: validates every segment first, then applies them in order. */
    private int discardOrZero(DescriptorChain c, boolean zero, QueueCounters ctr) throws VirtqueueException {
        long payload = c.readableBytes() - VirtioBlk.REQ_HEADER_SIZE;
        long count = payload / VirtioBlk.DISCARD_SEGMENT_SIZE;
        if (readOnly || payload % VirtioBlk.DISCARD_SEGMENT_SIZE != 0 || count == 0 || count > FileBlockModel.MAX_DISCARD_SEG) {
            return VirtioBlk.S_IOERR;
        }
        for (long k = 0; k < count; k++) {
            long at = VirtioBlk.REQ_HEADER_SIZE + k * VirtioBlk.DISCARD_SEGMENT_SIZE;
            long sector = c.readLong(at);
            long sectors = Integer.toUnsignedLong(c.readInt(at + 8));
            int flags = c.readInt(at + 12);
            if ((flags & ~DISCARD_FLAG_UNMAP) != 0 || (!zero && flags != 0)) {
                return VirtioBlk.S_UNSUPP; // VIRTIO 1.2 section 5.2.6: unknown flags, unmap on discard
            }
            if (sectors > FileBlockModel.MAX_DISCARD_SECTORS || !inRange(sector, sectors << SECTOR_SHIFT)) {
                return VirtioBlk.S_IOERR;
            }
        }
        try {
            for (long k = 0; k < count; k++) {
                long at = VirtioBlk.REQ_HEADER_SIZE + k * VirtioBlk.DISCARD_SEGMENT_SIZE;
                long off = c.readLong(at) << SECTOR_SHIFT;
                long len = Integer.toUnsignedLong(c.readInt(at + 8)) << SECTOR_SHIFT;
                boolean unmap = (c.readInt(at + 12) & DISCARD_FLAG_UNMAP) != 0;
                if (len == 0) {
                    continue;
                }
                if (zero) {
                    zeroRange(off, len, unmap);
                    ctr.bytesWritten += len;
                } else {
                    int e = store.fallocate(FileStore.FALLOC_FL_PUNCH_HOLE | FileStore.FALLOC_FL_KEEP_SIZE, off, len);
                    if (e != 0) { // discard is a hint: data left in place still answers OK
                        LOG.debug("blk {}: discard of {} bytes at {} not done: errno {}", name, len, off, e);
                    }
                }
            }
            if (writeThrough.getAsBoolean()) {
                store.fdatasync();
            }
        } catch (VhostNativeException e) {
            LOG.warn("blk {}: {} failed: {}", name, zero ? "write zeroes" : "discard", e.getMessage());
            return VirtioBlk.S_IOERR;
        }
        return VirtioBlk.S_OK;
    }

    private void zeroRange(long off, long len, boolean unmap) throws VhostNativeException {
        if (unmap && store.fallocate(FileStore.FALLOC_FL_PUNCH_HOLE | FileStore.FALLOC_FL_KEEP_SIZE, off, len) == 0) {
            return; // a punched hole reads as zeroes
        }
        int e = store.fallocate(FileStore.FALLOC_FL_ZERO_RANGE | FileStore.FALLOC_FL_KEEP_SIZE, off, len);
        if (e == 0) {
            return;
        }
        if (e != FileStore.EOPNOTSUPP && e != FileStore.ENOSYS && e != FileStore.EINVAL) {
            throw store.fallocateError(e);
        }
        long zeroes = ZEROES.address();
        for (long done = 0; done < len; ) { // file system without ZERO_RANGE (tmpfs, memfd): write zeroes
            long n = Math.min(ZERO_BUF_BYTES, len - done);
            store.pwriteFully(zeroes, n, off + done);
            done += n;
        }
    }
}
