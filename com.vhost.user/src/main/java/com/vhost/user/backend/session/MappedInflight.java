package com.vhost.user.backend.session;

import com.vhost.api.VhostNativeException;
import com.vhost.spi.memory.InflightPackedRegion;
import com.vhost.spi.memory.InflightSplitRegion;
import com.vhost.spi.nativeio.Linux;
import com.vhost.spi.nativeio.OwnedFd;
import com.vhost.user.message.InflightPayload;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.locks.LockSupport;

/**
 * The inflight region of a session (QEMU {@code docs/interop/vhost-user.rst}, "Inflight I/O
 * tracking", GET_INFLIGHT_FD and SET_INFLIGHT_FD, with {@code VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD}):
 * {@link #create} makes the zeroed memfd GET_INFLIGHT_FD returns, {@link #map} checks and maps the
 * one SET_INFLIGHT_FD hands over and cuts it into one part per queue of
 * {@link InflightSplitRegion#queueBytes} bytes (the split-ring layout; libvhost-user's
 * {@code vu_inflight_queue_size}) or, with VIRTIO_F_RING_PACKED negotiated, of
 * {@link InflightPackedRegion#queueBytes} bytes (the packed layout; DPDK's
 * {@code get_pervq_shm_size_packed}): the back-end computes the size (spec, GET_INFLIGHT_FD),
 * from the features set before.
 *
 * <p>Checks, each a {@link Refusal} naming the problem: {@code num_queues} in 1..the device's queue
 * count and {@code queue_size} in 1..32768; {@code mmap_size} at least
 * {@code num_queues} parts and at most {@link #MAX_BYTES}; the fd a regular file or memfd (fstat
 * {@code S_IFREG}, as memory regions) at least {@code mmap_offset + mmap_size} long, so no mapped
 * byte lies past its end (SIGBUS); every queue's part passing {@link InflightSplitRegion#check}
 * (version, {@code desc_num} equal to {@code queue_size}, inflight flags 0 or 1,
 * {@code last_batch_head} in range) or {@link InflightPackedRegion#check} (version,
 * {@code desc_num}, free heads, used indices and wrap counters, inflight flags). The fd is closed once mapped; the mapping is scoped by a shared
 * arena, so a queue still using a part after {@link #close()} fails instead of faulting.
 */
final class MappedInflight implements AutoCloseable {
    /** The largest region accepted, bytes (256 queues of 32768 entries fit). */
    static final long MAX_BYTES = 256L * (32L * 32768 + 64);
    /** The largest {@code queue_size} (a split ring's largest size). */
    static final int MAX_QUEUE_SIZE = 32768;

    private final Arena arena;
    private final MemorySegment mapping;
    private final MemorySegment[] parts;
    private final int queueSize;
    /** The whole region as handed over ({@code mmap_size} bytes), scoped by {@link #arena}. */
    private MemorySegment scoped;
    private boolean packed;

    private MappedInflight(Arena arena, MemorySegment mapping, MemorySegment[] parts, int queueSize, boolean packed) {
        this.arena = arena;
        this.mapping = mapping;
        this.parts = parts;
        this.queueSize = queueSize;
        this.packed = packed;
    }

    /**
     * Cuts the region again for the other layout: a front-end that sends SET_INFLIGHT_FD before
     * SET_FEATURES (this project's drivers on their first start) has it mapped by the features
     * of before, and the rings start with those acked since. Nothing changes when it does not fit.
     *
     * @param toPacked the layout the rings need
     * @return null when cut (or already of that layout), else what is wrong ("mmap_size 0x280 is
     *     less than the 0x480 bytes 2 queues of 16 take in the packed layout", "queue 1: version 7
     *     is not 0 or 1")
     */
    String relayout(boolean toPacked) {
        if (toPacked == packed) {
            return null;
        }
        long part = queueBytes(toPacked, queueSize);
        if (scoped.byteSize() < part * parts.length) {
            return String.format("mmap_size 0x%x is less than the 0x%x bytes %d queues of %d take in the %s layout", scoped.byteSize(),
                    part * parts.length, parts.length, queueSize, toPacked ? "packed" : "split");
        }
        MemorySegment[] cut = new MemorySegment[parts.length];
        for (int i = 0; i < cut.length; i++) {
            cut[i] = scoped.asSlice(i * part, part);
            String bad = check(toPacked, cut[i], queueSize);
            if (bad != null) {
                return "queue " + i + ": " + bad;
            }
        }
        System.arraycopy(cut, 0, parts, 0, cut.length);
        packed = toPacked;
        return null;
    }

    /** @return whether the parts have the packed layout ({@link InflightPackedRegion}) */
    boolean packed() {
        return packed;
    }

    /** @return bytes of one queue's part for the layout of {@code packed} rings */
    static long queueBytes(boolean packed, int queueSize) {
        return packed ? InflightPackedRegion.queueBytes(queueSize) : InflightSplitRegion.queueBytes(queueSize);
    }

    /** @return what is wrong with a queue's part for the layout of {@code packed} rings, null when usable */
    static String check(boolean packed, MemorySegment part, int queueSize) {
        return packed ? InflightPackedRegion.check(part, queueSize) : InflightSplitRegion.check(part, queueSize);
    }

    /** @return the entries marked in flight in queue {@code i}'s part */
    int countInflight(int i, int queueSize) {
        MemorySegment p = part(i);
        if (p == null) {
            return 0;
        }
        return packed ? InflightPackedRegion.countInflight(p, queueSize) : InflightSplitRegion.countInflight(p, queueSize);
    }

    /** @return queue {@code i}'s part, null for a queue the region does not cover */
    MemorySegment part(int i) {
        return i < parts.length ? parts[i] : null;
    }

    private static long checkShape(String req, int numQueues, int queueSize, int deviceQueues, boolean packed) throws Refusal {
        if (numQueues < 1 || numQueues > deviceQueues) {
            throw new Refusal(req + ": num_queues " + numQueues + " is not in 1.." + deviceQueues + " (GET_QUEUE_NUM)");
        }
        // a queue_size above the device's largest ring is not refused here: SET_VRING_NUM refuses
        // that ring by name, and the ring must have the region's queue_size to start
        if (queueSize < 1 || queueSize > MAX_QUEUE_SIZE) {
            throw new Refusal(req + ": queue_size " + queueSize + " is not in 1.." + MAX_QUEUE_SIZE);
        }
        return numQueues * queueBytes(packed, queueSize);
    }

    /**
     * GET_INFLIGHT_FD: a zeroed memfd of {@code numQueues} parts of the split or, for
     * {@code packed} rings, the packed layout.
     *
     * @return the reply payload ({@code mmap_offset} 0) and the fd
     * @throws Refusal for a bad shape (see the class comment)
     * @throws VhostNativeException when the memfd cannot be made
     */
    static FrontendRequestHandler.InflightAnswer create(int numQueues, int queueSize, int deviceQueues, boolean packed)
            throws Refusal, VhostNativeException {
        long size = checkShape("GET_INFLIGHT_FD", numQueues, queueSize, deviceQueues, packed);
        int fd = Linux.memfdCreate("vhost-inflight");
        try {
            Linux.ftruncate(fd, size); // a new memfd's pages read as zero
        } catch (VhostNativeException e) {
            Linux.closeQuietly(fd);
            throw e;
        }
        return new FrontendRequestHandler.InflightAnswer(new InflightPayload(size, 0, numQueues, queueSize), new OwnedFd(fd));
    }

    /**
     * SET_INFLIGHT_FD: checks and maps the region, cut in parts of the split or, for
     * {@code packed} rings, the packed layout; {@code fd} is closed whatever happens.
     *
     * @throws Refusal naming what is wrong (see the class comment)
     */
    static MappedInflight map(InflightPayload p, OwnedFd fd, int deviceQueues, boolean packed) throws Refusal {
        try (fd) {
            String what = String.format("SET_INFLIGHT_FD (mmap_offset 0x%x, mmap_size 0x%x, num_queues %d, queue_size %d)",
                    p.mmapOffset(), p.mmapSize(), p.numQueues(), p.queueSize());
            long need = checkShape(what, p.numQueues(), p.queueSize(), deviceQueues, packed);
            long part = queueBytes(packed, p.queueSize());
            if (p.mmapSize() < need || p.mmapSize() > MAX_BYTES) {
                throw new Refusal(String.format("%s: mmap_size must be 0x%x..0x%x bytes for %d queues of %d entries", what, need,
                        MAX_BYTES, p.numQueues(), p.queueSize()));
            }
            long lead = p.mmapOffset() & (Linux.PAGE_SIZE - 1);
            MemorySegment m = FdKinds.mapShared(what, fd, p.mmapOffset(), p.mmapSize(), lead + p.mmapSize());
            Arena arena = Arena.ofShared();
            MappedInflight mi = new MappedInflight(arena, m, new MemorySegment[p.numQueues()], p.queueSize(), packed);
            MemorySegment scoped = m.reinterpret(arena, null).asSlice(lead, p.mmapSize());
            mi.scoped = scoped;
            for (int i = 0; i < p.numQueues(); i++) {
                MemorySegment s = scoped.asSlice(i * part, part);
                String bad = check(packed, s, p.queueSize());
                if (bad != null) {
                    mi.close();
                    throw new Refusal(what + ": queue " + i + ": " + bad);
                }
                mi.parts[i] = s;
            }
            return mi;
        }
    }

    /** Closes the arena (waiting out accesses in progress, bounded) and unmaps. Never throws. */
    @Override
    public void close() {
        for (int i = 0; ; i++) {
            try {
                arena.close();
                break;
            } catch (IllegalStateException e) {
                if (i >= 100) {
                    return; // still held after 1 s: leave it mapped rather than fault
                }
                LockSupport.parkNanos(10_000_000L);
            }
        }
        try {
            Linux.munmap(mapping);
        } catch (VhostNativeException ignored) {
            // the address range stays reserved; nothing else to do
        }
    }
}
