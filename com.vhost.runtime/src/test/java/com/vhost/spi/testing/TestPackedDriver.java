package com.vhost.spi.testing;

import com.vhost.api.virtio.GuestMemory;
import com.vhost.api.virtio.VirtqueueConfig;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.util.ArrayDeque;

/**
 * Test-only driver side of a packed virtqueue (VIRTIO 1.2, 2.8), written from the spec as a
 * hand-built ring: the descriptor ring at {@code base}, the driver event suppression area after
 * it and the device event suppression area after that, buffers from a bump allocator after the
 * rings. It makes chains available the way a driver must (every descriptor written, the first
 * one's flags last), tracks the buffer ids it handed out with the ring descriptors each took, and
 * reads used descriptors at its used position, moving on by the descriptors of the returned id.
 */
public final class TestPackedDriver {
    private static final ValueLayout.OfShort LE16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt LE32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong LE64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    public static final int F_NEXT = 1;
    public static final int F_WRITE = 2;
    public static final int F_INDIRECT = 4;
    public static final int F_AVAIL = 1 << 7;
    public static final int F_USED = 1 << 15;

    /** One buffer of a chain. */
    public record Buf(long gpa, int len, boolean writable) {}

    /** One used descriptor read back. */
    public record Used(int id, int len) {}

    private final GuestMemory memory;
    private final int queueIndex;
    private final int size;
    private final long descGpa;
    private final long driverGpa;
    private final long deviceGpa;
    private final MemorySegment desc;
    private final MemorySegment driverArea;
    private final MemorySegment deviceArea;
    private final int[] descsOfId;
    private final ArrayDeque<Integer> freeIds = new ArrayDeque<>();
    private long heap;
    private final long heapEnd;
    private int availPos;
    private boolean availWrap = true;
    private int usedPos;
    private boolean usedWrap = true;
    private int freeDescs;

    /**
     * @param memory guest memory
     * @param queueIndex queue index reported in the config
     * @param size ring size
     * @param base guest address (16-aligned) of the rings
     * @param span bytes this driver may use from {@code base}
     */
    public TestPackedDriver(GuestMemory memory, int queueIndex, int size, long base, long span) {
        this.memory = memory;
        this.queueIndex = queueIndex;
        this.size = size;
        this.descGpa = base;
        this.driverGpa = base + 16L * size;
        this.deviceGpa = driverGpa + 4;
        this.desc = memory.slice(descGpa, 16L * size);
        this.driverArea = memory.slice(driverGpa, 4);
        this.deviceArea = memory.slice(deviceGpa, 4);
        this.descsOfId = new int[size];
        for (int i = 0; i < size; i++) {
            freeIds.add(i);
        }
        this.freeDescs = size;
        this.heap = (deviceGpa + 4 + 4095) & -4096L;
        this.heapEnd = base + span;
        desc.fill((byte) 0);
        driverArea.fill((byte) 0);
        deviceArea.fill((byte) 0);
    }

    /** @return the config: avail position 0 with wrap counter 1 (the base {@code 0x8000}) */
    public VirtqueueConfig config(int kickFd, int callFd) {
        return new VirtqueueConfig(queueIndex, size, descGpa, driverGpa, deviceGpa, 0x8000, kickFd, callFd, true);
    }

    private static int encode(int pos, boolean wrap) {
        return pos | (wrap ? 0x8000 : 0);
    }

    /** @return the next avail position, {@code offset | wrap << 15} */
    public int availPosition() {
        return encode(availPos, availWrap);
    }

    /** @return the next used position, {@code offset | wrap << 15} */
    public int usedPosition() {
        return encode(usedPos, usedWrap);
    }

    public long descGpa() {
        return descGpa;
    }

    public long deviceAreaGpa() {
        return deviceGpa;
    }

    /** @return {@code len} bytes of fresh buffer space (16-aligned) */
    public long alloc(int len) {
        long at = heap;
        heap = (heap + len + 15) & -16L;
        if (heap > heapEnd) {
            throw new IllegalStateException("test heap exhausted");
        }
        return at;
    }

    /** @return the guest memory at {@code gpa} */
    public MemorySegment at(long gpa, long len) {
        return memory.slice(gpa, len);
    }

    /** @return the ring descriptor slot {@code pos} (16 bytes) */
    public MemorySegment slot(int pos) {
        return desc.asSlice(16L * pos, 16);
    }

    private int avail(boolean wrap) {
        return wrap ? F_AVAIL : F_USED;
    }

    /** Makes {@code bufs} available as one chain of consecutive descriptors; @return its buffer id */
    public int submit(Buf... bufs) {
        int id = takeId(bufs.length);
        submitRaw(id, bufs.length, i -> bufs[i].gpa, i -> bufs[i].len, i -> (bufs[i].writable ? F_WRITE : 0)
                | (i + 1 < bufs.length ? F_NEXT : 0));
        return id;
    }

    /** Makes one INDIRECT descriptor available whose table (allocated here) holds {@code bufs}; @return its id */
    public int submitIndirect(Buf... bufs) {
        long table = alloc(16 * bufs.length);
        MemorySegment t = at(table, 16L * bufs.length);
        for (int i = 0; i < bufs.length; i++) {
            t.set(LE64, 16L * i, bufs[i].gpa);
            t.set(LE32, 16L * i + 8, bufs[i].len);
            t.set(LE16, 16L * i + 12, (short) 0);
            t.set(LE16, 16L * i + 14, (short) (bufs[i].writable ? F_WRITE : 0));
        }
        int id = takeId(1);
        submitRaw(id, 1, i -> table, i -> 16 * bufs.length, i -> F_INDIRECT);
        return id;
    }

    private int takeId(int descs) {
        if (descs > freeDescs || freeIds.isEmpty()) {
            throw new IllegalStateException("ring full: " + freeDescs + " descriptors, " + freeIds.size() + " ids free");
        }
        int id = freeIds.removeFirst();
        descsOfId[id] = descs;
        freeDescs -= descs;
        return id;
    }

    /** Field sources for {@link #submitRaw}. */
    public interface Field {
        long of(int i);
    }

    /**
     * Writes {@code n} descriptors from the avail position with the fields given ({@code flags}
     * without AVAIL/USED, which are added for the wrap counter at each slot), the id in the last
     * one, the first one's flags last with release ordering, and moves the avail position on.
     */
    public void submitRaw(int id, int n, Field addr, Field len, Field flags) {
        int pos = availPos;
        boolean wrap = availWrap;
        int firstFlags = 0;
        for (int i = 0; i < n; i++) {
            long off = 16L * pos;
            desc.set(LE64, off, addr.of(i));
            desc.set(LE32, off + 8, (int) len.of(i));
            desc.set(LE16, off + 12, (short) (i == n - 1 ? id : 0));
            int f = (int) flags.of(i) | avail(wrap);
            if (i == 0) {
                firstFlags = f;
            } else {
                desc.set(LE16, off + 14, (short) f);
            }
            if (++pos == size) {
                pos = 0;
                wrap = !wrap;
            }
        }
        VarHandle.releaseFence();
        desc.set(LE16, 16L * availPos + 14, (short) firstFlags);
        availPos = pos;
        availWrap = wrap;
    }

    /** @return the next used descriptor, or null when the device has not written one there yet */
    public Used pollUsed() {
        long off = 16L * usedPos;
        int flags = Short.toUnsignedInt(desc.get(LE16, off + 14));
        boolean a = (flags & F_AVAIL) != 0;
        boolean u = (flags & F_USED) != 0;
        if (a != usedWrap || u != usedWrap) {
            return null;
        }
        VarHandle.acquireFence();
        int id = Short.toUnsignedInt(desc.get(LE16, off + 12));
        int len = desc.get(LE32, off + 8);
        if (id >= size || descsOfId[id] == 0) {
            throw new IllegalStateException("device returned id " + id + " which is not in flight");
        }
        int n = descsOfId[id];
        descsOfId[id] = 0;
        freeDescs += n;
        freeIds.addLast(id);
        usedPos += n;
        if (usedPos >= size) {
            usedPos -= size;
            usedWrap = !usedWrap;
        }
        return new Used(id, len);
    }

    /** Writes the driver event suppression area: {@code off_wrap} then {@code flags} (0 ENABLE, 1 DISABLE, 2 DESC). */
    public void driverEvent(int offWrap, int flags) {
        driverArea.set(LE16, 0, (short) offWrap);
        VarHandle.releaseFence();
        driverArea.set(LE16, 2, (short) flags);
    }

    /** @return the device event suppression area's {@code flags} */
    public int deviceEventFlags() {
        return Short.toUnsignedInt(deviceArea.get(LE16, 2));
    }

    /** @return the device event suppression area's {@code off_wrap} */
    public int deviceEventOffWrap() {
        return Short.toUnsignedInt(deviceArea.get(LE16, 0));
    }
}
