package com.vhost.spi.vhost;

import com.vhost.api.VhostException;
import com.vhost.api.VirtqueueException;
import com.vhost.api.VringAddr;
import com.vhost.api.user.VhostUserBackend;
import com.vhost.api.user.VringRequest;
import com.vhost.api.virtio.GuestMemory;
import com.vhost.api.virtio.VirtqueueConfig;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The rings' start and stop of a {@link GenericVhostDevice} on a vhost-user back-end as batches
 * of requests ({@link VhostUserBackend#pipeline}): the requests of a batch go out together and
 * their acks and replies are read afterwards, in order, so a start or stop waits for the back-end
 * once or twice instead of once per request and queue (what a hot-swap's pause is made of). The
 * batches are cut where a request depends on the acceptance of earlier ones.
 */
final class RingBatches {
    private RingBatches() {}

    /**
     * @return the addresses SET_VRING_ADDR carries for {@code q} ({@link TransportHooks#ringAddr})
     * @throws VirtqueueException when the ring is not inside {@code memory}
     */
    static VringAddr ringAddr(TransportHooks hooks, GuestMemory memory, VirtqueueConfig q) throws VirtqueueException {
        try {
            return hooks.ringAddr(memory, q); // vhost-vdpa: IOVAs (= guest-physical), checked against memory
        } catch (IndexOutOfBoundsException e) {
            throw new VirtqueueException(q.index(), "SET_VRING_ADDR: ring outside guest memory: " + e.getMessage());
        }
    }

    /**
     * The rings' start in two batches ({@link VhostUserBackend#pipeline}), one wait each instead
     * of one per request: first SET_VRING_NUM, SET_VRING_BASE, SET_VRING_ADDR and SET_VRING_CALL
     * of every queue, none of which runs a ring; then, only when the back-end accepted all of
     * those, SET_VRING_KICK of every queue and SET_VRING_ENABLE of every queue (with
     * PROTOCOL_FEATURES), which run them. A ring thus never runs with a size, base or address the
     * back-end refused. Once the second batch is sent every queue counts as started in
     * {@code done} (a failure stops them all).
     */
    static void start(VhostUserBackend b, TransportHooks hooks, CallMasks calls, GuestMemory memory, List<VirtqueueConfig> queues,
            List<VirtqueueConfig> done)
            throws VhostException {
        List<VringRequest> setup = new ArrayList<>(4 * queues.size());
        int[] callFds = new int[queues.size()];
        for (int k = 0; k < queues.size(); k++) {
            VirtqueueConfig q = queues.get(k);
            int i = q.index();
            setup.add(VringRequest.num(i, q.size()));
            setup.add(VringRequest.base(i, q.nextAvail()));
            setup.add(VringRequest.addr(ringAddr(hooks, memory, q)));
            callFds[k] = calls.backendFd(i, q.callFd());
            setup.add(VringRequest.call(i, callFds[k]));
        }
        b.pipeline(setup);
        List<VringRequest> run = new ArrayList<>(2 * queues.size());
        for (int k = 0; k < queues.size(); k++) {
            calls.sent(queues.get(k).index(), callFds[k]);
            run.add(VringRequest.kick(queues.get(k).index(), queues.get(k).kickFd()));
        }
        if (hooks.enablesAtStart()) {
            for (VirtqueueConfig q : queues) {
                run.add(VringRequest.enable(q.index(), q.enabled()));
            }
        }
        done.addAll(queues);
        b.pipeline(run);
    }

    /**
     * The rings' stop as one batch ({@link VhostUserBackend#pipeline}): SET_VRING_ENABLE(0) of
     * every queue (with PROTOCOL_FEATURES) in reverse start order, then GET_VRING_BASE of every
     * queue, all sent whatever
     * the back-end answers to one of them, as the one-by-one stop does.
     *
     * @param disable whether rings are switched one by one (SET_VRING_ENABLE(0) first)
     * @param bases filled with each queue's next avail index, all -1 when any request failed
     * @return the failure (naming the first failed request and queue), or null
     */
    static VhostException stop(VhostUserBackend b, boolean disable, List<VirtqueueConfig> queues, int[] bases) {
        List<VringRequest> stop = new ArrayList<>(2 * queues.size());
        if (disable) {
            // last started, first off: a net device's transmit ring before its receive ring, so a
            // back-end that loops or forwards frames never takes one for a receive ring already off
            for (int k = queues.size() - 1; k >= 0; k--) {
                stop.add(VringRequest.enable(queues.get(k).index(), false));
            }
        }
        int from = stop.size();
        for (VirtqueueConfig q : queues) {
            stop.add(VringRequest.getBase(q.index()));
        }
        try {
            long[] replies = b.pipeline(stop);
            for (int k = 0; k < bases.length; k++) {
                bases[k] = (int) replies[from + k];
            }
            return null;
        } catch (VhostException e) {
            Arrays.fill(bases, -1);
            return e;
        }
    }
}
