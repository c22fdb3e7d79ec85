package com.vhost.api.net;

/**
 * Counters of one queue pair since the device started. Packets and bytes count frames without the
 * {@code virtio_net_hdr_v1}.
 *
 * @param queuePair the pair (0-based)
 * @param txPackets frames handed to the device on the transmit queue
 * @param txBytes their bytes
 * @param txFull frames the caller offered that did not fit because the transmit ring was full
 *     (returned to the caller, not sent)
 * @param txErrors frames refused before queueing (larger than the MTU plus Ethernet header, or
 *     shorter than an Ethernet header)
 * @param rxPackets frames received and returned to the caller
 * @param rxBytes their bytes
 * @param rxErrors frames the device delivered that were dropped: longer than the caller's buffer,
 *     a bad {@code num_buffers}, a used length shorter than the header
 * @param rxBuffersPosted receive buffers currently available to the device
 */
public record NetQueueStats(int queuePair, long txPackets, long txBytes, long txFull, long txErrors, long rxPackets,
        long rxBytes, long rxErrors, int rxBuffersPosted) {}
