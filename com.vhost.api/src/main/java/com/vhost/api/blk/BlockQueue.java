package com.vhost.api.blk;

import com.vhost.api.VhostException;
import java.lang.foreign.MemorySegment;
import org.osgi.annotation.versioning.ProviderType;

/**
 * One request queue of a virtio-blk device driven directly by one thread, without allocation per
 * request (the shape of libblkio's {@code blkioq}): submit several requests, kick once, then poll
 * or await their completions. Obtained from {@link BlockQueues#queue}; calls come from a single
 * thread.
 */
@ProviderType
public interface BlockQueue {
    /** @return the queue index (0-based) */
    int index();

    /**
     * Places a request on the ring without notifying the device.
     *
     * @param type {@link VirtioBlk#T_IN} (read into {@code buffer}), {@link VirtioBlk#T_OUT}
     *     (write {@code buffer}) or {@link VirtioBlk#T_FLUSH} ({@code buffer} ignored, may be null)
     * @param offset byte offset on the device, a multiple of the block size
     * @param buffer a segment from {@link BlockDevice#allocateBuffer}; its whole length (a
     *     multiple of the block size) is transferred
     * @param tag handed back to the {@link BlockCompletion}
     * @return false when the queue is full (poll for completions, then retry)
     * @throws com.vhost.api.VirtioDeviceException for an argument outside the device's limits, a
     *     buffer not from the pool, or a write on a read-only device
     * @throws com.vhost.api.VhostDisconnectedException when the device was closed or its backend lost
     */
    boolean submit(int type, long offset, MemorySegment buffer, long tag) throws VhostException;

    /** Notifies the device of the requests placed since the last kick, when it asked for notifications. */
    void kick() throws VhostException;

    /**
     * Hands every completed request to {@code completion} without waiting.
     *
     * @return the number of completions
     * @throws com.vhost.api.VirtqueueException when the device broke the ring rules (VIRTIO 1.2, 2.7)
     */
    int poll(BlockCompletion completion) throws VhostException;

    /**
     * Waits up to {@code timeoutNanos} nanoseconds for at least one completion and hands all
     * available ones to {@code completion}.
     *
     * @return completions handled; 0 on timeout
     * @throws com.vhost.api.VhostDisconnectedException when the backend was lost or the device closed
     */
    int await(BlockCompletion completion, long timeoutNanos) throws VhostException;
}
