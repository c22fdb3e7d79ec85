package com.vhost.devices.net.model;

import com.vhost.api.VhostException;
import com.vhost.api.VhostNativeException;
import com.vhost.api.VirtqueueException;
import com.vhost.api.net.VirtioNet;
import com.vhost.spi.tap.TapDevice;
import com.vhost.spi.nativeio.Linux;
import com.vhost.spi.virtqueue.DescriptorChain;
import com.vhost.spi.virtqueue.DeviceQueue;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.locks.LockSupport;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A virtio-net back-end model bridged to a host TAP interface ({@link TapDevice}: {@code
 * /dev/net/tun}, {@code IFF_TAP | IFF_NO_PI | IFF_VNET_HDR}, 12-byte vnet header), one queue
 * pair: frames the driver transmits are written to the TAP fd (header zeroed: no offloads are
 * negotiated), frames the host sends to the interface are read by a port thread and delivered on
 * the receive queue. What {@code vhost serve net --tap NAME} serves. The TAP interface is opened
 * (created when permitted) by the constructor and closed by {@link #close()}.
 *
 * <p>Counters: a write the TAP refuses (interface down, no carrier: errno in the debug log) is a
 * {@link NetPortCounters#txErrors()}; a frame read while the driver has no receive buffer posted is
 * dropped and counted ({@link NetPortCounters#rxNoBuffer()}). The port thread waits on the fd with
 * {@code poll} in 100 ms steps, so it stops within that bound.
 *
 * <p>While the receive queue does not run (a vhost-user ring stop, {@link #stopQueue}, or not
 * started yet) the TAP is not read, as while the device sleeps: frames wait in the kernel's queue
 * of the interface (which drops beyond its {@code txqueuelen}, counted by the kernel), none is
 * read and dropped here. The transmit queue runs on regardless: its frames go to the TAP.
 */
public final class TapNetModel extends AbstractNetModel {
    private static final Logger LOG = LoggerFactory.getLogger(TapNetModel.class);
    private static final int BUF_BYTES = 65536 + TapDevice.VNET_HDR_SIZE;

    private final TapDevice tap;
    private final MemorySegment txBuf;
    private final MemorySegment rxBuf;
    private final MemorySegment rxFrame;
    /** Longest wait of the reader for a stopped receive queue (it is unparked when the queue starts), ns. */
    private static final long WAIT_NS = 100_000_000L;
    private volatile boolean running;
    private volatile Thread reader;
    /**
     * Length (vnet header included) of a frame in {@link #rxBuf} read while the receive queue was
     * being stopped, 0 when none: delivered first once it runs again, kept across a sleep; touched
     * by the reader thread only, and by one at a time.
     */
    private volatile long heldBytes;

    /**
     * @param tapName the TAP interface, 1..15 bytes (created when it does not exist)
     * @param queueSize largest queue size, a power of two in 2..32768
     * @param mac the MAC address the config space reports, 6 bytes
     * @param mtu the MTU the config space reports, 68..65535 bytes
     * @throws VhostNativeException when {@code /dev/net/tun} cannot be opened or TUNSETIFF fails (errno named)
     */
    public TapNetModel(String tapName, int queueSize, byte[] mac, int mtu) throws VhostNativeException {
        super("net tap " + tapName, 1, queueSize, mac, mtu);
        this.tap = TapDevice.open(tapName);
        Arena arena = Arena.ofAuto();
        this.txBuf = arena.allocate(BUF_BYTES, 64);
        this.rxBuf = arena.allocate(BUF_BYTES, 64);
        this.rxFrame = rxBuf.asSlice(TapDevice.VNET_HDR_SIZE);
    }

    /** @return the TAP interface name */
    public String tapName() {
        return tap.name();
    }

    @Override
    protected boolean transmitted(int pair, DeviceQueue rx, DeviceQueue txq, DescriptorChain tx, long len, NetPortCounters ctr)
            throws VirtqueueException {
        try {
            return toTap(tx, len, ctr);
        } finally {
            txq.addUsedBatched(tx.head(), 0); // IN_ORDER: one used element per tx burst, flushed by the worker
        }
    }

    /** Writes the frame of {@code tx} to the TAP; @return false (nothing is delivered to a receive queue) */
    private boolean toTap(DescriptorChain tx, long len, NetPortCounters ctr) throws VirtqueueException {
        long total = VirtioNet.HDR_SIZE + len;
        if (total > BUF_BYTES) {
            ctr.txError();
            return false;
        }
        tx.copyReadable(VirtioNet.HDR_SIZE, txBuf, VirtioNet.HDR_SIZE, len);
        txBuf.set(ValueLayout.JAVA_LONG_UNALIGNED, 0, 0L); // flags, gso_type, hdr_len, gso_size, csum_start
        txBuf.set(ValueLayout.JAVA_INT_UNALIGNED, 8, 0); // csum_offset, num_buffers
        try {
            long n = Linux.write(tap.fd(), txBuf, total);
            if (n != total) {
                ctr.txError();
            }
        } catch (VhostNativeException e) {
            ctr.txError();
            LOG.debug("tap {}: write of {} bytes: {}", tap.name(), total, e.getMessage());
        }
        return false;
    }

    @Override
    protected void portStarted() throws VhostException {
        running = true;
        reader = Thread.ofPlatform().daemon().name("vhost-net-tap-" + tap.name()).start(this::readLoop);
    }

    @Override
    protected void portStopping() {
        running = false;
        Thread t = reader;
        reader = null;
        if (t != null && t != Thread.currentThread()) {
            LockSupport.unpark(t);
            try {
                t.join(2000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /**
     * Reads frames from the TAP and delivers them. While the receive queue does not run (not
     * started, or stopped by {@link #stopQueue}) the TAP is not read: frames wait in the kernel's
     * queue, as while the device sleeps. A frame read just before the queue stopped stays in the
     * read buffer ({@link #heldBytes}) and goes first when it runs again.
     */
    private void readLoop() {
        while (running) {
            try {
                long n = heldBytes;
                if (n == 0) {
                    if (receiveQueue(0) == null) {
                        LockSupport.parkNanos(WAIT_NS); // receiveQueueStarted unparks
                        continue;
                    }
                    int rev = Linux.poll(tap.fd(), Linux.POLLIN, 100);
                    if ((rev & Linux.POLLIN) == 0) {
                        continue;
                    }
                    n = Linux.read(tap.fd(), rxBuf, BUF_BYTES);
                    if (n <= TapDevice.VNET_HDR_SIZE + VirtioNet.ETH_HEADER - 1) {
                        continue;
                    }
                }
                if (deliverFromHost(0, rxFrame, n - TapDevice.VNET_HDR_SIZE, false) == HOST_HELD) {
                    heldBytes = n; // the receive queue stopped meanwhile: keep the frame
                    LockSupport.parkNanos(WAIT_NS);
                } else {
                    heldBytes = 0;
                }
            } catch (VirtqueueException e) {
                LOG.error("tap {}: receive queue: {}", tap.name(), e.getMessage());
                interrupt().signalNeedsReset("tap " + tap.name() + ": " + e.getMessage());
                return;
            } catch (VhostNativeException e) {
                LOG.error("tap {}: read: {}; the port stops", tap.name(), e.getMessage());
                return;
            }
        }
    }

    /** Unparks the reader: the receive queue it waits for runs. */
    @Override
    protected void receiveQueueStarted(int pair) {
        Thread t = reader;
        if (t != null) {
            LockSupport.unpark(t);
        }
    }

    @Override
    protected void closePort() {
        portStopping();
        tap.close();
    }
}
