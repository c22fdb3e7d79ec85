package com.vhost.devices.net.model;

/**
 * Counters of one queue pair of a back-end model, from the device's point of view: "tx" is what
 * the driver transmitted (the device consumed from the transmit queue), "rx" what the device
 * delivered on the receive queue. Written by the worker thread only, read from any thread (a
 * torn read of a counter in progress is possible but never a value from the future).
 */
public final class NetPortCounters {
    /** Frames consumed from the transmit queue. */
    public volatile long txPackets;
    /** Their bytes, without the virtio-net header. */
    public volatile long txBytes;
    /** Transmit chains that were not a frame (shorter than header + Ethernet header), completed unused. */
    public volatile long txErrors;
    /** Frames delivered on the receive queue. */
    public volatile long rxPackets;
    /** Their bytes, without the virtio-net header. */
    public volatile long rxBytes;
    /** Frames dropped because the driver had no receive buffer posted. */
    public volatile long rxNoBuffer;
    /** Frames dropped because the receive buffers offered were too small (buffers returned with length 0). */
    public volatile long rxTooBig;

    @Override
    public String toString() {
        return "tx " + txPackets + " pkts/" + txBytes + " B (errors " + txErrors + "), rx " + rxPackets + " pkts/"
                + rxBytes + " B (no buffer " + rxNoBuffer + ", too big " + rxTooBig + ")";
    }
}
