package com.vhost.devices.net.driver;

import com.vhost.api.VhostDisconnectedException;
import com.vhost.api.VhostException;
import com.vhost.api.VhostTimeoutException;
import com.vhost.api.VirtioDeviceException;
import com.vhost.api.net.VirtioNet;
import com.vhost.spi.driver.HotSwapState;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * The data path of a {@link VirtioNetDriver} ({@link com.vhost.api.net.NetDevice#transmit},
 * {@code receive}, {@code awaitReceive}): checks the call, takes the pair's lock for the burst
 * (waiting, at most {@code swap.wait.ms}, while a swap holds it), asks the driver to probe its
 * backend, and runs the burst on the {@link NetQueuePair}. Allocates nothing.
 */
final class NetDataPath {
    /** Poll mode: how long {@link #awaitReceive} spins before it parks, in nanoseconds. */
    private static final long SPIN_NANOS = 50_000;

    /** What a data-path call asks of its driver. */
    interface Checks {
        /** @throws VhostException when the driver is closed, failed, or detached longer than {@code swap.wait.ms} */
        void usable() throws VhostException;

        /** Checks the backend is still there (rate-limited); called with the pair's lock held. */
        void probe() throws VhostException;

        /** @return the queue pairs in use (VQ_PAIRS_SET) */
        int activePairs();

        /** @return whether the driver was closed */
        boolean closed();
    }

    private final NetQueuePair[] pairs;
    private final HotSwapState swap;
    private final Checks checks;
    private final boolean poll;
    private final int maxFrame;
    private final int mtu;

    /**
     * @param poll polling mode: {@link #awaitReceive} spins, then parks in short steps
     * @param maxFrame the longest frame in bytes (MTU + 18)
     */
    NetDataPath(NetQueuePair[] pairs, HotSwapState swap, Checks checks, boolean poll, int maxFrame, int mtu) {
        this.pairs = pairs;
        this.swap = swap;
        this.checks = checks;
        this.poll = poll;
        this.maxFrame = maxFrame;
        this.mtu = mtu;
    }

    /** Takes the pair's lock for one burst; waits (bounded by {@code swap.wait.ms}) while a swap holds it. */
    private void lockPair(NetQueuePair p, String what) throws VhostException {
        if (p.lock.tryLock()) {
            return;
        }
        boolean got;
        try {
            got = p.lock.tryLock(swap.swapWaitNanos(), TimeUnit.NANOSECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new VhostTimeoutException(what + " on pair " + p.index + ": interrupted while a swap of virtio-net on "
                    + swap.backendName() + " held the queue");
        }
        if (!got) {
            throw new VhostTimeoutException(what + " on pair " + p.index + ": a swap of virtio-net on " + swap.backendName()
                    + " held the queue longer than " + TimeUnit.NANOSECONDS.toMillis(swap.swapWaitNanos()) + " ms (swap.wait.ms)");
        }
        if (checks.closed()) {
            p.lock.unlock();
            throw new VhostDisconnectedException("virtio-net on " + swap.backendName() + " is closed");
        }
    }

    private NetQueuePair pair(int queuePair) throws VhostException {
        checks.usable();
        int active = checks.activePairs();
        if (queuePair < 0 || queuePair >= active) {
            throw new VirtioDeviceException("queue pair " + queuePair + " outside the " + active + " pair(s) in use (0.."
                    + (active - 1) + ")");
        }
        return pairs[queuePair];
    }

    int transmit(int queuePair, MemorySegment[] frames, int[] lengths, int count) throws VhostException {
        NetQueuePair p = pair(queuePair);
        if (count < 0 || count > frames.length || count > lengths.length) {
            throw new VirtioDeviceException("transmit on pair " + queuePair + ": count " + count + " outside 0.."
                    + Math.min(frames.length, lengths.length));
        }
        for (int i = 0; i < count; i++) {
            int len = lengths[i];
            if (len < VirtioNet.ETH_HEADER || len > maxFrame || len > frames[i].byteSize()) {
                p.txErrors++;
                throw new VirtioDeviceException("transmit on pair " + queuePair + ": frame " + i + " of " + len
                        + " bytes outside " + VirtioNet.ETH_HEADER + ".." + maxFrame + " (MTU " + mtu + " + 18)"
                        + (len > frames[i].byteSize() ? " or longer than its segment of " + frames[i].byteSize() + " bytes" : "")
                        + "; nothing of the burst was sent");
            }
        }
        lockPair(p, "transmit");
        try {
            checks.probe();
            return p.transmit(frames, lengths, count);
        } finally {
            p.lock.unlock();
        }
    }

    int receive(int queuePair, MemorySegment[] into, int[] lengths, int max) throws VhostException {
        NetQueuePair p = pair(queuePair);
        if (max < 0 || max > into.length || max > lengths.length) {
            throw new VirtioDeviceException("receive on pair " + queuePair + ": max " + max + " outside 0.."
                    + Math.min(into.length, lengths.length));
        }
        lockPair(p, "receive");
        try {
            checks.probe();
            return p.receive(into, lengths, max);
        } finally {
            p.lock.unlock();
        }
    }

    boolean awaitReceive(int queuePair, long timeoutNanos) throws VhostException {
        NetQueuePair p = pair(queuePair);
        if (p.hasReceived() || p.rxq.hasUsed()) {
            return true;
        }
        long deadline = System.nanoTime() + Math.max(0, timeoutNanos);
        long start = System.nanoTime();
        while (true) {
            if (poll) {
                if (p.hasReceived() || p.rxq.hasUsed()) {
                    return true;
                }
                long now = System.nanoTime();
                if (now - deadline >= 0) {
                    return false;
                }
                if (now - start < SPIN_NANOS) {
                    Thread.onSpinWait();
                } else {
                    LockSupport.parkNanos(Math.min(20_000, deadline - now));
                    checks.usable();
                    lockPair(p, "awaitReceive");
                    try {
                        checks.probe();
                    } finally {
                        p.lock.unlock();
                    }
                }
            } else {
                long waitStart = System.nanoTime();
                if (pollReceived(p, waitStart, deadline)) {
                    return true;
                }
                lockPair(p, "awaitReceive");
                try {
                    checks.probe();
                    if (p.hasReceived() || p.rxq.enableNotifications()) {
                        return true;
                    }
                } finally {
                    p.lock.unlock();
                }
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    return false;
                }
                p.rxCall.await((int) Math.max(1, Math.min(100, left / 1_000_000)));
                if (p.rxq.hasUsed()) {
                    p.rxPoll.record(System.nanoTime() - waitStart);
                    return true;
                }
                checks.usable();
            }
        }
    }

    /**
     * Adaptive polling before a sleep on the rx call eventfd ({@link com.vhost.spi.virtqueue.AdaptivePoll},
     * QEMU's {@code poll-max-ns}): checks for received frames for the pair's current window.
     *
     * @return whether frames came within it
     */
    private static boolean pollReceived(NetQueuePair p, long waitStart, long deadline) throws VhostException {
        long window = Math.min(p.rxPoll.pollNs(), deadline - waitStart);
        if (window <= 0) {
            return false;
        }
        do {
            Thread.onSpinWait();
            if (p.hasReceived() || p.rxq.hasUsed()) {
                p.rxPoll.record(System.nanoTime() - waitStart);
                return true;
            }
        } while (System.nanoTime() - waitStart < window);
        return false;
    }
}
