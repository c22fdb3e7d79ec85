package com.vhost.devices.net.model;

import com.vhost.api.VhostException;
import com.vhost.api.VhostNativeException;
import com.vhost.api.VirtqueueException;
import com.vhost.api.net.VirtioNet;
import com.vhost.spi.nativeio.EventFd;
import com.vhost.spi.virtqueue.DescriptorChain;
import com.vhost.spi.virtqueue.DeviceQueue;
import java.lang.foreign.MemorySegment;
import java.util.ArrayDeque;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A virtio-net back-end model that loops every frame back: a frame the driver transmits on pair
 * {@code p} is delivered, unchanged, on the receive queue of pair {@code p} (copied chain to
 * chain in guest memory). It is what {@code vhost serve net --loopback} serves and the peer of the
 * driver's echo tests. Frames can also come from the host side ({@link #inject}): a port thread
 * delivers them as soon as the driver has a receive buffer posted (and the device runs). That
 * thread is started by the first frame injected while the device runs, so a device that is only
 * an echo (a hot-swap's new back-end among them) starts and stops no thread with its rings. See
 * {@link AbstractNetModel} for queues, features and counters.
 *
 * <p>A stopped receive queue ({@link #stopQueue}, a vhost-user ring stop) holds frames back rather
 * than dropping them, as a sleep does: the pair's transmit queue is not served until it starts
 * again (frames wait on the transmit ring, taken in order afterwards) and injected frames wait in
 * their queue.
 */
public final class LoopbackNetModel extends AbstractNetModel {
    private static final Logger LOG = LoggerFactory.getLogger(LoopbackNetModel.class);
    /** Most injected frames waiting per pair; {@link #inject} refuses more. */
    public static final int INJECT_LIMIT = 1024;

    private final ArrayDeque<byte[]>[] injected;
    private final EventFd wake;
    private volatile boolean running;
    /** Guards {@link #port} and the changes of {@link #running}. */
    private final Object portLock = new Object();
    /** The port thread: started by the first injected frame while the device runs, not before. */
    private Thread port;

    /**
     * @param pairs queue pairs, 1..128
     * @param queueSize largest queue size, a power of two in 2..32768
     * @param mac the MAC address the config space reports, 6 bytes
     * @param mtu the MTU the config space reports, 68..65535 bytes
     * @throws IllegalStateException when the port's eventfd cannot be created
     */
    @SuppressWarnings("unchecked")
    public LoopbackNetModel(int pairs, int queueSize, byte[] mac, int mtu) {
        super("net loopback", pairs, queueSize, mac, mtu);
        injected = new ArrayDeque[pairs];
        for (int p = 0; p < pairs; p++) {
            injected[p] = new ArrayDeque<>();
        }
        try {
            wake = EventFd.create();
        } catch (VhostNativeException e) {
            throw new IllegalStateException("net loopback: " + e.getMessage(), e);
        }
    }

    /** @return a model with {@code pairs} pairs, queues of 256, MAC 52:54:00:12:34:56 and MTU 1500 */
    public static LoopbackNetModel withDefaults(int pairs) {
        return new LoopbackNetModel(pairs, 256, new byte[] {0x52, 0x54, 0x00, 0x12, 0x34, 0x56}, VirtioNet.DEFAULT_MTU);
    }

    @Override
    protected boolean transmitted(int pair, DeviceQueue rx, DeviceQueue txq, DescriptorChain tx, long len, NetPortCounters ctr)
            throws VirtqueueException {
        synchronized (rxLock(pair)) {
            // re-read under the lock: a stopped receive queue is never written (the transmit
            // queue is held off the worker before its receive queue stops, so it runs here).
            // tx is completed before the frame is published (at most once), so IN_ORDER tx used
            // elements are not batched here: a batch would publish them after the frame
            return deliver(pair, receiveQueue(pair), tx, txq, null, len, ctr);
        }
    }

    /**
     * True: a frame transmitted on pair {@code p} is delivered on the receive queue of {@code p},
     * so while that queue is stopped (or not started) the transmit queue is not served and its
     * frames wait on the transmit ring, as while the device sleeps; none is dropped for it.
     */
    @Override
    protected boolean transmitWaitsForReceive() {
        return true;
    }

    /** Wakes the port: injected frames waiting for this receive queue go now. */
    @Override
    protected void receiveQueueStarted(int pair) {
        try {
            wake.signal();
        } catch (VhostNativeException e) {
            LOG.debug("net loopback: waking the port: {}", e.getMessage());
        }
    }

    /**
     * Queues a frame from the host side for the receive queue of {@code pair}; it is delivered
     * once the device runs and the driver has a receive buffer posted (frames wait, in order, up to
     * {@value #INJECT_LIMIT} per pair).
     *
     * @param frame a whole Ethernet frame, 14..mtu+18 bytes (copied)
     * @return false when {@value #INJECT_LIMIT} frames already wait (the frame is not queued)
     * @throws IllegalArgumentException for a bad pair or frame length
     */
    public boolean inject(int pair, byte[] frame) {
        if (pair < 0 || pair >= pairs()) {
            throw new IllegalArgumentException("pair " + pair + " outside 0.." + (pairs() - 1));
        }
        if (frame.length < VirtioNet.ETH_HEADER || frame.length > mtu() + VirtioNet.ETH_HEADER + 4) {
            throw new IllegalArgumentException("frame of " + frame.length + " bytes outside 14.." + (mtu() + 18));
        }
        synchronized (injected[pair]) {
            if (injected[pair].size() >= INJECT_LIMIT) {
                return false;
            }
            injected[pair].add(frame.clone());
        }
        synchronized (portLock) {
            if (running && port == null) {
                port = startPort();
            }
        }
        try {
            wake.signal();
        } catch (VhostNativeException e) {
            LOG.debug("net loopback: waking the port: {}", e.getMessage());
        }
        return true;
    }

    @Override
    protected void portStarted() throws VhostException {
        synchronized (portLock) {
            running = true;
            if (port == null && anyInjected()) {
                port = startPort();
            }
        }
    }

    private Thread startPort() {
        return Thread.ofPlatform().daemon().name("vhost-net-loopback-port").start(this::portLoop);
    }

    private boolean anyInjected() {
        for (ArrayDeque<byte[]> q : injected) {
            synchronized (q) {
                if (!q.isEmpty()) {
                    return true;
                }
            }
        }
        return false;
    }

    @Override
    protected void portStopping() {
        Thread t;
        synchronized (portLock) {
            running = false;
            t = port;
            port = null;
        }
        if (t != null && t != Thread.currentThread()) {
            try {
                wake.signal();
                t.join(2000);
            } catch (VhostNativeException e) {
                LOG.debug("net loopback: waking the port: {}", e.getMessage());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** Delivers injected frames; retries every millisecond while frames wait for receive buffers. */
    private void portLoop() {
        while (running) {
            boolean waiting = false;
            try {
                for (int p = 0; p < pairs() && running; p++) {
                    waiting |= deliverInjected(p);
                }
                wake.await(waiting ? 1 : 100);
            } catch (VirtqueueException e) {
                LOG.error("net loopback: receive queue: {}", e.getMessage());
                interrupt().signalNeedsReset("net loopback port: " + e.getMessage());
                return;
            } catch (VhostNativeException e) {
                LOG.error("net loopback: port eventfd: {}; the port stops", e.getMessage());
                return;
            }
        }
    }

    /** @return whether frames are still waiting on {@code pair} */
    private boolean deliverInjected(int pair) throws VirtqueueException {
        ArrayDeque<byte[]> q = injected[pair];
        while (running) {
            byte[] f;
            synchronized (q) {
                f = q.peek();
            }
            if (f == null) {
                return false;
            }
            if (deliverFromHost(pair, MemorySegment.ofArray(f), f.length, true) == HOST_HELD) {
                return true; // receive queue stopped or no buffer posted: the frame waits, in order
            }
            synchronized (q) {
                q.poll();
            }
        }
        return false;
    }

    @Override
    protected void closePort() {
        portStopping();
        wake.close();
    }
}
