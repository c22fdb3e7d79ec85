package com.vhost.api;

/**
 * An IOTLB message ({@code struct vhost_iotlb_msg}: {@code u64 iova; u64 size; u64 uaddr;
 * u8 perm; u8 type}).
 *
 * @param iova I/O virtual address
 * @param size size in bytes
 * @param uaddr front-end virtual address
 * @param perm {@link #PERM_RO}, {@link #PERM_WO} or {@link #PERM_RW}
 * @param type {@link #MISS}, {@link #UPDATE}, {@link #INVALIDATE}, {@link #ACCESS_FAIL},
 *     {@link #BATCH_BEGIN} or {@link #BATCH_END}
 */
public record IotlbMessage(long iova, long size, long uaddr, int perm, int type) {
    public static final int PERM_RO = 1;
    public static final int PERM_WO = 2;
    public static final int PERM_RW = 3;
    public static final int MISS = 1;
    public static final int UPDATE = 2;
    public static final int INVALIDATE = 3;
    public static final int ACCESS_FAIL = 4;
    public static final int BATCH_BEGIN = 5;
    public static final int BATCH_END = 6;
}
