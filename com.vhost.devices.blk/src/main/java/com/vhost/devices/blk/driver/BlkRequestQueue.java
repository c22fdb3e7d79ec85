package com.vhost.devices.blk.driver;

import com.vhost.api.VhostDisconnectedException;
import com.vhost.api.VhostException;
import com.vhost.api.VirtioDeviceException;
import com.vhost.api.blk.BlockCompletion;
import com.vhost.api.blk.BlockQueue;
import com.vhost.api.blk.VirtioBlk;
import com.vhost.api.virtio.VirtqueueConfig;
import com.vhost.spi.nativeio.EventFd;
import com.vhost.spi.virtqueue.DriverQueue;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;

/**
 * One virtio-blk request queue of a {@link VirtioBlkDriver}: a {@link DriverQueue}, its kick and
 * call eventfds, and one request slot per descriptor holding the request header
 * ({@code le32 type; le32 reserved; le64 sector}), a discard / write-zeroes segment, the GET_ID
 * answer and the status byte (VIRTIO 1.2, 5.2.6).
 *
 * <p><b>Low-level path</b> (benchmarks, zero allocation): obtained from
 * {@link VirtioBlkDriver#queue(int)}, which hands the queue over from the driver's completion
 * thread to the caller. {@link #submit}, {@link #kick}, {@link #poll} and {@link #await} must then
 * be called from <em>one thread at a time</em> (the submitting thread); they take no lock and
 * allocate nothing. The high-level {@link com.vhost.api.blk.BlockDevice} methods are refused on a
 * queue in this mode.
 *
 * <p>Request chain: header (readable, 16 bytes), data (readable for OUT, writable for IN; split
 * in segments of at most {@code size_max} bytes), status (writable, 1 byte).
 */
public final class BlkRequestQueue implements BlockQueue {
    private static final ValueLayout.OfInt LE32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong LE64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final VarHandle U32 = LE32.varHandle();
    private static final VarHandle U64 = LE64.varHandle();
    private static final VarHandle U8 = ValueLayout.JAVA_BYTE.varHandle();

    /** Bytes of one request slot: header 0..15, segment 16..31, id 32..51, status 56. */
    static final int SLOT_BYTES = 64;
    private static final int SEG_OFF = 16;
    private static final int ID_OFF = 32;
    private static final int STATUS_OFF = 56;
    /** Poll mode: how long a wait spins before it starts parking, in nanoseconds. */
    static final long SPIN_NANOS = 200_000;
    /** Status value written before submission; a device that answers must overwrite it. */
    static final int STATUS_UNSET = 0xFF;

    private final VirtioBlkDriver driver;
    private final int index;
    /** The ring and slot area in use; a swap switches to the other ({@link #takeOutstanding}). */
    private DriverQueue dq;
    private MemorySegment slots;
    private long slotsGpa;
    private final DriverQueue[] areaQueues;
    private final MemorySegment[] areaSlots;
    private final long[] areaSlotsGpa;
    private int area;
    private final EventFd kick;
    private final EventFd call;
    /** Poll mode: completions are found by polling; {@link #call} exists but nobody waits on it. */
    private final boolean pollMode;
    private final int[] freeSlots;
    private int freeSlotCount;
    private final long[] tags;
    private final BlkRequest[] reqs;
    private final long[] addrs;
    private final int[] lens;
    private final DriverQueue.UsedHandler handler = this::onUsed;
    private BlockCompletion current;

    // High-level path state, guarded by lock.
    private final ReentrantLock lock = new ReentrantLock();
    private final ArrayDeque<BlkRequest> pending = new ArrayDeque<>();
    private final BlkRequest[] doneReqs;
    private final int[] doneStatus;
    private int doneCount;
    private int highInFlight;
    /** Submission order of the high-level request in each slot (hot-swap resubmits in this order). */
    private final long[] seqs;
    private long nextSeq;
    /** Requests taken from the ring by the last {@link #takeOutstanding}, placed again by {@link #resume}. */
    private int carried;
    private volatile boolean lowLevel;
    private final BlkCompleter completer;

    /**
     * @param dqs the two ring areas (index 0 in use first)
     * @param slots the two request slot areas
     * @param slotsGpa their guest-physical addresses
     */
    BlkRequestQueue(VirtioBlkDriver driver, int index, DriverQueue[] dqs, MemorySegment[] slots, long[] slotsGpa,
            EventFd kick, EventFd call, boolean pollMode, int maxSegments) {
        DriverQueue dq = dqs[0];
        this.areaQueues = dqs.clone();
        this.areaSlots = slots.clone();
        this.areaSlotsGpa = slotsGpa.clone();
        this.driver = driver;
        this.index = index;
        this.dq = dq;
        this.slots = slots[0];
        this.slotsGpa = slotsGpa[0];
        this.kick = kick;
        this.call = call;
        this.pollMode = pollMode;
        int n = dq.size();
        this.freeSlots = new int[n];
        for (int i = 0; i < n; i++) {
            freeSlots[i] = n - 1 - i;
        }
        this.freeSlotCount = n;
        this.tags = new long[n];
        this.reqs = new BlkRequest[n];
        this.doneReqs = new BlkRequest[n];
        this.doneStatus = new int[n];
        this.seqs = new long[n];
        this.completer = new BlkCompleter(this, driver);
        this.addrs = new long[maxSegments + 2];
        this.lens = new int[maxSegments + 2];
    }

    /** @return this queue's index */
    @Override
    public int index() {
        return index;
    }

    /** @return requests submitted and not yet completed (descriptor chains outstanding) */
    public int inFlight() {
        return dq.inFlight();
    }

    /**
     * Queues one request without notifying the device (call {@link #kick()} after a batch).
     *
     * @param type {@link VirtioBlk#T_IN} (read into {@code buffer}), {@link VirtioBlk#T_OUT} (write
     *     {@code buffer}) or {@link VirtioBlk#T_FLUSH} ({@code buffer} ignored, may be null)
     * @param offset byte offset on the device, a multiple of the block size
     * @param buffer a segment from {@link VirtioBlkDriver#allocateBuffer}; its whole length is
     *     transferred (a multiple of the block size, at most {@link VirtioBlkDriver#maxRequestBytes()})
     * @param tag handed back to the {@link BlockCompletion}
     * @return false when the queue is full (poll for completions and retry)
     * @throws VirtioDeviceException for an argument outside the device's limits, a buffer not from
     *     the pool, or a write on a read-only device
     * @throws VhostDisconnectedException when the driver was closed or its backend lost
     */
    @Override
    public boolean submit(int type, long offset, MemorySegment buffer, long tag) throws VhostException {
        driver.usable();
        if (!lowLevel) {
            throw new VirtioDeviceException("queue " + index + ": submit needs the low-level mode of VirtioBlkDriver.queue(" + index + ")");
        }
        long gpa = 0;
        long len = 0;
        if (type == VirtioBlk.T_IN || type == VirtioBlk.T_OUT) {
            if (buffer == null) {
                throw new VirtioDeviceException("queue " + index + ": " + BlkRequest.typeName(type) + " at offset " + offset
                        + " needs a buffer");
            }
            len = buffer.byteSize();
            driver.geometry().checkRange(type, offset, len, true);
            if (!driver.pool().owns(buffer)) {
                throw new VirtioDeviceException("queue " + index + ": " + BlkRequest.typeName(type)
                        + " buffer at 0x" + Long.toHexString(buffer.address()) + " is not from allocateBuffer");
            }
            gpa = driver.gpaOf(buffer);
        } else if (type == VirtioBlk.T_FLUSH) {
            if (!driver.hasFlush()) {
                throw new VirtioDeviceException("queue " + index + ": VIRTIO_BLK_T_FLUSH without VIRTIO_BLK_F_FLUSH negotiated");
            }
        } else {
            throw new VirtioDeviceException("queue " + index + ": low-level submit supports types IN 0, OUT 1, FLUSH 4, not " + type);
        }
        return enqueue(type, offset >>> VirtioBlk.SECTOR_SHIFT, gpa, len, 0, 0, tag) >= 0;
    }

    /** Notifies the device of submitted requests when it asked for it (EVENT_IDX / NO_NOTIFY). */
    @Override
    public void kick() throws VhostException {
        driver.usable();
        if (dq.kickNeeded()) {
            kick.signal();
        }
    }

    /**
     * Hands every completed request to {@code h} without waiting.
     *
     * @return the number of completions
     * @throws com.vhost.api.VirtqueueException when the device broke the ring rules
     */
    @Override
    public int poll(BlockCompletion h) throws VhostException {
        driver.usable();
        current = h;
        try {
            return dq.pollUsed(handler);
        } finally {
            current = null;
        }
    }

    /**
     * Waits up to {@code timeoutNanos} for at least one completion (on the call eventfd, or by
     * polling in poll mode) and hands all available ones to {@code h}.
     *
     * @return completions handled, 0 on timeout
     * @throws VhostDisconnectedException when the backend was lost or the driver closed
     */
    @Override
    public int await(BlockCompletion h, long timeoutNanos) throws VhostException {
        long start = System.nanoTime();
        long deadline = start + Math.max(0, timeoutNanos);
        while (true) {
            int n = poll(h);
            if (n > 0) {
                return n;
            }
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                if (!driver.backendConnected()) {
                    throw new VhostDisconnectedException("queue " + index + ": backend " + driver.backendName() + " lost with "
                            + dq.inFlight() + " requests in flight");
                }
                return 0;
            }
            if (pollMode) {
                // Busy-poll for the first SPIN_NANOS of a wait (a back-end answers in microseconds),
                // then park in short steps so an idle poller does not hold a CPU.
                if (System.nanoTime() - start < SPIN_NANOS) {
                    Thread.onSpinWait();
                } else {
                    LockSupport.parkNanos(Math.min(left, 20_000));
                }
            } else if (!dq.enableNotifications()) {
                int ms = (int) Math.max(1, Math.min(100, TimeUnit.NANOSECONDS.toMillis(left)));
                if (!call.await(ms) && !driver.backendConnected()) {
                    throw new VhostDisconnectedException("queue " + index + ": backend " + driver.backendName() + " lost with "
                            + dq.inFlight() + " requests in flight");
                }
            }
        }
    }

    /**
     * Places one request chain.
     *
     * @return the slot, or -1 when no slot or not enough descriptors are free
     */
    private int enqueue(int type, long sector, long dataGpa, long dataLen, int segSectors, int segFlags, long tag) {
        if (freeSlotCount == 0) {
            return -1;
        }
        int slot = freeSlots[--freeSlotCount];
        long base = (long) slot * SLOT_BYTES;
        U32.set(slots, base, type);
        U32.set(slots, base + 4, 0);
        U64.set(slots, base + 8, sector);
        U8.set(slots, base + STATUS_OFF, (byte) STATUS_UNSET);
        int n = 0;
        addrs[n] = slotsGpa + base;
        lens[n++] = VirtioBlk.REQ_HEADER_SIZE;
        int out = 1;
        switch (type) {
            case VirtioBlk.T_OUT, VirtioBlk.T_IN -> {
                int seg = driver.geometry().segmentBytes();
                for (long off = 0; off < dataLen; off += seg) {
                    addrs[n] = dataGpa + off;
                    lens[n++] = (int) Math.min(seg, dataLen - off);
                }
                if (type == VirtioBlk.T_OUT) {
                    out = n;
                }
            }
            case VirtioBlk.T_DISCARD, VirtioBlk.T_WRITE_ZEROES -> {
                U64.set(slots, base + SEG_OFF, sector);
                U32.set(slots, base + SEG_OFF + 8, segSectors);
                U32.set(slots, base + SEG_OFF + 12, segFlags);
                U64.set(slots, base + 8, 0L);
                addrs[n] = slotsGpa + base + SEG_OFF;
                lens[n++] = VirtioBlk.DISCARD_SEGMENT_SIZE;
                out = n;
            }
            case VirtioBlk.T_GET_ID -> {
                addrs[n] = slotsGpa + base + ID_OFF;
                lens[n++] = VirtioBlk.ID_BYTES;
            }
            default -> {
                // FLUSH: header and status only.
            }
        }
        addrs[n] = slotsGpa + base + STATUS_OFF;
        lens[n++] = 1;
        int head = dq.add(addrs, lens, out, n - out, slot);
        if (head < 0) {
            freeSlots[freeSlotCount++] = slot;
            return -1;
        }
        tags[slot] = tag;
        return slot;
    }

    private void onUsed(long token, int writtenLen) {
        int slot = (int) token;
        long base = (long) slot * SLOT_BYTES;
        int status = Byte.toUnsignedInt((byte) U8.get(slots, base + STATUS_OFF));
        long tag = tags[slot];
        if (lowLevel) {
            freeSlots[freeSlotCount++] = slot;
            current.complete(tag, status);
            return;
        }
        BlkRequest r = reqs[slot];
        reqs[slot] = null;
        if (r != null && r.type == VirtioBlk.T_GET_ID && status == VirtioBlk.S_OK) {
            byte[] id = new byte[VirtioBlk.ID_BYTES];
            MemorySegment.copy(slots, ValueLayout.JAVA_BYTE, base + ID_OFF, id, 0, id.length);
            int end = 0;
            while (end < id.length && id[end] != 0) {
                end++;
            }
            r.id = new String(id, 0, end, StandardCharsets.US_ASCII);
        }
        freeSlots[freeSlotCount++] = slot;
        highInFlight--;
        doneReqs[doneCount] = r;
        doneStatus[doneCount++] = status;
    }

    // ---- high-level path (BlockDevice futures), all under lock ----

    /** Submits or parks {@code r}; fails it at once when the driver is unusable. */
    void submit(BlkRequest r) {
        VhostException failure = null;
        VhostException kickFailure = null;
        lock.lock();
        try {
            failure = driver.failedWith();
            if (failure == null && lowLevel) {
                failure = new VirtioDeviceException("queue " + index + " is in low-level mode (VirtioBlkDriver.queue)");
            }
            if (failure == null && driver.holding()) {
                failure = driver.holdExpired();
                if (failure == null) {
                    pending.add(r); // a swap is in progress or no backend is attached: wait for it
                }
            } else if (failure == null) {
                if (pending.isEmpty() && place(r)) {
                    if (dq.kickNeeded()) {
                        kick.signal();
                    }
                } else {
                    pending.add(r);
                }
            }
        } catch (VhostException e) {
            kickFailure = e;
        } finally {
            lock.unlock();
        }
        if (failure != null) {
            r.finish(failure);
        } else if (kickFailure != null) {
            driver.lost(index, new VhostDisconnectedException("queue " + index + ": kick failed: " + kickFailure.getMessage()));
        }
    }

    private boolean place(BlkRequest r) {
        int slot = enqueue(r.type, r.offset >>> VirtioBlk.SECTOR_SHIFT, r.shared == null ? 0 : driver.gpaOf(r.shared),
                r.shared == null ? 0 : r.shared.byteSize(), r.segSectors, r.segFlags, 0L);
        if (slot < 0) {
            return false;
        }
        reqs[slot] = r;
        seqs[slot] = nextSeq++;
        highInFlight++;
        return true;
    }

    /**
     * One round of the completion thread: consumes used elements, places parked requests into
     * the freed slots, then completes the futures outside the lock.
     *
     * @return completions handled
     */
    int drain() throws VhostException {
        int n;
        lock.lock();
        try {
            doneCount = 0;
            n = dq.pollUsed(handler);
            boolean placed = false;
            while (!driver.holding() && !pending.isEmpty() && place(pending.peek())) {
                pending.poll();
                placed = true;
            }
            if (placed && dq.kickNeeded()) {
                kick.signal();
            }
        } finally {
            lock.unlock();
        }
        if (n > 0) {
            driver.completedBatch();
        }
        for (int i = 0; i < doneCount; i++) {
            BlkRequest r = doneReqs[i];
            doneReqs[i] = null;
            if (r != null) {
                try {
                    r.complete(doneStatus[i]);
                } catch (RuntimeException e) {
                    r.finish(new VirtioDeviceException("queue " + index + ": completing " + BlkRequest.typeName(r.type)
                            + " at offset " + r.offset + ": " + e, e));
                }
            }
        }
        return n;
    }

    /** @return high-level requests in flight or parked */
    int highLevelOutstanding() {
        lock.lock();
        try {
            return highInFlight + pending.size();
        } finally {
            lock.unlock();
        }
    }

    /**
     * Hot-swap, after the old back-end stopped and the used ring was reaped: moves every request
     * still on the ring back to the head of the parked list in submission order, frees all slots,
     * switches to the other ring/slot area and resets its ring with both indices at {@code base}
     * (the old back-end's next avail index).
     *
     * @return the requests taken off the ring
     */
    int takeOutstanding(int base) {
        lock.lock();
        try {
            List<Integer> slotsInOrder = slotsInSubmissionOrder();
            for (int k = slotsInOrder.size() - 1; k >= 0; k--) {
                int slot = slotsInOrder.get(k);
                pending.addFirst(reqs[slot]);
                reqs[slot] = null;
            }
            int inRing = dq.inFlight();
            if (inRing != slotsInOrder.size()) {
                org.slf4j.LoggerFactory.getLogger(BlkRequestQueue.class).debug(
                        "queue {}: {} chains on the ring, {} high-level requests outstanding", index, inRing, slotsInOrder.size());
            }
            int popped = (base - dq.lastUsedIdx()) & 0xFFFF;
            if (!dq.isPacked() && popped != 0 && popped <= inRing) {
                org.slf4j.LoggerFactory.getLogger(BlkRequestQueue.class).debug(
                        "queue {}: {} request(s) taken by the old back-end without completion are resubmitted", index, popped);
            }
            for (int i = 0; i < freeSlots.length; i++) {
                freeSlots[i] = freeSlots.length - 1 - i;
            }
            freeSlotCount = freeSlots.length;
            highInFlight = 0;
            // Move to the other area: a late write of the stopped back-end lands in the old one.
            area ^= 1;
            dq = areaQueues[area];
            slots = areaSlots[area];
            slotsGpa = areaSlotsGpa[area];
            dq.reset(base);
            if (pollMode) {
                dq.disableNotifications();
            }
            carried = slotsInOrder.size();
            return carried;
        } finally {
            lock.unlock();
        }
    }

    /** @return the slots holding a high-level request, oldest submission first; caller holds {@link #lock} */
    private List<Integer> slotsInSubmissionOrder() {
        List<Integer> order = new ArrayList<>();
        for (int i = 0; i < reqs.length; i++) {
            if (reqs[i] != null) {
                order.add(i);
            }
        }
        order.sort((a, b) -> Long.compare(seqs[a], seqs[b]));
        return order;
    }

    /** @return the ring of area {@code a} (0 or 1) */
    DriverQueue areaQueue(int a) {
        return areaQueues[a];
    }

    /** @return the ring area (0 or 1) whose desc, avail and used addresses {@code c} has, or -1 */
    int areaOf(VirtqueueConfig c) {
        for (int a = 0; a < 2; a++) {
            DriverQueue q = areaQueues[a];
            if (q.descGpa() == c.descAddr() && q.availGpa() == c.availAddr() && q.usedGpa() == c.usedAddr()) {
                return a;
            }
        }
        return -1;
    }

    /**
     * Restore, after {@link #takeOutstanding} emptied the ring: makes area {@code a} the one in
     * use with both ring indices at {@code idx}.
     */
    void resetRing(int a, int idx) {
        lock.lock();
        try {
            area = a;
            dq = areaQueues[a];
            slots = areaSlots[a];
            slotsGpa = areaSlotsGpa[a];
            dq.reset(idx);
            if (pollMode) {
                dq.disableNotifications();
            }
        } finally {
            lock.unlock();
        }
    }

    /**
     * Snapshot: the high-level requests on the ring, in submission order (type, byte offset,
     * byte length); parked ones are not on the ring and not listed.
     */
    List<BlkDriverSnapshot.InFlight> ringRequests() {
        lock.lock();
        try {
            List<Integer> order = slotsInSubmissionOrder();
            List<BlkDriverSnapshot.InFlight> out = new ArrayList<>(order.size());
            for (int slot : order) {
                BlkRequest r = reqs[slot];
                out.add(new BlkDriverSnapshot.InFlight(r.type, r.offset, r.length()));
            }
            return out;
        } finally {
            lock.unlock();
        }
    }

    /**
     * Hot-swap, after the new back-end started: places parked requests (those taken off the ring
     * first, in submission order) and kicks.
     *
     * @return the requests waiting at the swap: taken off the ring plus held submissions
     */
    int resume() {
        VhostException kickFailure = null;
        int c = 0;
        lock.lock();
        try {
            c = pending.size();
            carried = 0;
            while (!pending.isEmpty() && place(pending.peek())) {
                pending.poll();
            }
            // Always kick once after a restart: the new back-end may have missed earlier kicks
            // (the kick fd was in no back-end's hands while the rings were moving).
            kick.signal();
            dq.kickNeeded();
        } catch (VhostException e) {
            kickFailure = e;
        } finally {
            lock.unlock();
        }
        if (kickFailure != null) {
            driver.lost(index, new VhostDisconnectedException("queue " + index + ": kick after rebind failed: "
                    + kickFailure.getMessage()));
        }
        return c;
    }

    /** Removes every outstanding high-level request and fails it with {@code e}. */
    void failAll(VhostException e) {
        List<BlkRequest> victims = new ArrayList<>();
        lock.lock();
        try {
            for (int i = 0; i < reqs.length; i++) {
                if (reqs[i] != null) {
                    victims.add(reqs[i]);
                    reqs[i] = null;
                }
            }
            victims.addAll(pending);
            pending.clear();
            highInFlight = 0;
        } finally {
            lock.unlock();
        }
        for (BlkRequest r : victims) {
            r.finish(e);
        }
    }

    // ---- the driver's handling of this queue (hand-over, completion thread, swap) ----

    /** @return whether the queue was handed over to the low-level path ({@link VirtioBlkDriver#queue}) */
    boolean isLowLevel() {
        return lowLevel;
    }

    /**
     * Hands the queue over to the low-level path and stops its completion thread.
     *
     * @throws IllegalStateException when high-level requests are outstanding, or it was handed over already
     */
    void handOver() {
        lock.lock();
        try {
            if (lowLevel) {
                throw new IllegalStateException("queue " + index + " was already handed over");
            }
            int outstanding = highInFlight + pending.size();
            if (outstanding > 0) {
                throw new IllegalStateException("queue " + index + " has " + outstanding + " high-level requests outstanding");
            }
            lowLevel = true;
        } finally {
            lock.unlock();
        }
        completer.stop();
    }

    /** @return the ring in use (a swap or restore switches the area) */
    DriverQueue ring() {
        return dq;
    }

    /** @return the config that starts a backend on the ring in use at its avail index, with this queue's eventfds */
    VirtqueueConfig restartConfig() {
        return new VirtqueueConfig(index, dq.size(), dq.descGpa(), dq.availGpa(), dq.usedGpa(), dq.availIdx(), kick.fd(),
                call.fd(), true);
    }

    /**
     * Hot-swap: makes submissions park from now on (the caller set the driver's holding flag)
     * once a submission in progress has placed its request, and asks the completion thread to
     * pause ({@link BlkCompleter#awaitPaused} waits for it).
     */
    void hold() {
        lock.lock(); // a submission in progress has finished placing once we hold its lock
        lock.unlock();
        completer.requestPause();
    }

    /** @return the queue's completion thread (high-level path) */
    BlkCompleter completer() {
        return completer;
    }

    /** @return whether completions are found by polling (no one waits on the call eventfd) */
    boolean pollMode() {
        return pollMode;
    }

    /**
     * Re-enables used-buffer notifications before the completion thread sleeps.
     *
     * @return true when used elements arrived meanwhile (do not sleep)
     */
    boolean rearm() {
        lock.lock();
        try {
            return dq.enableNotifications();
        } finally {
            lock.unlock();
        }
    }

    /** @return whether the call eventfd was signalled within {@code ms} milliseconds */
    boolean awaitCall(int ms) throws com.vhost.api.VhostNativeException {
        return call.await(ms);
    }

    /** Signals the call eventfd (wakes the completion thread). */
    void signalCall() throws com.vhost.api.VhostNativeException {
        call.signal();
    }

    /** Closes the kick and call eventfds (driver closed). */
    void closeFds() {
        kick.close();
        call.close();
    }
}
