package com.vhost.spi.nativeio;

import com.vhost.api.VhostNativeException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * An io_uring instance through the raw system calls ({@code io_uring_setup},
 * {@code io_uring_enter}, {@code io_uring_register} called through libc {@code syscall}), its
 * submission and completion rings and its SQE array mapped into this process (Linux
 * {@code include/uapi/linux/io_uring.h}, {@code io_uring(7)}; no liburing). One thread prepares,
 * submits and reaps; the wrapper is not thread-safe. Nothing is allocated per request: SQEs are
 * filled in the mapped array, CQEs read from the mapped ring and handed to a {@link Completions}
 * sink as {@code (user_data, res)}.
 *
 * <p>The rings' indices are shared with the kernel: the SQ tail and CQ head are published with a
 * release store, the SQ head and CQ tail read with an acquire load, as liburing does. Callers keep
 * no more requests in flight than {@link #entries()}: the CQ holds twice as many, so it cannot
 * overflow.
 *
 * <p>System call numbers are those of x86_64 (425, 426, 427; the same on aarch64 and every
 * architecture that uses the generic table); the structure offsets come from the kernel at setup
 * ({@code struct io_sqring_offsets}, {@code io_cqring_offsets}).
 *
 * @since 1.2.0
 */
public final class IoUring implements AutoCloseable {
    /** {@code IORING_OP_NOP}. */
    public static final int OP_NOP = 0;
    /** {@code IORING_OP_READV}: {@code addr} = iovec array, {@code len} = iovec count, {@code off} = file offset. */
    public static final int OP_READV = 1;
    /** {@code IORING_OP_WRITEV}. */
    public static final int OP_WRITEV = 2;
    /** {@code IORING_OP_FSYNC}; op flags {@link #FSYNC_DATASYNC} make it an fdatasync. */
    public static final int OP_FSYNC = 3;
    /** {@code IORING_OP_FALLOCATE}: {@code off} = offset, {@code addr} = length, {@code len} = mode. */
    public static final int OP_FALLOCATE = 17;
    /** {@code IORING_OP_READ}: {@code addr} = buffer, {@code len} = bytes. */
    public static final int OP_READ = 22;
    /** {@code IORING_OP_WRITE}. */
    public static final int OP_WRITE = 23;
    /** {@code IORING_FSYNC_DATASYNC}. */
    public static final int FSYNC_DATASYNC = 1;
    /** Bytes of one {@code struct iovec} (LP64). */
    public static final int IOVEC_BYTES = 16;

    private static final long SYS_IO_URING_SETUP = 425;
    private static final long SYS_IO_URING_ENTER = 426;
    private static final long SYS_IO_URING_REGISTER = 427;
    private static final int IORING_ENTER_GETEVENTS = 1;
    private static final int IORING_REGISTER_EVENTFD = 4;
    private static final int IORING_FEAT_SINGLE_MMAP = 1;
    private static final long IORING_OFF_SQ_RING = 0L;
    private static final long IORING_OFF_CQ_RING = 0x8000000L;
    private static final long IORING_OFF_SQES = 0x10000000L;
    private static final int SQE_BYTES = 64;
    private static final int CQE_BYTES = 16;
    private static final int PARAMS_BYTES = 120;
    private static final int EPERM = 1;
    private static final int ENOSYS = 38;
    private static final Path DISABLED_SYSCTL = Path.of("/proc/sys/kernel/io_uring_disabled");

    private static final VarHandle U32 = ValueLayout.JAVA_INT.varHandle();

    // long syscall(long number, ...): every argument passed as a 64-bit integer, so no register
    // holds stale upper bits whatever the kernel's argument types.
    private static final FunctionDescriptor SYSCALL = FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG,
            ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG,
            ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG);

    private static final class SyscallHandle {
        static final MethodHandle MH = Linux.LINKER.downcallHandle(Linux.LIBC.find("syscall").orElseThrow(), SYSCALL,
                Linker.Option.captureCallState("errno"), Linker.Option.firstVariadicArg(1));
    }

    // io_uring_enter on the data path without errno capture (a capturing downcall allocates on
    // JDK 25); a failed call submitted nothing and is repeated through SyscallHandle for errno.
    private static final class SyscallFastHandle {
        static final MethodHandle MH = Linux.LINKER.downcallHandle(Linux.LIBC.find("syscall").orElseThrow(), SYSCALL,
                Linker.Option.firstVariadicArg(1));
    }

    /** Receives completions from {@link #reap}. */
    @FunctionalInterface
    public interface Completions {
        /**
         * @param userData the SQE's {@code user_data}
         * @param res the CQE's {@code res}: bytes transferred or 0 on success, {@code -errno} on failure
         */
        void complete(long userData, int res);
    }

    private final int fd;
    private final int entries;
    private final MemorySegment sqRing;
    private final MemorySegment cqRing; // the same mapping as sqRing with IORING_FEAT_SINGLE_MMAP
    private final MemorySegment sqes;
    private final long sqHead;
    private final long sqTail;
    private final int sqMask;
    private final long cqHead;
    private final long cqTail;
    private final int cqMask;
    private final long cqes;
    /** Our copy of the SQ tail: SQEs prepared but not yet published end at it. */
    private int tail;
    /** SQEs published and not yet handed to the kernel by {@link #submit}. */
    private int unsubmitted;
    private boolean closed;

    private IoUring(int fd, int entries, MemorySegment sqRing, MemorySegment cqRing, MemorySegment sqes, MemorySegment p) {
        this.fd = fd;
        this.entries = entries;
        this.sqRing = sqRing;
        this.cqRing = cqRing;
        this.sqes = sqes;
        this.sqHead = p.get(ValueLayout.JAVA_INT, 40);
        this.sqTail = p.get(ValueLayout.JAVA_INT, 44);
        this.sqMask = sqRing.get(ValueLayout.JAVA_INT, p.get(ValueLayout.JAVA_INT, 48));
        long array = p.get(ValueLayout.JAVA_INT, 64);
        this.cqHead = p.get(ValueLayout.JAVA_INT, 80);
        this.cqTail = p.get(ValueLayout.JAVA_INT, 84);
        this.cqMask = cqRing.get(ValueLayout.JAVA_INT, p.get(ValueLayout.JAVA_INT, 88));
        this.cqes = p.get(ValueLayout.JAVA_INT, 100);
        for (int i = 0; i < entries; i++) { // SQE i always sits in array slot i
            sqRing.set(ValueLayout.JAVA_INT, array + 4L * i, i);
        }
        this.tail = (int) U32.getAcquire(sqRing, sqTail);
    }

    /**
     * io_uring_setup(entries, params) and the three mappings ({@code IORING_OFF_SQ_RING},
     * {@code IORING_OFF_CQ_RING} unless {@code IORING_FEAT_SINGLE_MMAP}, {@code IORING_OFF_SQES}).
     *
     * @param entries submission queue entries, a power of two in 1..4096 (the CQ gets twice as many)
     * @return the ring
     * @throws VhostNativeException when the kernel refuses: its message says why in words, above
     *     all when io_uring is disabled ({@code kernel.io_uring_disabled} 1 or 2: EPERM) or absent
     *     (ENOSYS); also when a mapping fails (nothing is left open then)
     * @throws IllegalArgumentException for a bad {@code entries}
     */
    public static IoUring create(int entries) throws VhostNativeException {
        if (entries < 1 || entries > 4096 || (entries & (entries - 1)) != 0) {
            throw new IllegalArgumentException("io_uring entries " + entries + " is not a power of two in 1..4096");
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(PARAMS_BYTES, 8);
            long r = (long) SyscallHandle.MH.invokeExact(Linux.captureState(), SYS_IO_URING_SETUP, (long) entries,
                    p.address(), 0L, 0L, 0L, 0L);
            if (r < 0) {
                int errno = Linux.lastErrno();
                throw new VhostNativeException("io_uring_setup", errno, setupFailure(errno));
            }
            int ringFd = (int) r;
            MemorySegment sq = null;
            MemorySegment cq = null;
            try {
                int sqEntries = p.get(ValueLayout.JAVA_INT, 0);
                int cqEntries = p.get(ValueLayout.JAVA_INT, 4);
                int features = p.get(ValueLayout.JAVA_INT, 20);
                long sqSize = p.get(ValueLayout.JAVA_INT, 64) + 4L * sqEntries;
                long cqSize = p.get(ValueLayout.JAVA_INT, 100) + (long) CQE_BYTES * cqEntries;
                boolean single = (features & IORING_FEAT_SINGLE_MMAP) != 0;
                sq = Linux.mmap(ringFd, IORING_OFF_SQ_RING, single ? Math.max(sqSize, cqSize) : sqSize);
                cq = single ? sq : Linux.mmap(ringFd, IORING_OFF_CQ_RING, cqSize);
                MemorySegment s = Linux.mmap(ringFd, IORING_OFF_SQES, (long) SQE_BYTES * sqEntries);
                return new IoUring(ringFd, sqEntries, sq, cq, s, p);
            } catch (VhostNativeException | RuntimeException e) {
                unmapQuietly(cq != sq ? cq : null);
                unmapQuietly(sq);
                Linux.closeQuietly(ringFd);
                throw e;
            }
        } catch (VhostNativeException | RuntimeException e) {
            throw e;
        } catch (Throwable t) {
            throw Linux.rethrow(t);
        }
    }

    /**
     * Whether this process can use io_uring: sets up and closes a ring of one entry.
     *
     * @return null when it can, else why not (the {@link #create} failure's message: e.g.
     *     "io_uring is disabled on this host (sysctl kernel.io_uring_disabled = 2)")
     */
    public static String unavailableReason() {
        try (IoUring probe = create(1)) {
            return null;
        } catch (VhostNativeException e) {
            return e.getMessage();
        }
    }

    private static String setupFailure(int errno) {
        String sysctl;
        try {
            sysctl = Files.readString(DISABLED_SYSCTL).trim();
        } catch (java.io.IOException | RuntimeException e) {
            sysctl = null;
        }
        return setupFailure(errno, sysctl);
    }

    /**
     * @param errno what io_uring_setup failed with
     * @param sysctl the value of {@code kernel.io_uring_disabled} (0 enabled, 1 only for
     *     {@code kernel.io_uring_group}, 2 disabled), or null when it cannot be read
     * @return why, in words
     */
    static String setupFailure(int errno, String sysctl) {
        if (errno == EPERM && sysctl != null && !"0".equals(sysctl)) {
            return "io_uring is disabled on this host (sysctl kernel.io_uring_disabled = " + sysctl
                    + (sysctl.equals("1") ? ": only members of kernel.io_uring_group may use it)" : ")");
        }
        if (errno == ENOSYS) {
            return "this kernel has no io_uring (ENOSYS: built without CONFIG_IO_URING)";
        }
        return Linux.strerror(errno) + (errno == EPERM ? " (io_uring refused: a seccomp filter or container policy?)" : "");
    }

    private static void unmapQuietly(MemorySegment s) {
        if (s != null) {
            try {
                Linux.munmap(s);
            } catch (VhostNativeException e) {
                // the fd is closed next; a leaked mapping of a ring is all that can remain
            }
        }
    }

    /** @return the ring's fd */
    public int fd() {
        return fd;
    }

    /** @return submission queue entries: the most requests to keep in flight */
    public int entries() {
        return entries;
    }

    /** @return how many SQEs can be prepared before {@link #submit} */
    public int freeSlots() {
        return entries - (tail - (int) U32.getAcquire(sqRing, sqHead));
    }

    /**
     * Prepares one SQE and publishes it in the SQ (release store of the tail); {@link #submit}
     * hands it to the kernel.
     *
     * @param opcode one of the {@code OP_*} constants
     * @param fileFd the file the operation acts on
     * @param addr buffer or iovec array address ({@code OP_FALLOCATE}: the length in bytes)
     * @param len bytes or iovec count ({@code OP_FALLOCATE}: the mode)
     * @param offset file offset in bytes
     * @param opFlags the op's flags word ({@code rw_flags}, {@code fsync_flags})
     * @param userData returned in the CQE
     * @return false when the SQ is full (nothing prepared)
     */
    public boolean prepare(int opcode, int fileFd, long addr, int len, long offset, int opFlags, long userData) {
        if (freeSlots() <= 0) {
            return false;
        }
        long at = (long) SQE_BYTES * (tail & sqMask);
        for (long k = 0; k < SQE_BYTES; k += 8) {
            sqes.set(ValueLayout.JAVA_LONG, at + k, 0L);
        }
        sqes.set(ValueLayout.JAVA_BYTE, at, (byte) opcode);
        sqes.set(ValueLayout.JAVA_INT, at + 4, fileFd);
        sqes.set(ValueLayout.JAVA_LONG, at + 8, offset);
        sqes.set(ValueLayout.JAVA_LONG, at + 16, addr);
        sqes.set(ValueLayout.JAVA_INT, at + 24, len);
        sqes.set(ValueLayout.JAVA_INT, at + 28, opFlags);
        sqes.set(ValueLayout.JAVA_LONG, at + 32, userData);
        tail++;
        U32.setRelease(sqRing, sqTail, tail);
        unsubmitted++;
        return true;
    }

    /**
     * io_uring_enter: hands the prepared SQEs to the kernel and, with {@code minComplete > 0},
     * waits until that many completions are ready (EINTR is retried).
     *
     * @param minComplete completions to wait for, 0 for none
     * @return SQEs the kernel consumed
     * @throws VhostNativeException naming errno when the kernel refuses the call
     */
    public int submit(int minComplete) throws VhostNativeException {
        int toSubmit = unsubmitted;
        if (toSubmit == 0 && minComplete == 0) {
            return 0;
        }
        long flags = minComplete > 0 ? IORING_ENTER_GETEVENTS : 0;
        try {
            long r = (long) SyscallFastHandle.MH.invokeExact(SYS_IO_URING_ENTER, (long) fd, (long) toSubmit,
                    (long) minComplete, flags, 0L, 0L);
            while (r < 0) {
                r = (long) SyscallHandle.MH.invokeExact(Linux.captureState(), SYS_IO_URING_ENTER, (long) fd,
                        (long) toSubmit, (long) minComplete, flags, 0L, 0L);
                if (r < 0 && Linux.lastErrno() != Linux.EINTR) {
                    int errno = Linux.lastErrno();
                    throw new VhostNativeException("io_uring_enter", errno, Linux.strerror(errno));
                }
            }
            unsubmitted -= (int) r;
            return (int) r;
        } catch (VhostNativeException e) {
            throw e;
        } catch (Throwable t) {
            throw Linux.rethrow(t);
        }
    }

    /**
     * Hands every ready CQE to {@code sink}, in the order the kernel posted them (not the order
     * of submission), and frees their slots in the CQ.
     *
     * @return CQEs reaped
     */
    public int reap(Completions sink) {
        int head = (int) U32.getAcquire(cqRing, cqHead);
        int end = (int) U32.getAcquire(cqRing, cqTail);
        int n = 0;
        while (head != end) {
            long at = cqes + (long) CQE_BYTES * (head & cqMask);
            long userData = cqRing.get(ValueLayout.JAVA_LONG, at);
            int res = cqRing.get(ValueLayout.JAVA_INT, at + 8);
            head++;
            U32.setRelease(cqRing, cqHead, head); // the slot may be reused before the sink runs
            sink.complete(userData, res);
            n++;
            if (head == end) {
                end = (int) U32.getAcquire(cqRing, cqTail);
            }
        }
        return n;
    }

    /** @return whether CQEs are ready to {@link #reap} */
    public boolean hasCompletions() {
        return (int) U32.getAcquire(cqRing, cqHead) != (int) U32.getAcquire(cqRing, cqTail);
    }

    /**
     * io_uring_register(IORING_REGISTER_EVENTFD): the kernel signals {@code eventFd} when it posts
     * a CQE, so the ring can be waited on with epoll.
     *
     * @throws VhostNativeException naming errno when refused
     */
    public void registerEventFd(int eventFd) throws VhostNativeException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment arg = a.allocate(ValueLayout.JAVA_INT);
            arg.set(ValueLayout.JAVA_INT, 0, eventFd);
            long r = (long) SyscallHandle.MH.invokeExact(Linux.captureState(), SYS_IO_URING_REGISTER, (long) fd,
                    (long) IORING_REGISTER_EVENTFD, arg.address(), 1L, 0L, 0L);
            if (r < 0) {
                int errno = Linux.lastErrno();
                throw new VhostNativeException("io_uring_register(IORING_REGISTER_EVENTFD)", errno, Linux.strerror(errno));
            }
        } catch (VhostNativeException e) {
            throw e;
        } catch (Throwable t) {
            throw Linux.rethrow(t);
        }
    }

    /**
     * Unmaps the rings and closes the fd. Requests still in flight are cancelled by the kernel
     * (their buffers must stay mapped until then: callers drain first). Idempotent.
     */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        unmapQuietly(sqes);
        if (cqRing != sqRing) {
            unmapQuietly(cqRing);
        }
        unmapQuietly(sqRing);
        Linux.closeQuietly(fd);
    }

    @Override
    public String toString() {
        return "io_uring fd " + fd + " (" + entries + " entries)";
    }
}
