package com.vhost.devices.blk.model;

import com.vhost.api.VhostNativeException;
import com.vhost.spi.nativeio.Linux;
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
 * ({@code pread}, {@code pwrite}, {@code fdatasync}, {@code fallocate}, {@code lseek}), errno
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
    private static final int SEEK_END = 2;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final StructLayout CAPTURE_LAYOUT = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CAPTURE_LAYOUT.varHandle(MemoryLayout.PathElement.groupElement("errno"));
    private static final ThreadLocal<MemorySegment> CAPTURE =
            ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(CAPTURE_LAYOUT));
    // ssize_t pread(int fd, void *buf, size_t count, off_t offset): buf passed as a raw address
    // (an integer argument in the same register class as a pointer in the C ABIs the JDK supports).
    private static final MethodHandle PREAD = handle("pread",
            FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG,
                    ValueLayout.JAVA_LONG));
    private static final MethodHandle PWRITE = handle("pwrite",
            FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG,
                    ValueLayout.JAVA_LONG));
    private static final MethodHandle FDATASYNC = handle("fdatasync",
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
    private static final MethodHandle FALLOCATE = handle("fallocate",
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG,
                    ValueLayout.JAVA_LONG));
    private static final MethodHandle LSEEK = handle("lseek",
            FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT));

    // The same calls without errno capture, for the data path: on JDK 25 every capturing call
    // slices its capture segment (a 40-byte allocation the JIT cannot remove because the slice
    // escapes into the native stub). A failed fast call is repeated through the capturing handle
    // to learn errno: positional reads and writes and fdatasync are idempotent.
    private static final MethodHandle PREAD_FAST = LINKER.downcallHandle(symbol("pread"),
            FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG,
                    ValueLayout.JAVA_LONG));
    private static final MethodHandle PWRITE_FAST = LINKER.downcallHandle(symbol("pwrite"),
            FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG,
                    ValueLayout.JAVA_LONG));
    private static final MethodHandle FDATASYNC_FAST = LINKER.downcallHandle(symbol("fdatasync"),
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));

    private static MethodHandle handle(String name, FunctionDescriptor fd) {
        return LINKER.downcallHandle(symbol(name), fd, Linker.Option.captureCallState("errno"));
    }

    private static MemorySegment symbol(String name) {
        return LINKER.defaultLookup().find(name).orElseThrow(() -> new UnsatisfiedLinkError("libc symbol " + name));
    }

    private final String name;
    private final boolean owned;
    private volatile int fd;

    private FileStore(String name, int fd, boolean owned) {
        this.name = name;
        this.fd = fd;
        this.owned = owned;
    }

    /**
     * Opens {@code path} read-write or read-only (O_CLOEXEC).
     *
     * @throws VhostNativeException naming the path and errno
     */
    static FileStore open(String path, boolean readOnly) throws VhostNativeException {
        return new FileStore(path, Linux.open(path, readOnly ? O_RDONLY : Linux.O_RDWR), true);
    }

    /** Uses an fd owned by someone else (e.g. a {@code SharedMemory} memfd); close() leaves it open. */
    static FileStore borrow(String name, int fd) {
        return new FileStore(name, fd, false);
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

    /** @return the file's size in bytes ({@code lseek(fd, 0, SEEK_END)}) */
    long size() throws VhostNativeException {
        try {
            long r = (long) LSEEK.invokeExact(CAPTURE.get(), fd, 0L, SEEK_END);
            if (r < 0) {
                throw error("lseek", errno());
            }
            return r;
        } catch (VhostNativeException e) {
            throw e;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * Reads {@code len} bytes at file offset {@code fileOffset} into host memory at
     * {@code hostAddress}, retrying short reads and EINTR. Stops at end of file: the caller
     * compares the return value with {@code len}.
     *
     * @return bytes read; less than {@code len} only at end of file
     */
    long preadFully(long hostAddress, long len, long fileOffset) throws VhostNativeException {
        long done = 0;
        try {
            while (done < len) {
                long n = (long) PREAD_FAST.invokeExact(fd, hostAddress + done, len - done, fileOffset + done);
                if (n < 0) {
                    n = (long) PREAD.invokeExact(CAPTURE.get(), fd, hostAddress + done, len - done, fileOffset + done);
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
        long done = 0;
        try {
            while (done < len) {
                long n = (long) PWRITE_FAST.invokeExact(fd, hostAddress + done, len - done, fileOffset + done);
                if (n < 0) {
                    n = (long) PWRITE.invokeExact(CAPTURE.get(), fd, hostAddress + done, len - done, fileOffset + done);
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
            int r = (int) FDATASYNC_FAST.invokeExact(fd);
            while (r < 0) {
                r = (int) FDATASYNC.invokeExact(CAPTURE.get(), fd);
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
                r = (int) FALLOCATE.invokeExact(CAPTURE.get(), fd, mode, offset, len);
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
        fd = -1;
        if (f >= 0 && owned) {
            Linux.closeQuietly(f);
        }
    }
}
