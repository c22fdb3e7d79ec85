package com.vhost.spi.nativeio;

import com.vhost.api.VhostNativeException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;

/**
 * Thin, errno-checked wrappers over the Linux system calls the platform needs. Each method throws
 * {@link VhostNativeException} with the call's name, errno and {@code strerror} text on failure.
 * The errno capture buffer is per thread, so the wrappers allocate nothing per call.
 */
public final class Linux {
    private Linux() {}

    // Constants of x86_64/aarch64 Linux (asm-generic values where they agree).
    public static final int EINTR = 4;
    public static final int EAGAIN = 11;
    public static final int ENOENT = 2;
    public static final int EBADF = 9;
    public static final int ECONNREFUSED = 111;
    public static final int O_CLOEXEC = 0x80000;
    public static final int O_NONBLOCK = 0x800;
    public static final int MFD_CLOEXEC = 1;
    public static final int PROT_READ = 1;
    public static final int PROT_WRITE = 2;
    public static final int MAP_SHARED = 1;
    public static final int EFD_CLOEXEC = 0x80000;
    public static final int EFD_NONBLOCK = 0x800;
    public static final short POLLIN = 1;
    public static final short POLLOUT = 4;
    public static final short POLLERR = 8;
    public static final short POLLHUP = 16;
    public static final long PAGE_SIZE = 4096;

    static final Linker LINKER = Linker.nativeLinker();
    static final SymbolLookup LIBC = LINKER.defaultLookup();
    static final StructLayout CAPTURE_LAYOUT = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO =
            CAPTURE_LAYOUT.varHandle(MemoryLayout.PathElement.groupElement("errno"));
    private static final Linker.Option CAPTURE = Linker.Option.captureCallState("errno");
    private static final ThreadLocal<MemorySegment> CAPTURE_STATE =
            ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(CAPTURE_LAYOUT));
    private static final ThreadLocal<MemorySegment> SCRATCH8 =
            ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(16, 8));

    static final ValueLayout.OfInt C_INT = ValueLayout.JAVA_INT;
    static final ValueLayout.OfLong C_LONG = ValueLayout.JAVA_LONG;
    static final ValueLayout.OfShort C_SHORT = ValueLayout.JAVA_SHORT;
    static final java.lang.foreign.AddressLayout C_PTR = ValueLayout.ADDRESS;

    // Each downcall is linked on its first use (a holder class per handle, still a constant to the
    // JIT): linking every one when this class initialises cost tens of milliseconds at every start
    // of `vhost serve`, most of them for calls a command never makes.
    private static final class MemfdCreateHandle {
        static final MethodHandle MH = errnoHandle("memfd_create", FunctionDescriptor.of(C_INT, C_PTR, C_INT));
    }

    private static final class FtruncateHandle {
        static final MethodHandle MH = errnoHandle("ftruncate", FunctionDescriptor.of(C_INT, C_INT, C_LONG));
    }

    private static final class MmapHandle {
        static final MethodHandle MH = errnoHandle("mmap", FunctionDescriptor.of(C_PTR, C_PTR, C_LONG, C_INT, C_INT, C_INT, C_LONG));
    }

    private static final class MunmapHandle {
        static final MethodHandle MH = errnoHandle("munmap", FunctionDescriptor.of(C_INT, C_PTR, C_LONG));
    }

    private static final class EventfdHandle {
        static final MethodHandle MH = errnoHandle("eventfd", FunctionDescriptor.of(C_INT, C_INT, C_INT));
    }

    private static final class ReadHandle {
        static final MethodHandle MH = errnoHandle("read", FunctionDescriptor.of(C_LONG, C_INT, C_PTR, C_LONG));
    }

    private static final class WriteHandle {
        static final MethodHandle MH = errnoHandle("write", FunctionDescriptor.of(C_LONG, C_INT, C_PTR, C_LONG));
    }
    // Hot calls first go through handles without errno capture: on JDK 25 a capturing downcall
    // allocates a small buffer per call. Only a failed call is repeated through the capturing
    // handle to learn errno (harmless for read/write/poll: a repeat either succeeds or fails the same way).
    private static final class ReadFastHandle {
        static final MethodHandle MH = LINKER.downcallHandle(LIBC.find("read").orElseThrow(),
                FunctionDescriptor.of(C_LONG, C_INT, C_PTR, C_LONG));
    }

    private static final class WriteFastHandle {
        static final MethodHandle MH = LINKER.downcallHandle(LIBC.find("write").orElseThrow(),
                FunctionDescriptor.of(C_LONG, C_INT, C_PTR, C_LONG));
    }

    private static final class PollFastHandle {
        static final MethodHandle MH = LINKER.downcallHandle(LIBC.find("poll").orElseThrow(),
                FunctionDescriptor.of(C_INT, C_PTR, C_LONG, C_INT));
    }

    private static final class CloseHandle {
        static final MethodHandle MH = errnoHandle("close", FunctionDescriptor.of(C_INT, C_INT));
    }

    private static final class IoctlPtrHandle {
        static final MethodHandle MH = LINKER.downcallHandle(LIBC.find("ioctl").orElseThrow(),
                FunctionDescriptor.of(C_INT, C_INT, C_LONG, C_PTR), CAPTURE, Linker.Option.firstVariadicArg(2));
    }

    private static final class IoctlLongHandle {
        static final MethodHandle MH = LINKER.downcallHandle(LIBC.find("ioctl").orElseThrow(),
                FunctionDescriptor.of(C_INT, C_INT, C_LONG, C_LONG), CAPTURE, Linker.Option.firstVariadicArg(2));
    }

    private static final class Pipe2Handle {
        static final MethodHandle MH = errnoHandle("pipe2", FunctionDescriptor.of(C_INT, C_PTR, C_INT));
    }

    private static final class PollHandle {
        static final MethodHandle MH = errnoHandle("poll", FunctionDescriptor.of(C_INT, C_PTR, C_LONG, C_INT));
    }

    private static final class StrerrorHandle {
        static final MethodHandle MH = LINKER.downcallHandle(LIBC.find("strerror").orElseThrow(),
                FunctionDescriptor.of(C_PTR, C_INT));
    }

    private static final class OpenHandle {
        static final MethodHandle MH = errnoHandle("open", FunctionDescriptor.of(C_INT, C_PTR, C_INT));
    }

    private static final class UnlinkHandle {
        static final MethodHandle MH = errnoHandle("unlink", FunctionDescriptor.of(C_INT, C_PTR));
    }

    static MethodHandle errnoHandle(String name, FunctionDescriptor fd) {
        MemorySegment sym = LIBC.find(name).orElseThrow(() -> new UnsatisfiedLinkError("libc symbol " + name));
        return LINKER.downcallHandle(sym, fd, CAPTURE);
    }

    /** @return the calling thread's errno capture buffer, passed first to errno handles */
    static MemorySegment captureState() {
        return CAPTURE_STATE.get();
    }

    /** @return errno of the last captured call on this thread */
    static int lastErrno() {
        return (int) ERRNO.get(CAPTURE_STATE.get(), 0L);
    }

    static VhostNativeException error(String call) {
        int errno = lastErrno();
        return new VhostNativeException(call, errno, strerror(errno));
    }

    static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) {
            return r;
        }
        if (t instanceof Error e) {
            throw e;
        }
        return new IllegalStateException("native call failed", t);
    }

    /** @return the C library's text for {@code errno} ("No such file or directory") */
    public static String strerror(int errno) {
        try {
            MemorySegment s = (MemorySegment) StrerrorHandle.MH.invokeExact(errno);
            return s.reinterpret(256).getString(0);
        } catch (Throwable t) {
            return "errno " + errno;
        }
    }

    /** memfd_create(name, MFD_CLOEXEC). @return the new fd */
    public static int memfdCreate(String name) throws VhostNativeException {
        try (Arena a = Arena.ofConfined()) {
            int fd = (int) MemfdCreateHandle.MH.invokeExact(captureState(), a.allocateFrom(name), MFD_CLOEXEC);
            if (fd < 0) {
                throw error("memfd_create(" + name + ")");
            }
            return fd;
        } catch (VhostNativeException e) {
            throw e;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** ftruncate(fd, size): sets the file's size in bytes. */
    public static void ftruncate(int fd, long size) throws VhostNativeException {
        try {
            int r = (int) FtruncateHandle.MH.invokeExact(captureState(), fd, size);
            if (r < 0) {
                throw error("ftruncate(fd " + fd + ", " + size + ")");
            }
        } catch (VhostNativeException e) {
            throw e;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * mmap(NULL, size, PROT_READ|PROT_WRITE, MAP_SHARED, fd, offset).
     *
     * @param offset byte offset into {@code fd}, a multiple of {@link #PAGE_SIZE}
     * @return a segment of {@code size} bytes (global scope: unmap with {@link #munmap})
     */
    public static MemorySegment mmap(int fd, long offset, long size) throws VhostNativeException {
        try {
            MemorySegment p = (MemorySegment) MmapHandle.MH.invokeExact(captureState(), MemorySegment.NULL, size,
                    PROT_READ | PROT_WRITE, MAP_SHARED, fd, offset);
            if (p.address() == -1L) {
                throw error("mmap(fd " + fd + ", offset " + offset + ", size " + size + ")");
            }
            return p.reinterpret(size);
        } catch (VhostNativeException e) {
            throw e;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** munmap(segment.address(), segment.byteSize()). */
    public static void munmap(MemorySegment segment) throws VhostNativeException {
        try {
            int r = (int) MunmapHandle.MH.invokeExact(captureState(), segment, segment.byteSize());
            if (r < 0) {
                throw error("munmap(" + segment.byteSize() + " bytes)");
            }
        } catch (VhostNativeException e) {
            throw e;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** eventfd(0, flags). @return the new fd */
    public static int eventfd(int flags) throws VhostNativeException {
        try {
            int fd = (int) EventfdHandle.MH.invokeExact(captureState(), 0, flags);
            if (fd < 0) {
                throw error("eventfd");
            }
            return fd;
        } catch (VhostNativeException e) {
            throw e;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * read(fd, buf, len), retried on EINTR.
     *
     * @return bytes read (0 at end of file), or -1 when the fd is non-blocking and empty (EAGAIN)
     */
    public static long read(int fd, MemorySegment buf, long len) throws VhostNativeException {
        try {
            long fast = (long) ReadFastHandle.MH.invokeExact(fd, buf, len);
            if (fast >= 0) {
                return fast;
            }
            while (true) {
                long n = (long) ReadHandle.MH.invokeExact(captureState(), fd, buf, len);
                if (n >= 0) {
                    return n;
                }
                int e = lastErrno();
                if (e == EAGAIN) {
                    return -1;
                }
                if (e != EINTR) {
                    throw error("read(fd " + fd + ")");
                }
            }
        } catch (VhostNativeException e) {
            throw e;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * write(fd, buf, len), retried on EINTR.
     *
     * @return bytes written, or -1 when the fd is non-blocking and full (EAGAIN)
     */
    public static long write(int fd, MemorySegment buf, long len) throws VhostNativeException {
        try {
            long fast = (long) WriteFastHandle.MH.invokeExact(fd, buf, len);
            if (fast >= 0) {
                return fast;
            }
            while (true) {
                long n = (long) WriteHandle.MH.invokeExact(captureState(), fd, buf, len);
                if (n >= 0) {
                    return n;
                }
                int e = lastErrno();
                if (e == EAGAIN) {
                    return -1;
                }
                if (e != EINTR) {
                    throw error("write(fd " + fd + ")");
                }
            }
        } catch (VhostNativeException e) {
            throw e;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** close(fd). EINTR is not retried (Linux closes the fd anyway). */
    public static void close(int fd) throws VhostNativeException {
        try {
            int r = (int) CloseHandle.MH.invokeExact(captureState(), fd);
            if (r < 0 && lastErrno() != EINTR) {
                throw error("close(fd " + fd + ")");
            }
        } catch (VhostNativeException e) {
            throw e;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** close(fd), ignoring errors (for cleanup paths). */
    public static void closeQuietly(int fd) {
        if (fd < 0) {
            return;
        }
        try {
            close(fd);
        } catch (VhostNativeException ignored) {
            // cleanup: nothing more to do
        }
    }

    /**
     * ioctl(fd, request, arg) with a pointer argument.
     *
     * @param name request name for error messages ("VHOST_SET_VRING_ADDR")
     * @return the ioctl's non-negative result
     */
    public static int ioctl(int fd, long request, MemorySegment arg, String name) throws VhostNativeException {
        try {
            while (true) {
                int r = (int) IoctlPtrHandle.MH.invokeExact(captureState(), fd, request, arg);
                if (r >= 0) {
                    return r;
                }
                if (lastErrno() != EINTR) {
                    throw error("ioctl(" + name + ")");
                }
            }
        } catch (VhostNativeException e) {
            throw e;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** ioctl(fd, request, arg) with an integer argument. @see #ioctl(int, long, MemorySegment, String) */
    public static int ioctl(int fd, long request, long arg, String name) throws VhostNativeException {
        try {
            while (true) {
                int r = (int) IoctlLongHandle.MH.invokeExact(captureState(), fd, request, arg);
                if (r >= 0) {
                    return r;
                }
                if (lastErrno() != EINTR) {
                    throw error("ioctl(" + name + ")");
                }
            }
        } catch (VhostNativeException e) {
            throw e;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** ioctl with a pointer argument, named by its request code in hex. */
    public static int ioctl(int fd, long request, MemorySegment arg) throws VhostNativeException {
        return ioctl(fd, request, arg, "0x" + Long.toHexString(request));
    }

    /** ioctl with an integer argument, named by its request code in hex. */
    public static int ioctl(int fd, long request, long arg) throws VhostNativeException {
        return ioctl(fd, request, arg, "0x" + Long.toHexString(request));
    }

    /** pipe2(O_CLOEXEC). @return {read end, write end} */
    public static int[] pipe() throws VhostNativeException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment fds = a.allocate(C_INT, 2);
            int r = (int) Pipe2Handle.MH.invokeExact(captureState(), fds, O_CLOEXEC);
            if (r < 0) {
                throw error("pipe2");
            }
            return new int[] {fds.getAtIndex(C_INT, 0), fds.getAtIndex(C_INT, 1)};
        } catch (VhostNativeException e) {
            throw e;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * poll() on one fd; EINTR returns 0 (the caller's loop re-checks its deadline).
     *
     * @param events POLLIN and/or POLLOUT
     * @param timeoutMs -1 blocks, 0 returns at once
     * @return the revents bits, or 0 on timeout
     */
    public static int poll(int fd, int events, int timeoutMs) throws VhostNativeException {
        MemorySegment pfd = SCRATCH8.get();
        pfd.set(C_INT, 0, fd);
        pfd.set(C_SHORT, 4, (short) events);
        pfd.set(C_SHORT, 6, (short) 0);
        try {
            int r = (int) PollFastHandle.MH.invokeExact(pfd, 1L, timeoutMs);
            if (r < 0) {
                r = (int) PollHandle.MH.invokeExact(captureState(), pfd, 1L, 0);
            }
            if (r < 0) {
                if (lastErrno() == EINTR) {
                    return 0;
                }
                throw error("poll(fd " + fd + ")");
            }
            return r == 0 ? 0 : (pfd.get(C_SHORT, 6) & 0xFFFF);
        } catch (VhostNativeException e) {
            throw e;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static final int O_RDWR = 2;

    /**
     * open(path, flags | O_CLOEXEC).
     *
     * @return the new fd
     * @throws VhostNativeException naming the path and errno (ENOENT, EACCES, ...)
     */
    public static int open(String path, int flags) throws VhostNativeException {
        try (Arena a = Arena.ofConfined()) {
            int fd = (int) OpenHandle.MH.invokeExact(captureState(), a.allocateFrom(path), flags | O_CLOEXEC);
            if (fd < 0) {
                throw error("open(" + path + ")");
            }
            return fd;
        } catch (VhostNativeException e) {
            throw e;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** unlink(path). @return false when the path did not exist */
    public static boolean unlink(String path) throws VhostNativeException {
        try (Arena a = Arena.ofConfined()) {
            int r = (int) UnlinkHandle.MH.invokeExact(captureState(), a.allocateFrom(path));
            if (r < 0) {
                if (lastErrno() == ENOENT) {
                    return false;
                }
                throw error("unlink(" + path + ")");
            }
            return true;
        } catch (VhostNativeException e) {
            throw e;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** @return an 8-byte-aligned 16-byte scratch segment private to the calling thread */
    static MemorySegment scratch() {
        return SCRATCH8.get();
    }

    // ---------------------------------------------------------------- fd kinds and flags
    // (readlink and fcntl: telling what kind of fd a peer handed over, and making it non-blocking)

    private static final class ReadlinkHandle {
        static final MethodHandle MH = errnoHandle("readlink", FunctionDescriptor.of(C_LONG, C_PTR, C_PTR, C_LONG));
    }

    private static final class FcntlIntHandle {
        static final MethodHandle MH = LINKER.downcallHandle(LIBC.find("fcntl").orElseThrow(),
                FunctionDescriptor.of(C_INT, C_INT, C_INT, C_INT), CAPTURE, Linker.Option.firstVariadicArg(2));
    }
    private static final int F_GETFL = 3;
    private static final int F_SETFL = 4;
    private static final int PATH_MAX = 4096;

    /**
     * readlink(path): the target of a symbolic link. For {@code /proc/self/fd/N} this names what
     * fd N is: {@code anon_inode:[eventfd]}, {@code pipe:[ino]}, {@code socket:[ino]},
     * {@code /memfd:name (deleted)}, or a file's path.
     *
     * @return the link's target (at most 4096 bytes, decoded as UTF-8)
     * @throws VhostNativeException naming the path and errno (ENOENT when it does not exist,
     *     EINVAL when it is not a link)
     */
    public static String readlink(String path) throws VhostNativeException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(PATH_MAX + 1);
            long n = (long) ReadlinkHandle.MH.invokeExact(captureState(), a.allocateFrom(path), buf, (long) PATH_MAX);
            if (n < 0) {
                throw error("readlink(" + path + ")");
            }
            buf.set(ValueLayout.JAVA_BYTE, n, (byte) 0);
            return buf.getString(0);
        } catch (VhostNativeException e) {
            throw e;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * Sets O_NONBLOCK on {@code fd} (fcntl F_GETFL, then F_SETFL). The flag belongs to the open
     * file description, which a received fd shares with the process that sent it.
     *
     * @throws VhostNativeException naming the fd and errno (EBADF)
     */
    public static void setNonBlocking(int fd) throws VhostNativeException {
        try {
            int flags = (int) FcntlIntHandle.MH.invokeExact(captureState(), fd, F_GETFL, 0);
            if (flags < 0) {
                throw error("fcntl(fd " + fd + ", F_GETFL)");
            }
            if ((flags & O_NONBLOCK) == 0 && (int) FcntlIntHandle.MH.invokeExact(captureState(), fd, F_SETFL, flags | O_NONBLOCK) < 0) {
                throw error("fcntl(fd " + fd + ", F_SETFL, O_NONBLOCK)");
            }
        } catch (VhostNativeException e) {
            throw e;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * @return the file status flags of {@code fd} (fcntl F_GETFL: access mode, O_NONBLOCK, ...)
     * @throws VhostNativeException naming the fd and errno (EBADF)
     */
    public static int fileStatusFlags(int fd) throws VhostNativeException {
        try {
            int flags = (int) FcntlIntHandle.MH.invokeExact(captureState(), fd, F_GETFL, 0);
            if (flags < 0) {
                throw error("fcntl(fd " + fd + ", F_GETFL)");
            }
            return flags;
        } catch (VhostNativeException e) {
            throw e;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    // ---- file status and umask (private sockets, image checks) ---------------------------------
    // statx(2) has one layout on every architecture (struct stat differs between x86_64 and
    // aarch64): stx_mode u16 at 28, stx_size u64 at 40, stx_rdev_major/minor at 128/132; 256 bytes.

    private static final int AT_FDCWD = -100;
    private static final int AT_SYMLINK_NOFOLLOW = 0x100;
    private static final int AT_EMPTY_PATH = 0x1000;
    private static final int STATX_BASIC_STATS = 0x7ff;
    private static final class StatxHandle {
        static final MethodHandle MH = errnoHandle("statx",
                FunctionDescriptor.of(C_INT, C_INT, C_PTR, C_INT, C_INT, C_PTR));
    }

    private static final class UmaskHandle {
        static final MethodHandle MH = LINKER.downcallHandle(LIBC.find("umask").orElseThrow(),
                FunctionDescriptor.of(C_INT, C_INT));
    }

    /**
     * fstat(2) of an open fd (through statx(2) with {@code AT_EMPTY_PATH}).
     *
     * @throws VhostNativeException naming the fd and errno (EBADF, ...)
     */
    public static FileStat fstat(int fd) throws VhostNativeException {
        return statx(fd, "", AT_EMPTY_PATH, "fstat(fd " + fd + ")");
    }

    /**
     * stat(2) of a path, following symbolic links.
     *
     * @throws VhostNativeException naming the path and errno (ENOENT, EACCES, ...)
     */
    public static FileStat stat(String path) throws VhostNativeException {
        return statx(AT_FDCWD, path, 0, "stat(" + path + ")");
    }

    /**
     * lstat(2) of a path: a symbolic link is described itself, not followed.
     *
     * @throws VhostNativeException naming the path and errno (ENOENT, EACCES, ...)
     */
    public static FileStat lstat(String path) throws VhostNativeException {
        return statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, "lstat(" + path + ")");
    }

    private static FileStat statx(int dirfd, String path, int flags, String call) throws VhostNativeException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(256, 8);
            int r = (int) StatxHandle.MH.invokeExact(captureState(), dirfd, a.allocateFrom(path), flags, STATX_BASIC_STATS, buf);
            if (r < 0) {
                throw error(call);
            }
            return new FileStat(buf.get(C_SHORT, 28) & 0xFFFF, buf.get(C_LONG, 40));
        } catch (VhostNativeException e) {
            throw e;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * umask(2): sets the process's file mode creation mask (process-wide: every thread's new files).
     *
     * @param mask permission bits to clear from new files, e.g. {@code 022}
     * @return the previous mask
     */
    public static int umask(int mask) {
        try {
            return (int) UmaskHandle.MH.invokeExact(mask & 0777);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }
}
