package com.vhost.api.user;

/**
 * The shared inflight-I/O tracking region (vhost-user {@code GET_INFLIGHT_FD} reply /
 * {@code SET_INFLIGHT_FD} payload: {@code u64 mmap_size; u64 mmap_offset; u16 num_queues;
 * u16 queue_size}, fd attached). Split-ring layout per queue: {@code u64 features; u16 version;
 * u16 desc_num; u16 last_batch_head; u16 used_idx;} then {@code desc_num} entries of
 * {@code u8 inflight; u8 padding[5]; u16 next; u64 counter}.
 *
 * @param mmapSize size in bytes of the mapping
 * @param mmapOffset offset in bytes into {@code fd}
 * @param numQueues number of queues tracked
 * @param queueSize entries per queue
 * @param fd the region's memfd (owned by whoever holds this record)
 */
public record InflightRegion(long mmapSize, long mmapOffset, int numQueues, int queueSize, int fd) {}
