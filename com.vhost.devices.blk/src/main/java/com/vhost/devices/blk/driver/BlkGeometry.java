package com.vhost.devices.blk.driver;

import com.vhost.api.VhostException;
import com.vhost.api.VhostFeatureException;
import com.vhost.api.VirtioDeviceException;
import com.vhost.api.blk.VirtioBlk;
import com.vhost.api.virtio.VirtioDevice;
import com.vhost.api.virtio.VirtioFeatures;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * The geometry of a virtio-blk device as the driver uses it, read from its config space
 * (VIRTIO 1.2, 5.2.4: {@code capacity} in 512-byte sectors, {@code size_max}, {@code seg_max},
 * {@code blk_size}, {@code num_queues}, {@code max_discard_sectors},
 * {@code max_write_zeroes_sectors}) under the acked features, and the checks made against it:
 * a request's range ({@link #checkRange}), a new backend's ({@link #checkSameAs}) and a
 * snapshot's ({@link #checkSnapshot}).
 *
 * @param capacityBytes capacity in bytes
 * @param blockSize {@code blk_size} in bytes (512 without VIRTIO_BLK_F_BLK_SIZE), a power of two
 * @param segMax {@code seg_max}, 0 when not offered
 * @param sizeMax {@code size_max} in bytes, 0 when not offered
 * @param numQueues the request queues used
 * @param readOnly VIRTIO_BLK_F_RO
 * @param segmentBytes bytes of one data descriptor
 * @param maxRequestBytes data bytes one request carries (larger I/O is split)
 * @param maxDiscardSectors DISCARD sectors per request, 0 without VIRTIO_BLK_F_DISCARD
 * @param maxWriteZeroesSectors WRITE_ZEROES sectors per request, 0 without the feature
 * @param indirectMax descriptors of an indirect table, 0 without VIRTIO_RING_F_INDIRECT_DESC
 */
record BlkGeometry(long capacityBytes, int blockSize, int segMax, int sizeMax, int numQueues, boolean readOnly,
        int segmentBytes, long maxRequestBytes, long maxDiscardSectors, long maxWriteZeroesSectors, int indirectMax) {
    private static final ValueLayout.OfInt LE32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort LE16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong LE64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final long PAGE = 4096;
    /** Largest request this driver builds, in bytes. */
    static final long MAX_REQUEST_BYTES = 4L << 20;

    /**
     * Reads and checks the geometry of a negotiated device.
     *
     * @param wantedQueues the queues asked for; fewer are used when the device offers fewer
     * @param queueSize descriptors per queue
     * @throws VirtioDeviceException when the config space is unusable (zero capacity, bad
     *     {@code blk_size}, limits that cannot carry one block)
     * @throws VhostException when the config read failed in the backend
     */
    static BlkGeometry read(VirtioDevice frontend, long acked, int wantedQueues, int queueSize) throws VhostException {
        MemorySegment cfg = config(frontend, "config read: ");
        long sectors = cfg.get(LE64, VirtioBlk.CFG_CAPACITY);
        if (sectors <= 0 || sectors > Long.MAX_VALUE >>> VirtioBlk.SECTOR_SHIFT) {
            throw new VirtioDeviceException("virtio-blk config: capacity " + Long.toUnsignedString(sectors) + " sectors is unusable");
        }
        // le32 fields; values above Integer.MAX_VALUE mean "no practical limit" here.
        int sizeMax = has(acked, VirtioBlk.F_SIZE_MAX) ? u32Clamped(cfg.get(LE32, VirtioBlk.CFG_SIZE_MAX)) : 0;
        int segMax = has(acked, VirtioBlk.F_SEG_MAX) ? u32Clamped(cfg.get(LE32, VirtioBlk.CFG_SEG_MAX)) : 0;
        int bs = blkSize(cfg, acked);
        if (bs < VirtioBlk.SECTOR_SIZE || Integer.bitCount(bs) != 1 || bs > (1 << 20)) {
            throw new VirtioDeviceException("virtio-blk config: blk_size " + bs + " is not a power of two in 512..1048576");
        }
        int nq = 1;
        if (has(acked, VirtioBlk.F_MQ)) {
            nq = Math.max(1, Math.min(wantedQueues, Short.toUnsignedInt(cfg.get(LE16, VirtioBlk.CFG_NUM_QUEUES))));
        }
        long maxDiscard = has(acked, VirtioBlk.F_DISCARD) ? nonZeroOr(cfg.get(LE32, VirtioBlk.CFG_MAX_DISCARD_SECTORS)) : 0;
        long maxWz = has(acked, VirtioBlk.F_WRITE_ZEROES) ? nonZeroOr(cfg.get(LE32, VirtioBlk.CFG_MAX_WRITE_ZEROES_SECTORS)) : 0;
        int indirectMax = has(acked, VirtioFeatures.F_INDIRECT_DESC)
                ? Math.min(256, Math.max(3, (segMax > 0 ? segMax : 126) + 2)) : 0;
        int chainLimit = Math.max(queueSize, indirectMax) - 2;
        int maxSegs = Math.max(1, segMax > 0 ? Math.min(segMax, chainLimit) : chainLimit);
        int seg = sizeMax > 0 ? (sizeMax >= PAGE ? (int) (sizeMax & -PAGE) : sizeMax) : (1 << 20);
        long maxReq = Math.min(MAX_REQUEST_BYTES, (long) maxSegs * seg);
        maxReq -= maxReq % bs;
        if (maxReq <= 0) {
            throw new VirtioDeviceException("virtio-blk config: seg_max " + segMax + " × size_max " + sizeMax
                    + " cannot carry one block of " + bs + " bytes");
        }
        return new BlkGeometry(sectors << VirtioBlk.SECTOR_SHIFT, bs, segMax, sizeMax, nq, has(acked, VirtioBlk.F_RO), seg,
                maxReq, maxDiscard, maxWz, indirectMax);
    }

    /** @return data descriptors one request needs at most */
    int segmentsPerRequest() {
        return (int) ((maxRequestBytes + segmentBytes - 1) / segmentBytes);
    }

    /**
     * Checks a new backend serves this geometry (rebind): every acked feature offered, the same
     * capacity and {@code blk_size}, at least {@link #numQueues()} queues.
     *
     * @throws VhostFeatureException naming the feature bits missing
     * @throws VirtioDeviceException naming the geometry that differs
     */
    void checkSameAs(VirtioDevice next, long acked, String name, String from) throws VhostException {
        long offered = next.features();
        long missing = acked & ~offered;
        if (missing != 0) {
            throw new VhostFeatureException(String.format(
                    "rebind to %s: it does not offer feature bits 0x%x acked with %s (acked 0x%x, offered 0x%x)%s",
                    name, missing, from, acked, offered, VirtioFeatures.has(missing, VirtioFeatures.F_IN_ORDER)
                            ? "; VIRTIO_F_IN_ORDER among them: open the driver with in.order=false to move between back-ends without it"
                            : ""));
        }
        MemorySegment cfg = config(next, "rebind: config read: ");
        long cap = cfg.get(LE64, VirtioBlk.CFG_CAPACITY) << VirtioBlk.SECTOR_SHIFT;
        int bs = blkSize(cfg, acked);
        if (cap != capacityBytes || bs != blockSize) {
            throw new VirtioDeviceException("rebind to " + name + ": geometry differs: capacity " + cap + " bytes, blk_size "
                    + bs + " (device has " + capacityBytes + " bytes, blk_size " + blockSize + ")");
        }
        int offeredQueues = Short.toUnsignedInt(cfg.get(LE16, VirtioBlk.CFG_NUM_QUEUES));
        if (has(acked, VirtioBlk.F_MQ) && offeredQueues < numQueues) {
            throw new VirtioDeviceException("rebind to " + name + ": it offers " + offeredQueues + " queues, the device uses "
                    + numQueues);
        }
    }

    /**
     * Checks a snapshot's config space against this geometry (restore).
     *
     * @throws VirtioDeviceException naming the truncation or the geometry that differs
     */
    void checkSnapshot(byte[] config, long acked) throws VirtioDeviceException {
        if (config.length < VirtioBlk.CONFIG_SIZE) {
            throw new VirtioDeviceException("restore: snapshot config space has " + config.length
                    + " bytes, virtio-blk needs " + VirtioBlk.CONFIG_SIZE);
        }
        MemorySegment cfg = MemorySegment.ofArray(config);
        long cap = cfg.get(LE64, VirtioBlk.CFG_CAPACITY) << VirtioBlk.SECTOR_SHIFT;
        int bs = blkSize(cfg, acked);
        if (cap != capacityBytes || bs != blockSize) {
            throw new VirtioDeviceException("restore: snapshot geometry capacity " + cap + " bytes, blk_size " + bs
                    + "; this device has " + capacityBytes + " bytes, blk_size " + blockSize);
        }
    }

    /**
     * Checks a request against the device's limits.
     *
     * @param type the request type ({@link VirtioBlk#T_IN}, ...)
     * @param offset byte offset on the device
     * @param length bytes
     * @param oneRequest true when the length must fit one request (low-level path, no splitting)
     * @throws VirtioDeviceException naming the request, offset, length and the limit broken
     */
    void checkRange(int type, long offset, long length, boolean oneRequest) throws VirtioDeviceException {
        String what = null;
        if (offset < 0 || length < 0) {
            what = "negative offset or length";
        } else if (offset % blockSize != 0 || length % blockSize != 0) {
            what = "offset and length must be multiples of the block size " + blockSize;
        } else if (offset > capacityBytes - length) {
            what = "beyond the capacity of " + capacityBytes + " bytes";
        } else if (readOnly && type != VirtioBlk.T_IN) {
            what = "the device is read-only (VIRTIO_BLK_F_RO)";
        } else if (type == VirtioBlk.T_IN || type == VirtioBlk.T_OUT) {
            if (oneRequest && length > maxRequestBytes) {
                what = "longer than one request can carry (" + maxRequestBytes + " bytes = min(seg_max " + segMax
                        + " × size_max " + sizeMax + ", 4 MiB))";
            }
        }
        if (what != null) {
            throw new VirtioDeviceException(BlkRequest.typeName(type) + " at offset " + offset + ", length " + length + ": " + what);
        }
    }

    private static MemorySegment config(VirtioDevice d, String what) throws VhostException {
        byte[] raw = new byte[VirtioBlk.CONFIG_SIZE];
        try {
            d.readConfig(0, raw);
        } catch (UncheckedIOException e) {
            throw e.getCause() instanceof VhostException v ? v : new VirtioDeviceException(what + e.getMessage(), e);
        }
        return MemorySegment.ofArray(raw);
    }

    private static int blkSize(MemorySegment cfg, long acked) {
        return has(acked, VirtioBlk.F_BLK_SIZE) ? cfg.get(LE32, VirtioBlk.CFG_BLK_SIZE) : VirtioBlk.SECTOR_SIZE;
    }

    private static boolean has(long acked, int bit) {
        return VirtioFeatures.has(acked, bit);
    }

    private static int u32Clamped(int v) {
        return (int) Math.min(Integer.toUnsignedLong(v), Integer.MAX_VALUE);
    }

    private static long nonZeroOr(int v) {
        return v == 0 ? 0xFFFF_FFFFL : Integer.toUnsignedLong(v);
    }
}
