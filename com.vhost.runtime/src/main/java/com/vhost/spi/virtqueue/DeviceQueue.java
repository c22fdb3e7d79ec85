package com.vhost.spi.virtqueue;

import static com.vhost.api.virtio.SplitVirtqueueLayout.USED_ELEM_SIZE;
import static com.vhost.api.virtio.SplitVirtqueueLayout.VIRTQ_AVAIL_F_NO_INTERRUPT;
import static com.vhost.api.virtio.SplitVirtqueueLayout.VIRTQ_USED_F_NO_NOTIFY;

import com.vhost.api.VirtqueueException;
import com.vhost.api.virtio.GuestMemory;
import com.vhost.api.virtio.SplitVirtqueueLayout;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.api.virtio.VirtqueueConfig;
import com.vhost.spi.memory.DirtyBitmap;
import com.vhost.spi.memory.GuestMemoryMap;
import com.vhost.spi.memory.InflightSplitRegion;
import com.vhost.spi.memory.WriteLog;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;

/**
 * The device side of one split virtqueue (OASIS VIRTIO 1.2, section 2.7; modelled on crosvm
 * {@code devices/src/virtio/queue/split_queue.rs}): it consumes the available ring the driver
 * fills and publishes completions on the used ring.
 *
 * <p>Indices are the spec's free-running 16-bit counters ({@code 0..65535}, wrapping to 0); a ring
 * slot is the index masked by {@code size - 1}. Ordering: the avail {@code idx} is read before
 * (acquire) the ring entry and descriptors it covers; a used element is written before (release)
 * the used {@code idx} that publishes it; before reading the driver's suppression hints after
 * publishing, a full fence orders the used {@code idx} store before the hint load (the spec's
 * "virtio_mb").
 *
 * <p>Dirty logging (vhost-user spec, "Migration"): over memory that carries a {@link WriteLog}
 * with logging on, every write to the used ring (elements, {@code idx}, flags, {@code avail_event})
 * is marked at the ring's {@code log_guest_addr} when the ring was set up with
 * {@code VHOST_VRING_F_LOG}, and {@link #addUsed(DescriptorChain, int)} / {@link #logWritten}
 * mark the buffers the device wrote. With logging off this costs one volatile read and a branch
 * per completion.
 *
 * <p>Inflight I/O tracking (vhost-user spec, "Inflight I/O tracking", with
 * {@code VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD}): over memory whose {@link GuestMemoryMap#inflight()}
 * has a part for this queue, each popped head is marked in flight and each completion follows the
 * spec's pre-put / post-put order ({@link InflightSplitRegion}); a queue built over a region that
 * holds entries in flight (a back-end restarted under a front-end that kept the region) first
 * hands those chains out again from {@link #pop}, oldest first, and starts consuming the avail ring
 * at {@code used idx + entries in flight}. Untracked queues pay one null check per pop and per
 * completion.
 *
 * <p>Packed rings (VIRTIO 1.2, section 2.8): with {@code VIRTIO_F_RING_PACKED} in the features the
 * queue is a packed ring ({@link PackedRing}): the config's desc/avail/used addresses are the
 * descriptor ring, the driver and the device event suppression areas; {@link #pop},
 * {@link #addUsed}, the notification methods and the chains work the same for the device models;
 * a chain's {@link DescriptorChain#head()} is its buffer id; {@link #nextAvail()},
 * {@link #nextUsed()} and the config's {@code nextAvail} are ring positions with the wrap counter
 * in bit 15 ({@code offset | wrap << 15}, the vhost-user GET/SET_VRING_BASE form), the used
 * position starting where the avail one does (a queue is stopped with nothing in flight); there
 * is no avail idx ({@link #availIdx()}); over an inflight part the packed layout is tracked
 * ({@link com.vhost.spi.memory.InflightPackedRegion}, see {@link PackedRing}).
 *
 * <p>In-order use (VIRTIO 1.2, 2.7.9 and 2.8.8, with {@code VIRTIO_F_IN_ORDER} acked):
 * {@link #addUsedBatched} completes a buffer without writing its used element; the next
 * {@link #addUsed}, {@link #flushUsed()} or {@link #needsNotification()} writes one element for
 * the whole batch, naming the last buffer (split: at the used slot of the batch's first buffer,
 * the used {@code idx} then moved on by the batch's buffer count; packed: at the used position,
 * which then moves on by the batch's descriptor count). Without IN_ORDER, or on a queue with
 * inflight tracking (split or packed), {@link #addUsedBatched} is {@link #addUsed}. The caller must complete
 * buffers in the order it popped them when IN_ORDER is acked.
 *
 * <p>Not thread-safe: one worker thread owns a queue while the device is active. No method
 * allocates, except construction.
 */
public final class DeviceQueue {
    static final VarHandle LE16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN).varHandle();
    static final VarHandle LE32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN).varHandle();
    static final VarHandle LE64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN).varHandle();

    private static final long AVAIL_FLAGS = 0;
    private static final long AVAIL_IDX = 2;
    private static final long AVAIL_RING = 4;
    private static final long USED_FLAGS = 0;
    private static final long USED_IDX = 2;
    private static final long USED_RING = 4;

    private final VirtqueueConfig config;
    private final int index;
    private final int size;
    private final int mask;
    private final boolean eventIdx;
    private final boolean indirectDesc;
    /** VIRTIO_F_IN_ORDER acked: {@link #addUsedBatched} defers used elements into batches. */
    private final boolean inOrder;
    final GuestMemory memory;
    final RegionTable regions;
    final MemorySegment desc;
    private final MemorySegment avail;
    private final MemorySegment used;
    private final long usedEventOffset;
    private final long availEventOffset;
    /** The session's write log ({@link GuestMemoryMap#writeLog()}), {@link WriteLog#OFF} elsewhere. */
    private final WriteLog log;
    /** This queue's inflight tracking, or null (INFLIGHT_SHMFD not negotiated). */
    private final InflightSplitRegion inflight;
    /** The packed ring behind this queue (VIRTIO_F_RING_PACKED negotiated), or null: a split ring. */
    private final PackedRing packed;

    /** Index of the next avail ring entry to consume. */
    private int nextAvail;
    /** Last avail {@code idx} read from the ring (saves an acquire per pop). */
    private int cachedAvailIdx;
    /** The used {@code idx} value the next completion publishes. */
    private int nextUsed;
    /** The used {@code idx} at the last used-buffer notification decision. */
    private int signalledUsed;
    /**
     * Whether {@link #signalledUsed} is what the driver was last notified of. Not so for a queue
     * restarted over an inflight region: the back-end before may have published completions and
     * died before notifying, so the first decision notifies (Linux {@code vhost_vq_init_access}
     * clears {@code signalled_used_valid} for the same reason).
     */
    private boolean signalledValid = true;
    private short usedFlags;
    private volatile boolean enabled;
    /** Split, IN_ORDER: buffers completed by {@link #addUsedBatched} and not yet published. */
    private int batchCount;
    /** Split, IN_ORDER: head and written length of the batch's last buffer. */
    private int batchHead;
    private int batchLen;

    /**
     * Maps the rings of {@code cfg} in {@code mem}.
     *
     * @param mem guest memory holding the rings and buffers
     * @param cfg the queue as the transport set it up; {@code nextAvail} is where consumption
     *     starts; the used ring's current {@code idx} is read from memory (like Linux vhost's
     *     {@code vhost_vq_init_access})
     * @param ackedFeatures the negotiated feature bits: {@link VirtioFeatures#F_EVENT_IDX},
     *     {@link VirtioFeatures#F_INDIRECT_DESC} change the ring behaviour,
     *     {@link VirtioFeatures#F_IN_ORDER} lets {@link #addUsedBatched} batch used elements,
     *     {@link VirtioFeatures#F_RING_PACKED} makes it a packed ring
     * @throws VirtqueueException when a ring is not wholly inside guest memory; for a packed
     *     ring also when the base's position is not below the size or the memory's inflight part
     *     for this queue is not usable (the message names the region field)
     */
    public DeviceQueue(GuestMemory mem, VirtqueueConfig cfg, long ackedFeatures) throws VirtqueueException {
        this.config = cfg;
        this.memory = mem;
        this.index = cfg.index();
        this.size = cfg.size();
        this.mask = size - 1;
        this.eventIdx = VirtioFeatures.has(ackedFeatures, VirtioFeatures.F_EVENT_IDX);
        this.indirectDesc = VirtioFeatures.has(ackedFeatures, VirtioFeatures.F_INDIRECT_DESC);
        this.inOrder = VirtioFeatures.has(ackedFeatures, VirtioFeatures.F_IN_ORDER);
        this.regions = new RegionTable(mem);
        this.log = mem instanceof GuestMemoryMap m ? m.writeLog() : WriteLog.OFF;
        MemorySegment part = mem instanceof GuestMemoryMap m ? m.inflight().part(index) : null;
        if (VirtioFeatures.has(ackedFeatures, VirtioFeatures.F_RING_PACKED)) {
            this.desc = ring(mem, "packed descriptor ring", cfg.descAddr(), (long) PackedLayout.DESC_SIZE * size);
            this.avail = ring(mem, "driver event suppression area", cfg.availAddr(), PackedLayout.EVENT_AREA_SIZE);
            this.used = ring(mem, "device event suppression area", cfg.usedAddr(), PackedLayout.EVENT_AREA_SIZE);
            this.usedEventOffset = -1;
            this.availEventOffset = -1;
            this.inflight = null;
            this.packed = new PackedRing(this, desc, avail, used, cfg.descAddr(), cfg.usedAddr(), eventIdx, inOrder, log,
                    cfg.nextAvail(), part);
            this.enabled = cfg.enabled();
            return;
        }
        this.packed = null;
        long availBytes = AVAIL_RING + 2L * size + (eventIdx ? 2 : 0);
        long usedBytes = USED_RING + (long) USED_ELEM_SIZE * size + (eventIdx ? 2 : 0);
        this.desc = ring(mem, "descriptor table", cfg.descAddr(), SplitVirtqueueLayout.descTableBytes(size));
        this.avail = ring(mem, "avail ring", cfg.availAddr(), availBytes);
        this.used = ring(mem, "used ring", cfg.usedAddr(), usedBytes);
        this.usedEventOffset = AVAIL_RING + 2L * size;
        this.availEventOffset = USED_RING + (long) USED_ELEM_SIZE * size;
        this.nextAvail = cfg.nextAvail();
        this.cachedAvailIdx = nextAvail;
        this.nextUsed = Short.toUnsignedInt((short) LE16.get(used, USED_IDX));
        this.signalledUsed = nextUsed;
        this.usedFlags = (short) LE16.get(used, USED_FLAGS);
        this.enabled = cfg.enabled();
        if (part == null) {
            this.inflight = null;
        } else {
            try {
                this.inflight = InflightSplitRegion.open(part, size, nextUsed);
            } catch (IllegalArgumentException e) {
                throw new VirtqueueException(index, e.getMessage());
            }
            // every chain consumed is either used or still in flight (libvhost-user
            // vu_check_queue_inflights): new chains start after both
            this.nextAvail = (nextUsed + inflight.inflightAtOpen()) & 0xFFFF;
            this.cachedAvailIdx = nextAvail;
            this.signalledValid = false;
        }
    }

    /** @return the packed inflight tracking of this queue, or null (a split ring, or untracked) */
    com.vhost.spi.memory.InflightPackedRegion packedInflight() {
        return packed != null ? packed.inflight() : null;
    }

    /** @return the split inflight tracking of this queue, or null when it has none (packed rings too) */
    public InflightSplitRegion inflight() {
        return inflight;
    }

    private MemorySegment ring(GuestMemory mem, String what, long gpa, long bytes) throws VirtqueueException {
        if (!mem.contains(gpa, bytes)) {
            throw new VirtqueueException(index, String.format(
                    "%s at guest address 0x%x (%d bytes for size %d) is not inside guest memory", what, gpa, bytes, size));
        }
        try {
            return mem.slice(gpa, bytes);
        } catch (IndexOutOfBoundsException e) {
            throw new VirtqueueException(index, what + ": " + e.getMessage());
        }
    }

    /** @return a chain able to hold the longest valid chain of this queue ({@code size} descriptors) */
    public DescriptorChain newChain() {
        return new DescriptorChain(size);
    }

    /** @return the queue index */
    public int index() {
        return index;
    }

    /** @return the number of descriptors (a power of two) */
    public int size() {
        return size;
    }

    /** @return the kick eventfd the driver writes, or -1 when the queue is polled */
    public int kickFd() {
        return config.kickFd();
    }

    /** @return the call eventfd, or -1 */
    public int callFd() {
        return config.callFd();
    }

    /** @return whether EVENT_IDX was negotiated */
    public boolean eventIdx() {
        return eventIdx;
    }

    /** @return whether INDIRECT_DESC was negotiated */
    public boolean indirectDesc() {
        return indirectDesc;
    }

    /** @return whether VIRTIO_F_IN_ORDER was acked (used elements may be batched, VIRTIO 1.2 2.7.9) */
    public boolean inOrder() {
        return inOrder;
    }

    /** @return whether the queue is enabled (kicks on a disabled queue are dropped) */
    public boolean isEnabled() {
        return enabled;
    }

    /** Enables or disables the queue; readable from any thread. */
    public void setEnabled(boolean enabled) {
        this.enabled = enabled;
    }

    /**
     * @return the index (16-bit, free running) of the next avail entry the device consumes; on a
     *     packed ring the next avail position {@code offset | wrap << 15}
     */
    public int nextAvail() {
        if (packed != null) {
            return packed.nextAvail();
        }
        return nextAvail;
    }

    /**
     * @return the used {@code idx} (16-bit) the device has published; on a packed ring the next
     *     used position {@code offset | wrap << 15}
     */
    public int nextUsed() {
        if (packed != null) {
            return packed.nextUsed();
        }
        return nextUsed;
    }

    /** @return the configuration this queue was built from with the current {@code nextAvail} */
    public VirtqueueConfig config() {
        return config.withNextAvail(nextAvail());
    }

    /**
     * Reads the driver's avail {@code idx} with acquire semantics: ring entries and descriptors
     * read after it see what the driver wrote before publishing it.
     *
     * @return the avail {@code idx}, 0..65535
     * @throws VirtqueueException when it is more than {@code size} entries ahead of
     *     {@link #nextAvail()} (a driver bug or corrupt ring)
     * @throws IllegalStateException on a packed ring, which has no avail idx
     */
    public int availIdx() throws VirtqueueException {
        if (packed != null) {
            throw new IllegalStateException("queue " + index + " is a packed ring: it has no avail idx");
        }
        int idx = Short.toUnsignedInt((short) LE16.get(avail, AVAIL_IDX));
        VarHandle.acquireFence();
        int pending = (idx - nextAvail) & 0xFFFF;
        if (pending > size) {
            throw new VirtqueueException(index, String.format(
                    "avail idx %d is %d entries ahead of next avail %d, more than queue size %d",
                    idx, pending, nextAvail, size));
        }
        cachedAvailIdx = idx;
        return idx;
    }

    /** @return whether the driver has made entries available that were not popped yet */
    public boolean hasAvailable() throws VirtqueueException {
        if (packed != null) {
            return packed.hasAvailable();
        }
        if (inflight != null && inflight.hasResubmit()) {
            return true;
        }
        return availIdx() != nextAvail;
    }

    /**
     * Pops the next available chain into {@code into}, validating every descriptor.
     *
     * @param into a reusable chain ({@link #newChain()}), overwritten
     * @return false when no entry is available ({@code into} is then cleared)
     * @throws VirtqueueException when the avail idx jumped, or the chain is invalid (see
     *     {@link DescriptorChain}; on a packed ring also a chain of more than {@code size}
     *     descriptors, a buffer id not below {@code size} or already in flight); the queue must
     *     then be reset
     */
    public boolean pop(DescriptorChain into) throws VirtqueueException {
        if (packed != null) {
            return packed.pop(into);
        }
        if (inflight != null && inflight.hasResubmit()) {
            into.load(this, inflight.nextResubmit(), nextAvail); // marked in flight already
            return true;
        }
        if (nextAvail == cachedAvailIdx && availIdx() == nextAvail) {
            into.clear(index);
            return false;
        }
        int slot = nextAvail & mask;
        int head = Short.toUnsignedInt((short) LE16.get(avail, AVAIL_RING + 2L * slot));
        into.load(this, head, nextAvail);
        nextAvail = (nextAvail + 1) & 0xFFFF;
        if (inflight != null) {
            inflight.markPopped(head);
        }
        return true;
    }

    /**
     * Returns a chain to the driver: writes used element {@code {id = head, len = writtenBytes}} in
     * the next used slot, then publishes the used {@code idx} with release semantics. On a packed
     * ring writes the used descriptor {@code {id, len}} at the next used position, then its flags
     * with release semantics, and moves the position on by the descriptors the chain took. A
     * pending in-order batch ({@link #addUsedBatched}) goes out with it: the one element then
     * stands for the batch and this chain (VIRTIO 1.2, 2.7.9 / 2.8.8).
     *
     * @param head the chain's head descriptor index ({@link DescriptorChain#head()}; on a packed
     *     ring its buffer id)
     * @param writtenBytes bytes the device wrote into the chain's writable buffers
     * @throws VirtqueueException when {@code head} is not a descriptor index of this queue; on a
     *     packed ring also when no chain with that buffer id is in flight, or with IN_ORDER acked
     *     when it is not the next chain in ring order
     */
    public void addUsed(int head, int writtenBytes) throws VirtqueueException {
        if (packed != null) {
            packed.addUsed(head, writtenBytes);
            return;
        }
        if (head < 0 || head >= size) {
            throw new VirtqueueException(index, "used element head " + head + " is not below queue size " + size);
        }
        writeUsed(head, writtenBytes);
    }

    /** Writes the used element for {@code head} (range-checked) and any batch before it, then the idx. */
    private void writeUsed(int head, int writtenBytes) {
        if (inflight != null) {
            inflight.prePut(head);
        }
        int count = batchCount + 1;
        batchCount = 0;
        long off = USED_RING + (long) USED_ELEM_SIZE * (nextUsed & mask);
        LE32.set(used, off, head);
        LE32.set(used, off + 4, writtenBytes);
        nextUsed = (nextUsed + count) & 0xFFFF;
        VarHandle.releaseFence(); // the element is visible before the idx that publishes it
        LE16.set(used, USED_IDX, (short) nextUsed);
        if (inflight != null) {
            inflight.postPut(head, nextUsed);
        }
        DirtyBitmap b = log.acquire();
        if (b != null) {
            try {
                logUsed(b, off, USED_ELEM_SIZE);
                logUsed(b, USED_IDX, 2);
            } finally {
                b.exit();
            }
        }
    }

    /**
     * With VIRTIO_F_IN_ORDER acked (VIRTIO 1.2, 2.7.9 / 2.8.8): completes buffer {@code head}
     * without writing its used element yet; the next {@link #addUsed(int, int)},
     * {@link #flushUsed()} or {@link #needsNotification()} publishes one used element for every
     * buffer batched so far (the driver takes the skipped ones as used whole). Without IN_ORDER,
     * or on a split queue with inflight tracking, this is {@link #addUsed(int, int)}.
     *
     * @param head the chain's head descriptor index (packed: buffer id); the caller completes
     *     chains in the order it popped them
     * @param writtenBytes bytes written into the chain's writable buffers: all of them, since a
     *     skipped buffer counts as wholly written (0 for a chain with no writable buffer); only
     *     the batch's last buffer reports its own length
     * @throws VirtqueueException when {@code head} is not a descriptor index of this queue; on a
     *     packed ring also when no chain with that buffer id is in flight, or the chain was not
     *     the next one in ring order
     */
    public void addUsedBatched(int head, int writtenBytes) throws VirtqueueException {
        if (packed != null) {
            if (inOrder) {
                packed.addUsedBatched(head, writtenBytes);
            } else {
                packed.addUsed(head, writtenBytes);
            }
            return;
        }
        if (!inOrder || inflight != null) {
            addUsed(head, writtenBytes);
            return;
        }
        if (head < 0 || head >= size) {
            throw new VirtqueueException(index, "used element head " + head + " is not below queue size " + size);
        }
        batchCount++;
        batchHead = head;
        batchLen = writtenBytes;
    }

    /**
     * Publishes the pending in-order batch ({@link #addUsedBatched}) as one used element naming
     * its last buffer; nothing when no batch is pending.
     *
     * <p>Throws nothing: the batch's ids were checked when they were batched.
     */
    public void flushUsed() {
        if (packed != null) {
            packed.flushUsed();
            return;
        }
        if (batchCount > 0) {
            batchCount--;
            writeUsed(batchHead, batchLen);
        }
    }

    /**
     * Returns {@code chain} to the driver as {@link #addUsed(int, int)} does, first marking the
     * guest pages of the first {@code writtenBytes} of its writable buffers in the dirty log when
     * logging is on (vhost-user spec, "Migration": "All the modifications to memory pointed by
     * vring 'descriptor' should be marked").
     *
     * @param chain the chain popped from this queue, its buffers already written
     * @param writtenBytes bytes the device wrote into the chain's writable buffers
     * @throws VirtqueueException when the chain's head is not a descriptor index of this queue
     */
    public void addUsed(DescriptorChain chain, int writtenBytes) throws VirtqueueException {
        logWritten(chain, Integer.toUnsignedLong(writtenBytes));
        addUsed(chain.head(), writtenBytes);
    }

    /**
     * Marks the guest pages of the first {@code bytes} of {@code chain}'s writable buffers in the
     * dirty log, when logging is on; for a device that completes a chain by head after the chain
     * object was reused (a merged receive buffer).
     *
     * @param chain a chain popped from this queue whose writable buffers the device wrote
     * @param bytes how many bytes from the start of the writable part were written
     */
    public void logWritten(DescriptorChain chain, long bytes) {
        DirtyBitmap b = log.acquire();
        if (b != null) {
            try {
                chain.logWritable(b, bytes);
            } finally {
                b.exit();
            }
        }
    }

    /** Marks {@code bytes} at {@code offset} of the used ring, when the ring logs (VHOST_VRING_F_LOG). */
    private void logUsed(DirtyBitmap b, long offset, long bytes) {
        long base = log.usedLog(index);
        if (base != -1) {
            b.mark(base + offset, bytes);
        }
    }

    /**
     * Decides whether the driver wants a used-buffer notification for the completions published
     * since the last decision (VIRTIO 1.2, 2.7.7.2 and 2.7.10). With EVENT_IDX: notify when the
     * used idx moved past the driver's {@code used_event}; without it: unless the driver set
     * {@code VIRTQ_AVAIL_F_NO_INTERRUPT}. Nothing new published → false; but the first decision
     * of a queue started over an inflight region is always true (its predecessor may have died
     * between publishing and notifying).
     *
     * @return true when the caller should signal the queue's call eventfd / interrupt
     */
    public boolean needsNotification() {
        if (packed != null) {
            packed.flushUsed();
            return packed.needsNotification();
        }
        flushUsed();
        // Order the used idx store before the loads of used_event / avail flags: otherwise the
        // driver could read a stale used idx while we read a stale event and both sides sleep.
        VarHandle.fullFence();
        int old = signalledUsed;
        int now = nextUsed;
        signalledUsed = now;
        if (!signalledValid) {
            signalledValid = true;
            return true;
        }
        if (eventIdx) {
            int usedEvent = Short.toUnsignedInt((short) LE16.get(avail, usedEventOffset));
            return vringNeedEvent(usedEvent, now, old);
        }
        if (now == old) {
            return false;
        }
        short flags = (short) LE16.get(avail, AVAIL_FLAGS);
        return (flags & VIRTQ_AVAIL_F_NO_INTERRUPT) == 0;
    }

    /**
     * Linux {@code vring_need_event}: should moving the index from {@code old} to {@code newIdx}
     * trigger the event the other side asked for at {@code eventIdx}?
     *
     * <p>The other side wants to hear about the entry at index {@code eventIdx}, i.e. as soon as the
     * index moves past it. This step published the entries {@code old, old+1, ..., newIdx-1}: the
     * event is due iff {@code eventIdx} is one of them. All three are 16-bit counters that wrap,
     * so the window test is done modulo 2^16 without comparing raw values: {@code newIdx - old} is
     * the window's length, and {@code newIdx - eventIdx - 1} is how far back from the newest
     * published entry ({@code newIdx-1}) the event index lies. The event lies inside the window
     * exactly when that backward distance is smaller than the window's length. An event index
     * ahead of {@code newIdx} (not yet reached) gives a backward distance that wraps to a large
     * number, hence false; an empty window ({@code newIdx == old}) is always false.
     *
     * @param eventIdx the index the other side asked to be notified at (used_event / avail_event)
     * @param newIdx the index after this step
     * @param old the index at the previous decision
     * @return whether to notify
     */
    public static boolean vringNeedEvent(int eventIdx, int newIdx, int old) {
        return ((newIdx - eventIdx - 1) & 0xFFFF) < ((newIdx - old) & 0xFFFF);
    }

    /**
     * Asks the driver to kick again when it adds buffers: with EVENT_IDX writes {@code avail_event
     * = nextAvail} (a kick is wanted for the very next entry), else clears
     * {@code VIRTQ_USED_F_NO_NOTIFY}. Then re-checks the avail idx after a full fence, closing the
     * race with a driver that added a buffer while notifications were off.
     *
     * @return true when entries are already available (the caller must process them, since no
     *     kick may come for them)
     * @throws VirtqueueException when the avail idx jumped
     */
    public boolean enableNotifications() throws VirtqueueException {
        if (packed != null) {
            return packed.enableNotifications();
        }
        if (eventIdx) {
            LE16.set(used, availEventOffset, (short) nextAvail);
            logHint(availEventOffset);
        } else if ((usedFlags & VIRTQ_USED_F_NO_NOTIFY) != 0) {
            usedFlags = (short) (usedFlags & ~VIRTQ_USED_F_NO_NOTIFY);
            LE16.set(used, USED_FLAGS, usedFlags);
            logHint(USED_FLAGS);
        }
        VarHandle.fullFence(); // the hint store before the avail idx load
        return hasAvailable();
    }

    /**
     * Tells the driver kicks are not needed (the device is processing or polling). Without EVENT_IDX
     * sets {@code VIRTQ_USED_F_NO_NOTIFY}; with EVENT_IDX leaves {@code avail_event} behind, so the
     * driver does not kick until the device re-arms it (Linux {@code vhost_disable_notify}).
     */
    public void disableNotifications() {
        if (packed != null) {
            packed.disableNotifications();
            return;
        }
        if (!eventIdx && (usedFlags & VIRTQ_USED_F_NO_NOTIFY) == 0) {
            usedFlags = (short) (usedFlags | VIRTQ_USED_F_NO_NOTIFY);
            LE16.set(used, USED_FLAGS, usedFlags);
            logHint(USED_FLAGS);
        }
    }

    /** Marks the 16-bit used-ring field at {@code offset} (flags, avail_event) when logging is on. */
    private void logHint(long offset) {
        DirtyBitmap b = log.acquire();
        if (b != null) {
            try {
                logUsed(b, offset, 2);
            } finally {
                b.exit();
            }
        }
    }

    @Override
    public String toString() {
        if (packed != null) {
            return "DeviceQueue[" + index + ", size " + size + ", " + packed + "]";
        }
        return "DeviceQueue[" + index + ", size " + size + ", nextAvail " + nextAvail + ", nextUsed " + nextUsed + "]";
    }
}
