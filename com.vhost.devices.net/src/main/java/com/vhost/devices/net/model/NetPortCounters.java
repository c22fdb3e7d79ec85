package com.vhost.devices.net.model;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * Counters of one queue pair of a back-end model, from the device's point of view: "tx" is what
 * the driver transmitted (the device consumed from the transmit queue), "rx" what the device
 * delivered on the receive queue. Each counter has one writing thread at a time (the worker, or
 * a port thread under the receive queue's lock) and is written and read with opaque access: no
 * fence on the data path, no torn value for readers on other threads, no ordering between
 * counters.
 */
public final class NetPortCounters {
    private static final VarHandle TX_PACKETS;
    private static final VarHandle TX_BYTES;
    private static final VarHandle TX_ERRORS;
    private static final VarHandle RX_PACKETS;
    private static final VarHandle RX_BYTES;
    private static final VarHandle RX_NO_BUFFER;
    private static final VarHandle RX_TOO_BIG;

    static {
        try {
            MethodHandles.Lookup l = MethodHandles.lookup();
            TX_PACKETS = l.findVarHandle(NetPortCounters.class, "txPackets", long.class);
            TX_BYTES = l.findVarHandle(NetPortCounters.class, "txBytes", long.class);
            TX_ERRORS = l.findVarHandle(NetPortCounters.class, "txErrors", long.class);
            RX_PACKETS = l.findVarHandle(NetPortCounters.class, "rxPackets", long.class);
            RX_BYTES = l.findVarHandle(NetPortCounters.class, "rxBytes", long.class);
            RX_NO_BUFFER = l.findVarHandle(NetPortCounters.class, "rxNoBuffer", long.class);
            RX_TOO_BIG = l.findVarHandle(NetPortCounters.class, "rxTooBig", long.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private long txPackets;
    private long txBytes;
    private long txErrors;
    private long rxPackets;
    private long rxBytes;
    private long rxNoBuffer;
    private long rxTooBig;

    /** @return frames consumed from the transmit queue */
    public long txPackets() {
        return (long) TX_PACKETS.getOpaque(this);
    }

    /** @return their bytes, without the virtio-net header */
    public long txBytes() {
        return (long) TX_BYTES.getOpaque(this);
    }

    /** @return transmit chains that were not a frame, or that the host port refused */
    public long txErrors() {
        return (long) TX_ERRORS.getOpaque(this);
    }

    /** @return frames delivered on the receive queue */
    public long rxPackets() {
        return (long) RX_PACKETS.getOpaque(this);
    }

    /** @return their bytes, without the virtio-net header */
    public long rxBytes() {
        return (long) RX_BYTES.getOpaque(this);
    }

    /** @return frames dropped because the driver had no receive buffer posted */
    public long rxNoBuffer() {
        return (long) RX_NO_BUFFER.getOpaque(this);
    }

    /** @return frames dropped because the receive buffers were too small (returned with length 0) */
    public long rxTooBig() {
        return (long) RX_TOO_BIG.getOpaque(this);
    }

    void transmitted(long bytes) {
        TX_PACKETS.setOpaque(this, txPackets + 1);
        TX_BYTES.setOpaque(this, txBytes + bytes);
    }

    void txError() {
        TX_ERRORS.setOpaque(this, txErrors + 1);
    }

    void delivered(long bytes) {
        RX_PACKETS.setOpaque(this, rxPackets + 1);
        RX_BYTES.setOpaque(this, rxBytes + bytes);
    }

    void noBuffer() {
        RX_NO_BUFFER.setOpaque(this, rxNoBuffer + 1);
    }

    void tooBig() {
        RX_TOO_BIG.setOpaque(this, rxTooBig + 1);
    }

    @Override
    public String toString() {
        return "tx " + txPackets() + " pkts/" + txBytes() + " B (errors " + txErrors() + "), rx " + rxPackets() + " pkts/"
                + rxBytes() + " B (no buffer " + rxNoBuffer() + ", too big " + rxTooBig() + ")";
    }
}
