package com.vhost.api;

/**
 * Addresses of one split virtqueue's three parts, as {@code struct vhost_vring_addr} (40 bytes):
 * {@code u32 index, flags; u64 desc_user_addr, used_user_addr, avail_user_addr, log_guest_addr}.
 * The three ring addresses are in the front-end's virtual address space (a region's
 * {@code userAddr}), not guest-physical.
 *
 * @param index queue index
 * @param flags bit 0 {@link #F_LOG}: log used-ring writes to the dirty log
 * @param descUserAddr descriptor table, 16-byte aligned
 * @param usedUserAddr used ring, 4-byte aligned
 * @param availUserAddr available ring, 2-byte aligned
 * @param logGuestAddr guest-physical address of the used ring for dirty logging
 */
public record VringAddr(int index, int flags, long descUserAddr, long usedUserAddr, long availUserAddr, long logGuestAddr) {
    /** {@code VHOST_VRING_F_LOG}. */
    public static final int F_LOG = 1;
}
