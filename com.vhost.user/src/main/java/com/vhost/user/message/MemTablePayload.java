package com.vhost.user.message;

import com.vhost.api.VhostProtocolException;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * SET_MEM_TABLE payload: {@code u32 nregions; u32 padding (0);} then {@code nregions} region
 * descriptors of 32 bytes ({@link MemRegionPayload}); one fd per region rides beside it, in order.
 *
 * @param regions 1..{@link #MAX_REGIONS} regions
 */
public record MemTablePayload(List<MemRegionPayload> regions) {
    /** Most regions in one SET_MEM_TABLE ({@code VHOST_MEMORY_BASELINE_NREGIONS}). */
    public static final int MAX_REGIONS = 8;

    public MemTablePayload {
        regions = List.copyOf(regions);
    }

    /** @return the payload size in bytes for {@code n} regions */
    public static int sizeFor(int n) {
        return 8 + n * MemRegionPayload.SIZE;
    }

    /**
     * @return the payload size
     * @throws VhostProtocolException when there are more than 8 regions or a region is invalid
     */
    public int encode(MemorySegment buf, long offset) throws VhostProtocolException {
        if (regions.size() > MAX_REGIONS) {
            throw new VhostProtocolException("SET_MEM_TABLE: " + regions.size() + " regions, at most " + MAX_REGIONS);
        }
        Wire.putU32(buf, offset, regions.size());
        Wire.putU32(buf, offset + 4, 0);
        long p = offset + 8;
        for (MemRegionPayload r : regions) {
            r.validate("SET_MEM_TABLE");
            p += r.encode(buf, p);
        }
        return sizeFor(regions.size());
    }

    /**
     * @throws VhostProtocolException when {@code nregions} exceeds 8, the padding is not zero,
     *     {@code size} does not match {@code nregions}, or a region is invalid
     */
    public static MemTablePayload decode(MemorySegment buf, long offset, int size) throws VhostProtocolException {
        if (size < 8) {
            throw new VhostProtocolException("SET_MEM_TABLE: payload size " + size + " bytes is shorter than its 8-byte header");
        }
        int n = Wire.u32(buf, offset);
        int padding = Wire.u32(buf, offset + 4);
        if (Integer.compareUnsigned(n, MAX_REGIONS) > 0) {
            throw new VhostProtocolException("SET_MEM_TABLE: nregions " + Integer.toUnsignedString(n) + " exceeds " + MAX_REGIONS + " (VHOST_MEMORY_BASELINE_NREGIONS)");
        }
        if (padding != 0) {
            throw new VhostProtocolException("SET_MEM_TABLE: padding is 0x" + Integer.toHexString(padding) + ", must be 0");
        }
        Wire.expectSize("SET_MEM_TABLE with " + n + " regions", size, sizeFor(n));
        List<MemRegionPayload> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            out.add(MemRegionPayload.decodeAt("SET_MEM_TABLE region " + i, buf, offset + 8 + (long) i * MemRegionPayload.SIZE));
        }
        return new MemTablePayload(out);
    }
}
