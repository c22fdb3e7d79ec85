package com.vhost.devices.net.driver;

import com.vhost.spi.virtqueue.AdaptivePoll;
import com.vhost.api.VhostException;
import com.vhost.api.net.VirtioNet;
import com.vhost.spi.driver.HotSwapState;
import com.vhost.spi.nativeio.EventFd;
import com.vhost.spi.virtqueue.DriverQueue;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.util.concurrent.locks.ReentrantLock;

/**
 * One receive/transmit queue pair of a {@link VirtioNetDriver} (VIRTIO 1.2, 5.1.6), its buffers
 * and its data path: {@link #transmit} copies each frame behind a zeroed
 * {@code virtio_net_hdr_v1} (12 bytes) into a free transmit slot and publishes the burst;
 * {@link #receive} consumes used receive buffers, joins {@code num_buffers} of them into one
 * frame under MRG_RXBUF, copies it out and re-posts the buffers ({@link #refill}). Neither
 * allocates. Used by one thread at a time: the caller holds {@link #lock}.
 */
final class NetQueuePair {
    private static final VarHandle U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN).varHandle();
    private static final VarHandle U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN).varHandle();
    private static final VarHandle U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN).varHandle();

    final int index;
    final DriverQueue rxq;
    final DriverQueue txq;
    final EventFd rxKick;
    final EventFd rxCall;
    /**
     * Notification mode: how long a receiver polls the rx used ring before it sleeps on
     * {@link #rxCall} ({@link AdaptivePoll}); meant for the one thread that receives on this pair
     * (another one only blurs the window, which is a hint).
     */
    final AdaptivePoll rxPoll = AdaptivePoll.fromSystemProperty();
    final EventFd txKick;
    final EventFd txCall;
    private final MemorySegment rxBufs;
    private final long rxGpa;
    private final int rxBufBytes;
    private final boolean mrg;
    private final MemorySegment txBufs;
    private final long txGpa;
    private final int txSlot;
    final int size;
    private final HotSwapState swap;
    private final int[] txFree;
    private int txFreeCount;
    /** The transmit slots in flight in send order, for a packed ring's fresh restart ({@link #restartFresh}). */
    private final TransmitOrder txOrder;
    private final int[] rxFree;
    private int rxFreeCount;
    /** Used receive buffers not yet turned into frames: slot and length, a ring. */
    private final int[] compSlot;
    private final int[] compLen;
    private int compHead;
    private int compCount;
    private final long[] addrs = new long[1];
    private final int[] lens = new int[1];
    final DriverQueue.UsedHandler txDone;
    final DriverQueue.UsedHandler rxDone;
    /** Held by a data-path call for its burst, and by a swap for its whole length. */
    final ReentrantLock lock = new ReentrantLock();
    /** System.nanoTime() of the last burst that saw a used element; written under {@link #lock}. */
    long lastDoneNanos;
    long txPackets;
    long txBytes;
    long txFull;
    long txErrors;
    long rxPackets;
    long rxBytes;
    long rxErrors;

    /**
     * @param rxBufs {@code size} receive buffers of {@code rxBufBytes} bytes at guest address {@code rxGpa}
     * @param txBufs {@code size} transmit slots of {@code txSlot} bytes at guest address {@code txGpa}
     * @param swap whose pause measurement a burst that saw used elements ends
     */
    NetQueuePair(int index, DriverQueue rxq, DriverQueue txq, EventFd rxKick, EventFd rxCall, EventFd txKick, EventFd txCall,
            MemorySegment rxBufs, long rxGpa, int rxBufBytes, boolean mrg, MemorySegment txBufs, long txGpa, int txSlot,
            HotSwapState swap) {
        this.index = index;
        this.rxq = rxq;
        this.txq = txq;
        this.rxKick = rxKick;
        this.rxCall = rxCall;
        this.txKick = txKick;
        this.txCall = txCall;
        this.rxBufs = rxBufs;
        this.rxGpa = rxGpa;
        this.rxBufBytes = rxBufBytes;
        this.mrg = mrg;
        this.txBufs = txBufs;
        this.txGpa = txGpa;
        this.txSlot = txSlot;
        this.swap = swap;
        this.size = rxq.size();
        this.txFree = new int[size];
        this.rxFree = new int[size];
        this.compSlot = new int[size];
        this.compLen = new int[size];
        for (int i = 0; i < size; i++) {
            txFree[i] = size - 1 - i;
            rxFree[i] = size - 1 - i;
        }
        txFreeCount = size;
        rxFreeCount = size;
        this.txOrder = new TransmitOrder(size);
        this.txDone = (token, len) -> {
            int slot = (int) token;
            txOrder.completed(slot);
            txFree[txFreeCount++] = slot;
        };
        this.rxDone = (token, len) -> {
            int at = (compHead + compCount) & (size - 1);
            compSlot[at] = (int) token;
            compLen[at] = len;
            compCount++;
        };
    }

    /** Notes a burst that saw used elements: the first one after a swap ends its pause. */
    private void done() {
        long now = System.nanoTime();
        lastDoneNanos = now;
        swap.firstCompletion(now);
    }

    /** @return frames received and not yet returned by {@link #receive} */
    boolean hasReceived() {
        return compCount > 0;
    }

    /** @return receive buffers posted to the device */
    int posted() {
        return size - rxFreeCount - compCount;
    }

    /**
     * Sends up to {@code count} frames (lengths checked by the caller).
     *
     * @return frames taken; fewer when the ring is full
     */
    int transmit(MemorySegment[] frames, int[] lengths, int count) throws VhostException {
        if (txq.pollUsed(txDone) > 0) {
            done();
        }
        int sent = 0;
        for (; sent < count; sent++) {
            if (txFreeCount == 0) {
                if (txq.pollUsed(txDone) > 0) {
                    done();
                }
                if (txFreeCount == 0) {
                    break;
                }
            }
            int slot = txFree[--txFreeCount];
            long off = (long) slot * txSlot;
            int len = lengths[sent];
            U64.set(txBufs, off, 0L); // flags 0, GSO_NONE, hdr_len 0, gso_size 0, csum_start 0
            U32.set(txBufs, off + 8, 0); // csum_offset 0, num_buffers 0
            MemorySegment.copy(frames[sent], 0, txBufs, off + VirtioNet.HDR_SIZE, len);
            addrs[0] = txGpa + off;
            lens[0] = VirtioNet.HDR_SIZE + len;
            txq.addDeferred(addrs, lens, 1, 0, slot);
            txOrder.sent(slot, len);
            txPackets++;
            txBytes += len;
        }
        txFull += count - sent;
        if (sent > 0) {
            txq.publish(); // one avail idx store per burst
        }
        if (sent > 0 && txq.kickNeeded()) {
            txKick.signal();
        }
        return sent;
    }

    /** Posts every free receive buffer and kicks if the device wants it. */
    void refill() throws VhostException {
        int posted = 0;
        while (rxFreeCount > 0) {
            int slot = rxFree[rxFreeCount - 1];
            addrs[0] = rxGpa + (long) slot * rxBufBytes;
            lens[0] = rxBufBytes;
            if (rxq.addDeferred(addrs, lens, 0, 1, slot) < 0) {
                break;
            }
            rxFreeCount--;
            posted++;
        }
        if (posted > 0) {
            rxq.publish();
        }
        if (posted > 0 && rxq.kickNeeded()) {
            rxKick.signal();
        }
    }

    private void consume(int n) {
        for (int k = 0; k < n; k++) {
            rxFree[rxFreeCount++] = compSlot[compHead];
            compHead = (compHead + 1) & (size - 1);
            compCount--;
        }
    }

    /**
     * Copies up to {@code max} received frames into {@code into} (lengths into {@code lengths})
     * and re-posts the buffers. A buffer without a usable frame, or a frame longer than its
     * destination, is dropped and counted in {@code rxErrors}.
     *
     * @return frames returned
     */
    int receive(MemorySegment[] into, int[] lengths, int max) throws VhostException {
        if (rxq.pollUsed(rxDone) > 0) {
            done();
        }
        int got = 0;
        while (got < max && compCount > 0) {
            int slot = compSlot[compHead];
            int len0 = compLen[compHead];
            long off0 = (long) slot * rxBufBytes;
            if (len0 < VirtioNet.HDR_SIZE || len0 > rxBufBytes) {
                rxErrors++; // a buffer the device gave back without a frame (dropped on its side)
                consume(1);
                continue;
            }
            int nb = mrg ? Short.toUnsignedInt((short) U16.get(rxBufs, off0 + VirtioNet.HDR_NUM_BUFFERS)) : 1;
            if (nb < 1 || nb > size) {
                rxErrors++;
                consume(1);
                continue;
            }
            if (compCount < nb) {
                break; // the rest of the frame is not published yet
            }
            long frameLen = len0 - VirtioNet.HDR_SIZE;
            boolean bad = false;
            for (int k = 1; k < nb; k++) {
                int l = compLen[(compHead + k) & (size - 1)];
                if (l < 0 || l > rxBufBytes) {
                    bad = true;
                }
                frameLen += l;
            }
            MemorySegment dst = into[got];
            if (bad || frameLen > dst.byteSize()) {
                rxErrors++;
                consume(nb);
                continue;
            }
            MemorySegment.copy(rxBufs, off0 + VirtioNet.HDR_SIZE, dst, 0, len0 - VirtioNet.HDR_SIZE);
            long at = len0 - VirtioNet.HDR_SIZE;
            for (int k = 1; k < nb; k++) {
                int c = (compHead + k) & (size - 1);
                int l = compLen[c];
                MemorySegment.copy(rxBufs, (long) compSlot[c] * rxBufBytes, dst, at, l);
                at += l;
            }
            consume(nb);
            lengths[got++] = (int) frameLen;
            rxPackets++;
            rxBytes += frameLen;
        }
        refill();
        return got;
    }

    /**
     * Consumes the used elements of ring {@code q} (one of this pair's) during a swap.
     *
     * @return elements consumed
     */
    int reap(DriverQueue q) throws VhostException {
        int n = q.pollUsed(q == rxq ? rxDone : txDone);
        if (n > 0) {
            lastDoneNanos = System.nanoTime();
        }
        return n;
    }

    /**
     * Restore: forgets the chains on both rings and resets them at the given indices. Frames
     * waiting to be sent are dropped (as a device reset drops them); receive buffers that hold
     * a received frame not yet returned by {@code receive} keep it, the others become free to
     * post again. Caller holds {@link #lock}.
     *
     * @return frames waiting to be sent that were dropped
     */
    int resetRings(int rxIdx, int txIdx, boolean pollRx) {
        int dropped = txq.inFlight();
        txOrder.clear();
        txq.reset(txIdx);
        txq.disableNotifications();
        for (int i = 0; i < size; i++) {
            txFree[i] = size - 1 - i;
        }
        txFreeCount = size;
        rxq.reset(rxIdx);
        if (pollRx) {
            rxq.disableNotifications();
        }
        boolean[] holding = new boolean[size];
        for (int k = 0; k < compCount; k++) {
            holding[compSlot[(compHead + k) & (size - 1)]] = true;
        }
        rxFreeCount = 0;
        for (int i = size - 1; i >= 0; i--) {
            if (!holding[i]) {
                rxFree[rxFreeCount++] = i;
            }
        }
        return dropped;
    }

    /**
     * A swap's fresh restart of packed rings (VIRTIO 1.2 2.8, at {@code rxIdx} and {@code txIdx}):
     * both rings reset as {@link #resetRings} does, the free receive buffers posted again, then
     * every frame the old back-end had not completed placed again on the fresh transmit ring, in
     * the order it was sent, from the transmit slot it is still in (the frame bytes were never
     * touched). All of it before the next back-end starts the rings: one that loops or forwards a
     * frame placed again finds receive buffers (posting them only when the data path resumes lost
     * a frame or two per swap to "no buffer"). Caller holds {@link #lock}; the rings are stopped.
     *
     * @return frames placed again
     * @throws VhostException when signalling the receive kick eventfd failed (everything is on the rings)
     */
    int restartFresh(int rxIdx, int txIdx, boolean pollRx) throws VhostException {
        int[] owed = new int[size];
        int n = txOrder.inFlight(owed);
        resetRings(rxIdx, txIdx, pollRx);
        boolean[] taken = new boolean[size];
        for (int k = 0; k < n; k++) {
            taken[owed[k]] = true;
        }
        txFreeCount = 0;
        for (int i = size - 1; i >= 0; i--) {
            if (!taken[i]) {
                txFree[txFreeCount++] = i;
            }
        }
        VhostException kick = null;
        try {
            refill();
        } catch (VhostException e) {
            kick = e; // the buffers are on the ring; the frames below still go
        }
        for (int k = 0; k < n; k++) {
            int slot = owed[k];
            int len = txOrder.length(slot);
            addrs[0] = txGpa + (long) slot * txSlot;
            lens[0] = VirtioNet.HDR_SIZE + len;
            txq.addDeferred(addrs, lens, 1, 0, slot);
            txOrder.sent(slot, len);
        }
        if (n > 0) {
            txq.publish();
        }
        if (kick != null) {
            throw kick;
        }
        return n;
    }

    void closeFds() {
        rxKick.close();
        rxCall.close();
        txKick.close();
        txCall.close();
    }
}
