package com.vhost.devices.net.driver;

import com.vhost.api.VhostException;
import com.vhost.api.VhostNativeException;
import com.vhost.api.VirtioDeviceException;
import com.vhost.api.virtio.VirtqueueConfig;
import com.vhost.spi.nativeio.EventFd;
import com.vhost.spi.virtqueue.DriverQueue;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The rings of a {@link VirtioNetDriver} as a set: every {@link NetQueuePair} (queue index
 * {@code 2p} receive, {@code 2p + 1} transmit, VIRTIO 1.2 5.1.2) and the control queue (index
 * {@code 2N}). What a swap, snapshot or restore does to them: hold and release every pair's lock,
 * reap, take the restart points after a stop, build the queue configs that start a backend, reset
 * them at a snapshot's indices. The caller holds the driver's swap lock.
 */
final class NetRings {
    private static final Logger LOG = LoggerFactory.getLogger(NetRings.class);

    final NetQueuePair[] pairs;
    final NetControlQueue ctrl;
    private final int queueSize;
    /** Receive rings busy-polled (their used-buffer notifications off). */
    private final boolean poll;
    /** Where each data queue restarts after a stop (index = queue index), and the control queue. */
    private int[] restartBases;
    private int restartCtrl = -1;
    private volatile long retaken; // written under the swap lock

    NetRings(NetQueuePair[] pairs, NetControlQueue ctrl, int queueSize, boolean poll) {
        this.pairs = pairs;
        this.ctrl = ctrl;
        this.queueSize = queueSize;
        this.poll = poll;
    }

    /** @return the rings: every pair's receive and transmit queue, then the control queue */
    int count() {
        return 2 * pairs.length + 1;
    }

    /** @return the data ring with queue index {@code i} ({@code i < 2N}) */
    DriverQueue ring(int i) {
        NetQueuePair p = pairs[i / 2];
        return i % 2 == 0 ? p.rxq : p.txq;
    }

    /** Consumes the used elements of data ring {@code i}. */
    void reap(int i) throws VhostException {
        pairs[i / 2].reap(ring(i));
    }

    /** Takes every pair's lock: a burst in progress finishes first; new ones wait (bounded). */
    void lockAll() {
        for (NetQueuePair p : pairs) {
            p.lock.lock();
        }
    }

    /** Posts the free receive buffers ({@code refill}), releases every pair and wakes receivers. */
    void unlockAll(boolean refill) {
        try {
            if (refill) {
                for (NetQueuePair p : pairs) {
                    p.refill();
                }
            }
        } catch (VhostException e) {
            LOG.warn("filling the receive queues failed: {}", e.getMessage());
        } finally {
            for (NetQueuePair p : pairs) {
                p.lock.unlock();
            }
        }
        // frames reaped by a swap are announced by no back-end
        for (NetQueuePair p : pairs) {
            try {
                p.rxCall.signal();
            } catch (VhostNativeException e) {
                LOG.debug("pair {}: waking receivers: {}", p.index, e.getMessage());
            }
        }
    }

    /**
     * After a stop: each data ring restarts at its used index. Chains the old back-end took and
     * did not complete (base beyond the used index) are offered again and counted in
     * {@link #retaken()}; with the base unknown everything not completed is offered again,
     * uncounted. Packed rings restart fresh (index 0x8000) instead: frames waiting to be sent are
     * placed again on the fresh transmit ring in the order they were sent (counted in
     * {@link #retaken()}), receive buffers not holding a frame are free to post again.
     * {@code bases} is updated to the restart points.
     *
     * @return chains offered again
     */
    int takeRestartPoints(int[] bases, String backend) {
        int again = 0;
        for (int i = 0; i < 2 * pairs.length; i++) {
            DriverQueue q = ring(i);
            try {
                pairs[i / 2].reap(q);
            } catch (VhostException | RuntimeException e) {
                LOG.warn("queue {}: reaping the used ring of {} failed: {}", q.index(), backend, e.toString());
            }
            int used = q.lastUsedIdx();
            again += bases[i] < 0 || q.isPacked() ? 0 : (bases[i] - used) & 0xFFFF;
            bases[i] = used;
        }
        if (pairs[0].rxq.isPacked()) {
            // Not at the used index: an out-of-order used element may have overwritten descriptors
            // of buffers the old back-end held. Fresh rings; the driver posts its receive buffers again.
            int placed = 0;
            for (NetQueuePair p : pairs) {
                try {
                    placed += p.restartFresh(p.rxq.freshIdx(), p.txq.freshIdx(), poll);
                } catch (VhostException e) {
                    LOG.warn("pair {}: kicking the receive queue after its fresh restart: {}", p.index, e.getMessage());
                }
                bases[2 * p.index] = p.rxq.freshIdx(); // where the next back-end starts: before the frames placed again
                bases[2 * p.index + 1] = p.txq.freshIdx();
            }
            again += placed;
            if (placed > 0) {
                LOG.debug("packed rings restart fresh after {}: {} frame(s) waiting to be sent placed again, in order", backend, placed);
            }
        }
        retaken += again;
        restartBases = Arrays.copyOf(bases, 2 * pairs.length);
        restartCtrl = bases[2 * pairs.length];
        return again;
    }

    /** @return configs that start a backend at the restart points taken last, {@code active} pairs enabled */
    List<VirtqueueConfig> restartConfigs(int active) {
        return configs(restartBases, restartCtrl, active);
    }

    /** A backend started: the restart points are used up. */
    void restarted() {
        restartBases = null;
        restartCtrl = -1;
    }

    /** @return chains the old back-ends took without completing, offered again */
    long retaken() {
        return retaken;
    }

    /** @return each data ring's avail index now (a fresh ring's start: 0 split, 0x8000 packed), for {@link #configs} */
    int[] availIndices() {
        int[] bases = new int[2 * pairs.length];
        for (int i = 0; i < bases.length; i++) {
            bases[i] = ring(i).availIdx();
        }
        return bases;
    }

    /** Queue configs for a start at {@code bases}: same rings, same eventfds, the first {@code active} pairs enabled. */
    List<VirtqueueConfig> configs(int[] bases, int ctrlBase, int active) {
        List<VirtqueueConfig> configs = new ArrayList<>(count());
        for (NetQueuePair p : pairs) {
            boolean on = p.index < active;
            DriverQueue r = p.rxq;
            DriverQueue t = p.txq;
            configs.add(new VirtqueueConfig(r.index(), queueSize, r.descGpa(), r.availGpa(), r.usedGpa(), bases[r.index()],
                    p.rxKick.fd(), p.rxCall.fd(), on));
            configs.add(new VirtqueueConfig(t.index(), queueSize, t.descGpa(), t.availGpa(), t.usedGpa(), bases[t.index()],
                    p.txKick.fd(), p.txCall.fd(), on));
        }
        configs.add(ctrl.config(ctrlBase));
        return configs;
    }

    /** @return each ring's indices and chains in flight, for a snapshot */
    List<NetDriverSnapshot.Ring> record() {
        List<NetDriverSnapshot.Ring> rings = new ArrayList<>(count());
        for (NetQueuePair p : pairs) {
            rings.add(new NetDriverSnapshot.Ring(p.rxq.availIdx(), p.rxq.lastUsedIdx(), p.rxq.inFlight()));
            rings.add(new NetDriverSnapshot.Ring(p.txq.availIdx(), p.txq.lastUsedIdx(), p.txq.inFlight()));
        }
        rings.add(new NetDriverSnapshot.Ring(ctrl.ring.availIdx(), ctrl.ring.lastUsedIdx(), ctrl.ring.inFlight()));
        return rings;
    }

    /**
     * Checks a snapshot's queues are these rings: as many, each with this index, size and addresses.
     *
     * @throws VirtioDeviceException naming the first that differs
     */
    void checkSnapshot(List<VirtqueueConfig> queues) throws VirtioDeviceException {
        int nq = count();
        if (queues.size() != nq) {
            throw new VirtioDeviceException("restore: snapshot has " + queues.size() + " queues, this device " + nq
                    + " (" + pairs.length + " pair(s) and the control queue)");
        }
        for (int i = 0; i < nq; i++) {
            VirtqueueConfig c = queues.get(i);
            DriverQueue q = i == nq - 1 ? ctrl.ring : ring(i);
            if (c.index() != q.index() || c.size() != q.size() || c.descAddr() != q.descGpa() || c.availAddr() != q.availGpa()
                    || c.usedAddr() != q.usedGpa()) {
                throw new VirtioDeviceException(String.format("restore: snapshot queue #%d (index %d, size %d, desc 0x%x) is"
                        + " not this driver's queue %d (size %d, desc 0x%x)", i, c.index(), c.size(), c.descAddr(), q.index(),
                        q.size(), q.descGpa()));
            }
        }
    }

    /**
     * Resets every ring at a snapshot's index (frames waiting to be sent are dropped, received
     * ones kept: {@link NetQueuePair#resetRings}).
     *
     * @param dropped receives the frames waiting to be sent that were dropped, at index 0
     * @return the snapshot's queue configs with this driver's eventfds
     */
    List<VirtqueueConfig> resetTo(List<VirtqueueConfig> queues, boolean pollRx, int[] dropped) {
        for (NetQueuePair p : pairs) {
            dropped[0] += p.resetRings(queues.get(2 * p.index).nextAvail(), queues.get(2 * p.index + 1).nextAvail(), pollRx);
        }
        ctrl.ring.reset(queues.get(2 * pairs.length).nextAvail());
        restartCtrl = -1;
        List<VirtqueueConfig> configs = new ArrayList<>(queues.size());
        for (VirtqueueConfig c : queues) {
            int i = c.index();
            EventFd kick = i == ctrl.ring.index() ? ctrl.kick : i % 2 == 0 ? pairs[i / 2].rxKick : pairs[i / 2].txKick;
            EventFd call = i == ctrl.ring.index() ? ctrl.call : i % 2 == 0 ? pairs[i / 2].rxCall : pairs[i / 2].txCall;
            configs.add(new VirtqueueConfig(i, c.size(), c.descAddr(), c.availAddr(), c.usedAddr(), c.nextAvail(), kick.fd(),
                    call.fd(), c.enabled()));
        }
        return configs;
    }

    /** @return System.nanoTime() of the latest burst that saw a used element on any pair, 0 when none */
    long lastDoneNanos() {
        long last = 0;
        for (NetQueuePair p : pairs) {
            if (p.lastDoneNanos != 0 && (last == 0 || p.lastDoneNanos - last > 0)) {
                last = p.lastDoneNanos;
            }
        }
        return last;
    }

    /** Puts the frame counters summed over the pairs into {@code m} (see {@link VirtioNetDriver#counters()}). */
    void putCounters(Map<String, Long> m) {
        long txf = 0;
        long txb = 0;
        long rxf = 0;
        long rxb = 0;
        long full = 0;
        long drops = 0;
        for (NetQueuePair p : pairs) {
            txf += p.txPackets;
            txb += p.txBytes;
            rxf += p.rxPackets;
            rxb += p.rxBytes;
            full += p.txFull;
            drops += p.txErrors + p.rxErrors;
        }
        // The keys every driver has (vhost:stats, JMX Requests/Bytes): frames and bytes moved both ways.
        m.put("requests", txf + rxf);
        m.put("bytes", txb + rxb);
        m.put("tx.frames", txf);
        m.put("tx.bytes", txb);
        m.put("rx.frames", rxf);
        m.put("rx.bytes", rxb);
        m.put("tx.full", full);
        m.put("drops", drops);
    }

    /** Closes every eventfd. */
    void closeFds() {
        for (NetQueuePair p : pairs) {
            p.closeFds();
        }
        ctrl.closeFds();
    }
}
