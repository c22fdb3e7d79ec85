package com.vhost.spi.memory;

import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * The inflight regions a vhost-user back-end session was given with SET_INFLIGHT_FD (QEMU
 * {@code docs/interop/vhost-user.rst}, "Inflight I/O tracking"), one part per queue, reached by the
 * session's queues through the {@link GuestMemoryMap} they run over ({@link GuestMemoryMap#inflight()}).
 * A queue whose part is null is not tracked: with INFLIGHT_SHMFD not negotiated the data path pays
 * one null check per pop and per completion. Thread-safe.
 *
 * @since 1.2
 */
public final class InflightTable {
    /** Tracks nothing: for memory no back-end session owns. */
    public static final InflightTable NONE = new InflightTable(0);

    private final AtomicReferenceArray<MemorySegment> parts;

    /** @param queues how many queues may be given a part */
    public InflightTable(int queues) {
        parts = new AtomicReferenceArray<>(queues);
    }

    /**
     * Installs queue {@code queue}'s part (null: untracked); a ring started afterwards uses it.
     *
     * @throws IndexOutOfBoundsException for a queue this table was not made for
     */
    public void set(int queue, MemorySegment part) {
        parts.set(queue, part);
    }

    /** @return queue {@code queue}'s part, or null (untracked, also for a queue out of range) */
    public MemorySegment part(int queue) {
        return queue >= 0 && queue < parts.length() ? parts.get(queue) : null;
    }
}
