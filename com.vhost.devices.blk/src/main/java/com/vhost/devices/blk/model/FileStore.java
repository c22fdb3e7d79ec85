package com.vhost.devices.blk.model;

import com.vhost.api.VhostNativeException;
import com.vhost.spi.nativeio.FileStat;
import com.vhost.spi.nativeio.Linux;
import com.vhost.spi.nativeio.SharedMemory;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;

/**
 * The storage under a {@link FileBlockModel}: an fd with positional I/O through Panama FFM
 * ({@code pread}, {@code pwrite}, {@code fdatasync}, {@code fallocate}, {@code fcntl}), errno
 * captured with {@link Linker.Option#captureCallState}. Data moves straight between the file and
 * host memory (guest buffers): the buffer argument is a host virtual address passed as a 64-bit
 * integer, so no {@link MemorySegment} is created per call. Callers keep the memory mapped while a
 * call runs (the device's queue worker owns guest memory while active). Thread-safe: positional
 * calls share no file offset.
 */
final class FileStore implements AutoCloseable {
    static final int EINTR = 4;
    static final int EOPNOTSUPP = 95;
    static final int ENOSYS = 38;
    static final int EINVAL = 22;
    static final int FALLOC_FL_KEEP_SIZE = 0x01;
    static final int FALLOC_FL_PUNCH_HOLE = 0x02;
    static final int FALLOC_FL_ZERO_RANGE = 0x10;
    private static final int O_RDONLY = 0;
    private static final int O_NOCTTY = 0x100;
    private static final int F_GETFL = 3;
    private static final int F_SETFL = 4;
    /** {@code _IOR(0x12, 114, size_t)}: a block device's size in bytes (linux/fs.h). */
    private static final long BLKGETSIZE64 = 0x80081272L;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final StructLayout CAPTURE_LAYOUT = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CAPTURE_LAYOUT.varHandle(MemoryLayout.PathElement.groupElement("errno"));
    private static final ThreadLocal<MemorySegment> CAPTURE =
            ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(CAPTURE_LAYOUT));
    // ssize_t pread(int fd, void *buf, size_t count, off_t offset): buf passed as a raw address
    // (an integer argument in the same register class as a pointer in the C ABIs the JDK supports).
    // Each downcall is linked on its first use (a holder class per handle, still a constant to the
    // JIT): linking every one when this class initialises cost tens of milliseconds at every start
    // of `vhost serve`, most of them for calls a command never makes.
    private static final class PreadHandle {
        static final MethodHandle MH = handle("pread",
                FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG,
                        ValueLayout.JAVA_LONG));
    }

    private static final class PwriteHandle {
        static final MethodHandle MH = handle("pwrite",
                FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG,
                        ValueLayout.JAVA_LONG));
    }

    private static final class FdatasyncHandle {
        static final MethodHandle MH = handle("fdatasync",
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
    }

    private static final class FallocateHandle {
        static final MethodHandle MH = handle("fallocate",
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG,
                        ValueLayout.JAVA_LONG));
    }
    // int fcntl(int fd, int cmd, ...): the third argument is variadic.
    private static final class FcntlHandle {
        static final MethodHandle MH = LINKER.downcallHandle(symbol("fcntl"),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT),
                Linker.Option.captureCallState("errno"), Linker.Option.firstVariadicArg(2));
    }

    // The same calls without errno capture, for the data path: on JDK 25 every capturing call
    // slices its capture segment (a 40-byte allocation the JIT cannot remove because the slice
    // escapes into the native stub). A failed fast call is repeated through the capturing handle
    // to learn errno: positional reads and writes and fdatasync are idempotent.
    private static final class PreadFastHandle {
        static final MethodHandle MH = LINKER.downcallHandle(symbol("pread"),
                FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG,
                        ValueLayout.JAVA_LONG));
    }

    private static final class PwriteFastHandle {
        static final MethodHandle MH = LINKER.downcallHandle(symbol("pwrite"),
                FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG,
                        ValueLayout.JAVA_LONG));
    }

    private static final class FdatasyncFastHandle {
        static final MethodHandle MH = LINKER.downcallHandle(symbol("fdatasync"),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
    }

    private static MethodHandle handle(String name, FunctionDescriptor fd) {
        return LINKER.downcallHandle(symbol(name), fd, Linker.Option.captureCallState("errno"));
    }

    private static MemorySegment symbol(String name) {
        return LINKER.defaultLookup().find(name).orElseThrow(() -> new UnsatisfiedLinkError("libc symbol " + name));
    }

    /** O_DIRECT: 040000 on x86_64, 0200000 on aarch64 (asm/fcntl.h). */
    static final int O_DIRECT = "aarch64".equals(System.getProperty("os.arch")) ? 0x10000 : 0x4000;

    private final String name;
    private final boolean owned;
    private volatile int fd;
    /** A second fd on the image opened O_DIRECT ({@link #openDirect}), or -1. */
    private volatile int directFd = -1;
    /** Bytes, set by {@link #open}; -1 for a borrowed fd. */
    private long size = -1;

    /** The image mapped here ({@link #mapped}), or null: I/O inside it copies memory, no system call. */
    private final MappedImage map;

    private FileStore(String name, int fd, boolean owned, MappedImage map) {
        this.name = name;
        this.fd = fd;
        this.owned = owned;
        this.map = map;
    }

    /**
     * Opens a disk image read-write or read-only: a regular file or a block device (inode(7)),
     * whose size in bytes is positive and a multiple of the 512-byte sector (VIRTIO 1.2, section
     * 5.2.4: capacity counts 512-byte sectors). The path is stat(2)ed first, so a FIFO, a
     * character device ({@code /dev/null}), a directory or a socket is refused without being
     * opened (opening a FIFO blocks until a writer comes; opening some devices acts on them); it is
     * then opened O_NONBLOCK | O_NOCTTY | O_CLOEXEC, so a file swapped for a FIFO meanwhile cannot
     * hang the open either, fstat(2)ed again, and O_NONBLOCK is cleared for normal I/O. A block
     * device's size comes from {@code ioctl(BLKGETSIZE64)}, a regular file's from fstat.
     *
     * @param path the image
     * @param readOnly open O_RDONLY instead of O_RDWR
     * @throws IllegalArgumentException naming the path when it is not a regular file or block
     *     device ({@code "image /dev/null is a character device, not a regular file or block
     *     device"}), is empty, or its size is not a multiple of 512 ({@code "image /x is 1000
     *     bytes, not a multiple of 512"})
     * @throws VhostNativeException naming the path and errno when stat, open or ioctl fail
     *     (ENOENT, EACCES, ...)
     */
    static FileStore open(String path, boolean readOnly) throws VhostNativeException {
        checkType(path, Linux.stat(path));
        int fd = Linux.open(path, (readOnly ? O_RDONLY : Linux.O_RDWR) | Linux.O_NONBLOCK | O_NOCTTY);
        FileStore store = new FileStore(path, fd, true, null);
        try {
            FileStat st = Linux.fstat(fd);
            checkType(path, st);
            store.fcntl(F_SETFL, store.fcntl(F_GETFL, 0) & ~Linux.O_NONBLOCK);
            long size = st.type() == FileStat.S_IFBLK ? store.blockDeviceSize() : st.size();
            if (size <= 0) {
                throw new IllegalArgumentException("image " + path + " is empty (0 bytes): a disk needs at least one "
                        + SECTOR + "-byte sector");
            }
            if (size % SECTOR != 0) {
                throw new IllegalArgumentException("image " + path + " is " + size + " bytes, not a multiple of " + SECTOR);
            }
            store.size = size;
            return store;
        } catch (VhostNativeException | RuntimeException e) {
            store.close();
            throw e;
        }
    }

    private static final int SECTOR = 512;

    private static void checkType(String path, FileStat st) {
        if (st.type() != FileStat.S_IFREG && st.type() != FileStat.S_IFBLK) {
            throw new IllegalArgumentException("image " + path + " is a " + st.typeName()
                    + ", not a regular file or block device");
        }
    }

    private int fcntl(int cmd, int arg) throws VhostNativeException {
        try {
            int r = (int) FcntlHandle.MH.invokeExact(CAPTURE.get(), fd, cmd, arg);
            if (r < 0) {
                throw error("fcntl", errno());
            }
            return r;
        } catch (VhostNativeException e) {
            throw e;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private long blockDeviceSize() throws VhostNativeException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(ValueLayout.JAVA_LONG);
            Linux.ioctl(fd, BLKGETSIZE64, out, "BLKGETSIZE64 on " + name);
            return out.get(ValueLayout.JAVA_LONG, 0);
        }
    }

    /**
     * Opens the image a second time with O_DIRECT (page cache bypassed) for I/O on 512-byte
     * aligned buffers; the first fd stays for the rest.
     *
     * @throws IllegalArgumentException naming the path when its file system refuses O_DIRECT
     *     (EINVAL: tmpfs before Linux 6.6, some FUSE file systems), or for a borrowed fd (memfd)
     * @throws VhostNativeException naming path and errno when the open fails otherwise
     */
    void openDirect(boolean readOnly) throws VhostNativeException {
        if (!owned) {
            throw new IllegalArgumentException("O_DIRECT needs an image file; " + name + " is not one");
        }
        try {
            directFd = Linux.open(name, (readOnly ? O_RDONLY : Linux.O_RDWR) | O_DIRECT | O_NOCTTY);
        } catch (VhostNativeException e) {
            if (e.errno() == EINVAL) {
                throw new IllegalArgumentException("image " + name + ": its file system does not support O_DIRECT"
                        + " (tmpfs?); serve it without --direct or from a disk-backed file system");
            }
            throw e;
        }
    }

    /** @return the fd (buffered I/O) */
    int fd() {
        return fd;
    }

    /** @return the O_DIRECT fd, or -1 when the image was not opened so */
    int directFd() {
        return directFd;
    }

    /** Uses an fd owned by someone else (e.g. a {@code SharedMemory} memfd); close() leaves it open. */
    static FileStore borrow(String name, int fd) {
        return new FileStore(name, fd, false, null);
    }

    /**
     * As {@link #borrow}, for a memfd whose whole content is also mapped here, and which nothing
     * writes but this store's {@link #pwriteFully} (see {@link MappedImage}).
     */
    static FileStore mapped(String name, int fd, MemorySegment map) {
        return new FileStore(name, fd, false, new MappedImage(map));
    }

    /** The in-memory model's store: {@link #mapped} for synchronous I/O, else (io_uring) {@link #borrow}. */
    static FileStore memory(String name, SharedMemory shm, boolean synchronous) {
        return synchronous ? mapped(name, shm.fd(), shm.segment()) : borrow(name, shm.fd());
    }

    /** @return a description (path or memfd name) */
    String name() {
        return name;
    }

    private static int errno() {
        return (int) ERRNO.get(CAPTURE.get(), 0L);
    }

    private VhostNativeException error(String call, int errno) {
        return new VhostNativeException(call + "(" + name + ")", errno, Linux.strerror(errno));
    }

    private static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) {
            return r;
        }
        if (t instanceof Error e) {
            throw e;
        }
        return new IllegalStateException("native call failed", t);
    }

    /**
     * @return the image's size in bytes as checked by {@link #open} (a multiple of 512), or for a
     *     borrowed fd its fstat size
     */
    long size() throws VhostNativeException {
        return size >= 0 ? size : Linux.fstat(fd).size();
    }

    /**
     * Reads {@code len} bytes at file offset {@code fileOffset} into host memory at
     * {@code hostAddress}, retrying short reads and EINTR. Stops at end of file: the caller
     * compares the return value with {@code len}.
     *
     * @return bytes read; less than {@code len} only at end of file
     */
    long preadFully(long hostAddress, long len, long fileOffset) throws VhostNativeException {
        MappedImage m = map;
        if (m != null && m.covers(len, fileOffset)) {
            m.read(hostAddress, len, fileOffset);
            return len;
        }
        long done = 0;
        try {
            while (done < len) {
                long n = (long) PreadFastHandle.MH.invokeExact(fd, hostAddress + done, len - done, fileOffset + done);
                if (n < 0) {
                    n = (long) PreadHandle.MH.invokeExact(CAPTURE.get(), fd, hostAddress + done, len - done, fileOffset + done);
                }
                if (n < 0) {
                    int e = errno();
                    if (e == EINTR) {
                        continue;
                    }
                    throw error("pread", e);
                }
                if (n == 0) {
                    break;
                }
                done += n;
            }
            return done;
        } catch (VhostNativeException e) {
            throw e;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Writes {@code len} bytes from host memory at {@code hostAddress} at {@code fileOffset}, whole. */
    void pwriteFully(long hostAddress, long len, long fileOffset) throws VhostNativeException {
        MappedImage m = map;
        if (m != null && m.covers(len, fileOffset)) {
            m.write(hostAddress, len, fileOffset);
            return;
        }
        long done = 0;
        try {
            while (done < len) {
                long n = (long) PwriteFastHandle.MH.invokeExact(fd, hostAddress + done, len - done, fileOffset + done);
                if (n < 0) {
                    n = (long) PwriteHandle.MH.invokeExact(CAPTURE.get(), fd, hostAddress + done, len - done, fileOffset + done);
                }
                if (n < 0) {
                    int e = errno();
                    if (e == EINTR) {
                        continue;
                    }
                    throw error("pwrite", e);
                }
                if (n == 0) {
                    throw error("pwrite", 0);
                }
                done += n;
            }
        } catch (VhostNativeException e) {
            throw e;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** fdatasync: written data reaches stable storage. */
    void fdatasync() throws VhostNativeException {
        try {
            int r = (int) FdatasyncFastHandle.MH.invokeExact(fd);
            while (r < 0) {
                r = (int) FdatasyncHandle.MH.invokeExact(CAPTURE.get(), fd);
                if (r >= 0 || errno() != EINTR) {
                    break;
                }
            }
            if (r < 0) {
                throw error("fdatasync", errno());
            }
        } catch (VhostNativeException e) {
            throw e;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * fallocate(fd, mode, offset, len).
     *
     * @return 0 on success, else the errno (callers fall back on EOPNOTSUPP and friends)
     */
    int fallocate(int mode, long offset, long len) {
        try {
            int r;
            do {
                r = (int) FallocateHandle.MH.invokeExact(CAPTURE.get(), fd, mode, offset, len);
            } while (r < 0 && errno() == EINTR);
            return r < 0 ? errno() : 0;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** @return a {@link VhostNativeException} for a failed {@link #fallocate} */
    VhostNativeException fallocateError(int errno) {
        return error("fallocate", errno);
    }

    /** Closes the fd if owned. Idempotent. */
    @Override
    public synchronized void close() {
        int f = fd;
        int d = directFd;
        fd = -1;
        directFd = -1;
        if (f >= 0 && owned) {
            Linux.closeQuietly(f);
        }
        if (d >= 0) {
            Linux.closeQuietly(d);
        }
    }
}
