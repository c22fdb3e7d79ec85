package com.vhost.api.blk;

/** virtio-blk constants (VIRTIO 1.2, section 5.2; Linux {@code virtio_blk.h}). */
public final class VirtioBlk {
    private VirtioBlk() {}

    /** A sector is 512 bytes whatever the block size. */
    public static final int SECTOR_SIZE = 512;
    public static final int SECTOR_SHIFT = 9;

    // Feature bits.
    public static final int F_SIZE_MAX = 1;
    public static final int F_SEG_MAX = 2;
    public static final int F_GEOMETRY = 4;
    public static final int F_RO = 5;
    public static final int F_BLK_SIZE = 6;
    public static final int F_FLUSH = 9;
    public static final int F_TOPOLOGY = 10;
    public static final int F_CONFIG_WCE = 11;
    public static final int F_MQ = 12;
    public static final int F_DISCARD = 13;
    public static final int F_WRITE_ZEROES = 14;
    public static final int F_LIFETIME = 15;
    public static final int F_SECURE_ERASE = 16;

    // Request types.
    public static final int T_IN = 0;
    public static final int T_OUT = 1;
    public static final int T_FLUSH = 4;
    public static final int T_GET_ID = 8;
    public static final int T_GET_LIFETIME = 10;
    public static final int T_DISCARD = 11;
    public static final int T_WRITE_ZEROES = 13;
    public static final int T_SECURE_ERASE = 14;

    // Status byte.
    public static final int S_OK = 0;
    public static final int S_IOERR = 1;
    public static final int S_UNSUPP = 2;

    /** Request header {@code le32 type; le32 reserved; le64 sector}. */
    public static final int REQ_HEADER_SIZE = 16;
    /** GET_ID answer size in bytes. */
    public static final int ID_BYTES = 20;
    /** Discard / write-zeroes segment {@code le64 sector; le32 num_sectors; le32 flags}. */
    public static final int DISCARD_SEGMENT_SIZE = 16;

    // Config space offsets.
    public static final int CFG_CAPACITY = 0;
    public static final int CFG_SIZE_MAX = 8;
    public static final int CFG_SEG_MAX = 12;
    public static final int CFG_GEOMETRY = 16;
    public static final int CFG_BLK_SIZE = 20;
    public static final int CFG_TOPOLOGY = 24;
    public static final int CFG_WRITEBACK = 32;
    public static final int CFG_NUM_QUEUES = 34;
    public static final int CFG_MAX_DISCARD_SECTORS = 36;
    public static final int CFG_MAX_DISCARD_SEG = 40;
    public static final int CFG_DISCARD_SECTOR_ALIGNMENT = 44;
    public static final int CFG_MAX_WRITE_ZEROES_SECTORS = 48;
    public static final int CFG_MAX_WRITE_ZEROES_SEG = 52;
    public static final int CFG_WRITE_ZEROES_MAY_UNMAP = 56;
    /** Config bytes up to and including {@code write_zeroes_may_unmap} and its padding. */
    public static final int CONFIG_SIZE = 60;
}
