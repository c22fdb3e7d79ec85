package com.vhost.user.backend.session;

import com.vhost.api.VringAddr;
import com.vhost.api.virtio.GuestMemory;
import com.vhost.api.virtio.SplitVirtqueueLayout;
import com.vhost.api.virtio.VirtqueueConfig;
import com.vhost.spi.nativeio.OwnedFd;

/**
 * One ring as the front-end set it up (QEMU {@code docs/interop/vhost-user.rst}, "Ring states";
 * rust-vmm {@code vhost-user-backend} {@code vring.rs}): size, addresses, base, kick fd, whether
 * it is started (a kick fd arrived and GET_VRING_BASE did not stop it since) and whether
 * SET_VRING_ENABLE set it enabled. The call and error fds live in the {@link CallInterrupt}, which
 * the model's worker writes; {@link #callFd} is the call fd's number for the device's queue
 * config. Mutable; the session thread owns it.
 */
final class Vring {
    final int index;
    /** The device's largest size for this queue, descriptors. */
    final int maxSize;
    /** Size in descriptors; 0 before SET_VRING_NUM. */
    int num;
    /** Addresses in the front-end's virtual address space; null before SET_VRING_ADDR. */
    VringAddr addr;
    /**
     * The next avail index (16 bits); for a packed ring the next avail position with the wrap
     * counter in bit 15 (the used position equals it while the ring is stopped).
     */
    int base;
    OwnedFd kick;
    int kickFd = -1;
    int callFd = -1;
    boolean started;
    /** SET_VRING_ENABLE arrived for this ring: {@link #enabled} is what it said. */
    boolean enableSet;
    boolean enabled;
    /** This ring's part of the inflight region (SET_INFLIGHT_FD), or null; kept across a reset. */
    java.lang.foreign.MemorySegment inflight;
    /** The region's {@code queue_size}: the ring must have this size to start. */
    int inflightQueueSize;
    /** Whether {@link #inflight} has the packed layout (mapped with VIRTIO_F_RING_PACKED acked). */
    boolean inflightPacked;

    Vring(int index, int maxSize) {
        this.index = index;
        this.maxSize = maxSize;
    }

    /** Installs {@code kick} (null: NOFD) and returns the previous one, which the caller closes. */
    OwnedFd swapKick(OwnedFd kick) {
        OwnedFd old = this.kick;
        this.kick = kick;
        this.kickFd = kick == null ? -1 : kick.fd();
        return old;
    }

    /**
     * The queue config a device runs this ring with, the ring addresses translated to guest
     * physical addresses in {@code memory}.
     *
     * @param packed VIRTIO_F_RING_PACKED was negotiated: the addresses are the descriptor ring
     *     ({@code 16 * num} bytes) and the driver and device event suppression areas (4 bytes
     *     each, VIRTIO 1.2 2.8.10)
     * @throws Refusal when the ring lacks memory, size or addresses, or a part of it (descriptor
     *     table, avail ring, used ring at their spec sizes for {@link #num}) is not inside one
     *     memory region; an inflight region of the other layout (mapped for split rings, the
     *     ring packed, or the other way round), of another queue size, or one whose header is bad
     */
    VirtqueueConfig config(GuestMemory memory, boolean packed) throws Refusal {
        if (memory == null) {
            throw new Refusal("queue " + index + " started before SET_MEM_TABLE");
        }
        if (num == 0) {
            throw new Refusal("queue " + index + " started before SET_VRING_NUM");
        }
        if (addr == null) {
            throw new Refusal("queue " + index + " started before SET_VRING_ADDR");
        }
        if (inflight != null) {
            String bad = inflightPacked != packed
                    ? "it has the " + (inflightPacked ? "packed" : "split") + " layout, the ring is " + (packed ? "packed" : "split")
                            + " (SET_INFLIGHT_FD came with other features)"
                    : num != inflightQueueSize ? "ring size " + num + " is not the region's queue_size " + inflightQueueSize
                    : MappedInflight.check(packed, inflight, num);
            if (bad != null) {
                throw new Refusal("queue " + index + ": inflight region: " + bad);
            }
        }
        if (packed) {
            long desc = gpa(memory, "packed descriptor ring", addr.descUserAddr(), 16L * num);
            long driver = gpa(memory, "driver event suppression area", addr.availUserAddr(), 4);
            long device = gpa(memory, "device event suppression area", addr.usedUserAddr(), 4);
            if ((base & 0x7FFF) >= num) {
                throw new Refusal(String.format("queue %d: packed ring base 0x%x: position %d is not below ring size %d", index, base,
                        base & 0x7FFF, num));
            }
            try {
                return new VirtqueueConfig(index, num, desc, driver, device, base, kickFd, callFd, true);
            } catch (IllegalArgumentException e) {
                throw new Refusal(e.getMessage());
            }
        }
        long desc = gpa(memory, "descriptor table", addr.descUserAddr(), SplitVirtqueueLayout.descTableBytes(num));
        long avail = gpa(memory, "available ring", addr.availUserAddr(), SplitVirtqueueLayout.availRingBytes(num));
        long used = gpa(memory, "used ring", addr.usedUserAddr(), SplitVirtqueueLayout.usedRingBytes(num));
        try {
            return new VirtqueueConfig(index, num, desc, avail, used, base, kickFd, callFd, true);
        } catch (IllegalArgumentException e) {
            throw new Refusal(e.getMessage());
        }
    }

    private long gpa(GuestMemory memory, String part, long userAddr, long bytes) throws Refusal {
        long g;
        try {
            g = memory.guestAddrOfUser(userAddr);
        } catch (RuntimeException e) {
            throw new Refusal(String.format("queue %d: %s at user address 0x%x is in no memory region", index, part, userAddr));
        }
        if (!memory.contains(g, bytes)) {
            throw new Refusal(String.format("queue %d: %s at guest 0x%x (%d bytes) is not inside one memory region", index, part, g, bytes));
        }
        return g;
    }

    /** Back to the initial state: kick fd closed, nothing set, stopped, not enabled. */
    void clear() {
        OwnedFd k = swapKick(null);
        if (k != null) {
            k.close();
        }
        callFd = -1;
        num = 0;
        addr = null;
        base = 0;
        started = false;
        enableSet = false;
        enabled = false;
    }
}
