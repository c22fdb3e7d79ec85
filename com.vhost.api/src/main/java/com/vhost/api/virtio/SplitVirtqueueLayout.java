package com.vhost.api.virtio;

/**
 * Sizes, alignments and offsets of a split virtqueue (VIRTIO 1.2, section 2.7). Descriptor:
 * {@code le64 addr; le32 len; le16 flags; le16 next} (16 bytes). Available ring:
 * {@code le16 flags; le16 idx; le16 ring[N]; le16 used_event}. Used ring: {@code le16 flags;
 * le16 idx; struct {le32 id; le32 len} ring[N]; le16 avail_event}. All little-endian.
 */
public final class SplitVirtqueueLayout {
    private SplitVirtqueueLayout() {}

    public static final int DESC_SIZE = 16;
    public static final int DESC_ALIGN = 16;
    public static final int AVAIL_ALIGN = 2;
    public static final int USED_ALIGN = 4;
    public static final int USED_ELEM_SIZE = 8;

    /** Descriptor flag: the chain continues in {@code next}. */
    public static final short VIRTQ_DESC_F_NEXT = 1;
    /** Descriptor flag: device writes (otherwise device reads). */
    public static final short VIRTQ_DESC_F_WRITE = 2;
    /** Descriptor flag: the buffer holds a table of indirect descriptors. */
    public static final short VIRTQ_DESC_F_INDIRECT = 4;
    /** Available ring flag: driver asks for no used-buffer notifications. */
    public static final short VIRTQ_AVAIL_F_NO_INTERRUPT = 1;
    /** Used ring flag: device asks for no available-buffer notifications. */
    public static final short VIRTQ_USED_F_NO_NOTIFY = 1;

    /** @return descriptor table bytes for {@code size} entries */
    public static long descTableBytes(int size) {
        return (long) DESC_SIZE * size;
    }

    /** @return available ring bytes including {@code used_event} */
    public static long availRingBytes(int size) {
        return 6L + 2L * size;
    }

    /** @return used ring bytes including {@code avail_event} */
    public static long usedRingBytes(int size) {
        return 6L + (long) USED_ELEM_SIZE * size;
    }

    /**
     * @return total bytes for descriptor table, avail ring (at +descTableBytes) and used ring
     *     (4-aligned after avail) laid out back to back
     */
    public static long totalBytes(int size) {
        return usedOffset(size) + usedRingBytes(size);
    }

    /** @return offset of the avail ring from the descriptor table in a back-to-back layout */
    public static long availOffset(int size) {
        return descTableBytes(size);
    }

    /** @return offset of the used ring from the descriptor table in a back-to-back layout */
    public static long usedOffset(int size) {
        long end = availOffset(size) + availRingBytes(size);
        return (end + USED_ALIGN - 1) & -USED_ALIGN;
    }
}
