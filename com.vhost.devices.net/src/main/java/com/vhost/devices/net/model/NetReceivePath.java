package com.vhost.devices.net.model;

import com.vhost.api.VirtqueueException;
import com.vhost.api.net.VirtioNet;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.spi.virtqueue.DescriptorChain;
import com.vhost.spi.virtqueue.DeviceQueue;
import java.lang.foreign.MemorySegment;

/**
 * Frame delivery into receive chains for {@link AbstractNetModel} (OASIS VIRTIO 1.2, 5.1.6.3 and
 * 5.1.6.4): one frame is written behind a {@code virtio_net_hdr_v1} whose {@code num_buffers}
 * counts the chains it fills (1 without VIRTIO_NET_F_MRG_RXBUF), and the used elements are
 * published only once the whole frame is written. Holds the per-pair scratch chains and the
 * heads/lengths of the frame being delivered, so a delivery allocates nothing.
 *
 * <p>Not thread-safe per pair: the caller holds the pair's receive lock
 * ({@link AbstractNetModel#rxLock}) around {@link #deliver}.
 */
final class NetReceivePath {
    private final DescriptorChain[] rxChains;
    private final DescriptorChain[] rxFirst;
    /** Receive chains of the frame being delivered (MRG_RXBUF), per pair. */
    private final int[][] pendingHeads;
    private final int[][] pendingLens;
    /** How many of {@link #pendingHeads} the frame being delivered fills, per pair. */
    private final int[] pendingCount;

    /**
     * @param pairs queue pairs, 1..128
     * @param queueSize largest queue size (chains and pending arrays are sized for it)
     */
    NetReceivePath(int pairs, int queueSize) {
        rxChains = new DescriptorChain[pairs];
        rxFirst = new DescriptorChain[pairs];
        pendingHeads = new int[pairs][queueSize];
        pendingLens = new int[pairs][queueSize];
        pendingCount = new int[pairs];
        for (int p = 0; p < pairs; p++) {
            rxChains[p] = new DescriptorChain(queueSize);
            rxFirst[p] = new DescriptorChain(queueSize);
        }
    }

    /**
     * Writes one frame (from transmit chain {@code src} after its header, or from {@code bytes})
     * into receive chains of {@code rx} and publishes them; see {@link AbstractNetModel#deliver}.
     *
     * @param acked the acked feature bits (MRG_RXBUF decides whether a frame may span chains)
     * @return whether the frame was delivered
     * @throws VirtqueueException for a malformed receive chain or ring (the queue then fails)
     */
    boolean deliver(int pair, DeviceQueue rx, DescriptorChain src, DeviceQueue srcQueue, MemorySegment bytes, long len,
            NetPortCounters ctr, long acked) throws VirtqueueException {
        boolean done = deliverUnpublished(pair, rx, src, bytes, len, ctr, acked);
        if (srcQueue != null && src != null) {
            srcQueue.addUsed(src.head(), 0);
        }
        if (done) {
            int[] heads = pendingHeads[pair];
            int[] lens = pendingLens[pair];
            for (int i = 0, n = pendingCount[pair]; i < n; i++) {
                rx.addUsed(heads[i], lens[i]);
            }
            ctr.delivered(len);
        }
        return done;
    }

    /**
     * {@link #deliver} up to the publication: the frame written into popped receive chains (kept
     * in {@link #pendingHeads}/{@link #pendingLens}, {@link #pendingCount}), or dropped (chains
     * given back empty, counted).
     *
     * @return whether the frame waits to be published
     */
    private boolean deliverUnpublished(int pair, DeviceQueue rx, DescriptorChain src, MemorySegment bytes, long len,
            NetPortCounters ctr, long acked) throws VirtqueueException {
        if (rx == null || !rx.isEnabled() || !rx.hasAvailable()) {
            ctr.noBuffer();
            return false;
        }
        boolean mrg = VirtioFeatures.has(acked, VirtioNet.F_MRG_RXBUF);
        DescriptorChain first = rxFirst[pair];
        DescriptorChain r = rxChains[pair];
        int[] heads = pendingHeads[pair];
        int[] lens = pendingLens[pair];
        rx.pop(first);
        long room = first.writableBytes();
        long total = VirtioNet.HDR_SIZE + len;
        if (room < VirtioNet.HDR_SIZE || (!mrg && room < total)) {
            rx.addUsed(first.head(), 0);
            ctr.tooBig();
            return false;
        }
        first.zeroWritable(0, VirtioNet.HDR_SIZE);
        long n = Math.min(room - VirtioNet.HDR_SIZE, len);
        copyFrame(src, bytes, 0, first, VirtioNet.HDR_SIZE, n);
        heads[0] = first.head();
        lens[0] = (int) (VirtioNet.HDR_SIZE + n);
        int count = 1;
        long copied = n;
        while (copied < len) { // only with MRG_RXBUF: the frame continues in the next chains
            if (!rx.pop(r)) {
                for (int i = 0; i < count; i++) {
                    rx.addUsed(heads[i], 0); // out of buffers mid-frame: drop, give the chains back empty
                }
                ctr.noBuffer();
                return false;
            }
            long m = Math.min(r.writableBytes(), len - copied);
            copyFrame(src, bytes, copied, r, 0, m);
            rx.logWritten(r, m); // r is reused for the next chain: mark its pages now (dirty log)
            heads[count] = r.head();
            lens[count] = (int) m;
            count++;
            copied += m;
        }
        first.writeByte(VirtioNet.HDR_NUM_BUFFERS, (byte) count);
        first.writeByte(VirtioNet.HDR_NUM_BUFFERS + 1, (byte) (count >>> 8));
        rx.logWritten(first, lens[0]); // dirty log: the first chain's pages, before the frame is published
        pendingCount[pair] = count;
        return true;
    }

    private static void copyFrame(DescriptorChain src, MemorySegment bytes, long frameOff, DescriptorChain dst, long dstOff,
            long n) throws VirtqueueException {
        if (n <= 0) {
            return;
        }
        if (src == null) {
            dst.copyToWritable(dstOff, bytes, frameOff, n);
            return;
        }
        long srcOff = VirtioNet.HDR_SIZE + frameOff;
        long left = n;
        for (int j = 0, k = dst.writableSegmentCount(); j < k && left > 0; j++) {
            long segLen = dst.writableLength(j);
            if (dstOff >= segLen) {
                dstOff -= segLen;
                continue;
            }
            long m = Math.min(segLen - dstOff, left);
            src.copyReadable(srcOff, dst.writableRegion(j), dst.writableRegionOffset(j) + dstOff, m);
            srcOff += m;
            left -= m;
            dstOff = 0;
        }
    }
}
