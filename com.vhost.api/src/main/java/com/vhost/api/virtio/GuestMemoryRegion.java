package com.vhost.api.virtio;

import java.lang.foreign.MemorySegment;

/**
 * One mapped region of guest memory.
 *
 * @param guestAddr guest-physical address of the first byte
 * @param size size in bytes
 * @param userAddr the front-end's virtual address of the first byte (vhost-user {@code user_addr})
 * @param fd the shared-memory fd backing it (memfd), or -1
 * @param fdOffset offset in bytes of the region within {@code fd}
 * @param segment the mapping, {@code size} bytes long
 */
public record GuestMemoryRegion(long guestAddr, long size, long userAddr, int fd, long fdOffset, MemorySegment segment) {}
