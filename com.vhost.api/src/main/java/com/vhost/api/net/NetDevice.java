package com.vhost.api.net;

import com.vhost.api.VhostException;
import java.lang.foreign.MemorySegment;
import org.osgi.annotation.versioning.ProviderType;

/**
 * A virtio-net device as an application uses it: burst transmit and receive of Ethernet frames on
 * one or more queue pairs (OASIS VIRTIO 1.2, section 5.1.6). The driver adds the
 * {@code virtio_net_hdr_v1} on transmit (no offloads: flags 0, GSO_NONE) and strips it on receive,
 * reassembling frames that span several buffers when MRG_RXBUF was negotiated.
 *
 * <p><b>Frames</b> are byte ranges: frame {@code i} of a burst is bytes {@code [0, lengths[i])} of
 * {@code frames[i]}, a complete Ethernet frame without FCS (destination MAC first). Frames are
 * copied into and out of the device's shared buffers, so any segment (heap or native) works and
 * the arrays can be reused from burst to burst; the data path does not allocate.
 *
 * <p><b>Threads.</b> Each queue pair may be used by one thread at a time; different pairs may be
 * used by different threads concurrently. Control operations ({@link #setQueuePairs},
 * {@link #setMac}, {@link #setPromiscuous}) are serialised internally.
 *
 * <p><b>Errors.</b> {@link VhostException} subtypes: {@link com.vhost.api.VirtioDeviceException}
 * for an argument outside the device's limits (queue pair, frame length against the MTU) or a
 * control command the device refused; {@link com.vhost.api.VhostDisconnectedException} once the
 * backend is lost or the device closed; {@link com.vhost.api.VirtqueueException} for a device
 * that broke the ring protocol.
 */
@ProviderType
public interface NetDevice extends AutoCloseable {
    /** @return MAC, MTU, queue pairs, features, backend */
    NetDeviceInfo info();

    /**
     * Transmits up to {@code count} frames on queue pair {@code queuePair}, in order. Frames are
     * copied into transmit buffers; the call does not wait for the device to consume them
     * (buffers are reclaimed on later calls).
     *
     * @param frames frame {@code i} is bytes {@code [0, lengths[i])} of {@code frames[i]}
     * @param lengths frame lengths in bytes, each in {@code 14 .. mtu + 18}
     * @param count frames to send, {@code 0 .. frames.length}
     * @return frames queued (fewer than {@code count} when the transmit ring is full; the rest
     *     are counted in {@link NetQueueStats#txFull()} and may be offered again)
     * @throws com.vhost.api.VirtioDeviceException for a bad pair, count or frame length (nothing of
     *     the burst is queued then; the message names the frame index and length)
     * @throws com.vhost.api.VhostDisconnectedException when the backend is lost or the device closed
     */
    int transmit(int queuePair, MemorySegment[] frames, int[] lengths, int count) throws VhostException;

    /**
     * Receives up to {@code max} frames from queue pair {@code queuePair} without waiting, and
     * re-posts the receive buffers they used.
     *
     * @param into frame {@code i} is copied to the start of {@code into[i]}
     * @param lengths receives each frame's length in bytes
     * @param max most frames to return, {@code 0 .. into.length}
     * @return frames received (0 when none is pending); a frame longer than its {@code into[i]}
     *     is dropped and counted in {@link NetQueueStats#rxErrors()}
     */
    int receive(int queuePair, MemorySegment[] into, int[] lengths, int max) throws VhostException;

    /**
     * Waits until a frame is pending on queue pair {@code queuePair}, at most
     * {@code timeoutNanos}: on the call eventfd in notification mode, spinning then parking in
     * polling mode.
     *
     * @return true when a frame is pending
     */
    boolean awaitReceive(int queuePair, long timeoutNanos) throws VhostException;

    /** @return the queue pairs in use now (1 .. {@link NetDeviceInfo#maxQueuePairs()}) */
    int queuePairs();

    /**
     * Changes the number of queue pairs in use (control command MQ VQ_PAIRS_SET).
     *
     * @param pairs {@code 1 .. info().maxQueuePairs()}
     * @throws com.vhost.api.VirtioDeviceException when out of range, MQ was not negotiated, or the
     *     device answered VIRTIO_NET_ERR
     */
    void setQueuePairs(int pairs) throws VhostException;

    /** @return the current MAC address, 6 bytes */
    byte[] mac();

    /**
     * Sets the MAC address (control command MAC ADDR_SET).
     *
     * @param mac 6 bytes, not multicast
     */
    void setMac(byte[] mac) throws VhostException;

    /** Turns promiscuous mode on or off (control command RX PROMISC). */
    void setPromiscuous(boolean on) throws VhostException;

    /** Turns all-multicast mode on or off (control command RX ALLMULTI). */
    void setAllMulticast(boolean on) throws VhostException;

    /** @return whether the link is up (config {@code status} LINK_UP with STATUS, else while connected) */
    boolean linkUp();

    /** @return the MTU in bytes */
    int mtu();

    /** @return counters of queue pair {@code queuePair} */
    NetQueueStats stats(int queuePair);

    /** Stops the device and releases its memory; later calls throw VhostDisconnectedException. */
    @Override
    void close();
}
