package com.vhost.spi.nativeio;

import com.vhost.api.VhostNativeException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.GroupPrincipal;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.UserPrincipalNotFoundException;
import java.util.EnumSet;
import java.util.Set;

/**
 * A listening AF_UNIX stream socket at a path (vhost-user back-ends, or front-ends in server mode),
 * private to its owner unless asked otherwise (socket(7)), that never takes a path over from a
 * live server or replaces a file that is not a socket.
 */
public final class UnixServer implements AutoCloseable {
    private static final MethodHandle BIND = Linux.errnoHandle("bind",
            FunctionDescriptor.of(Linux.C_INT, Linux.C_INT, Linux.C_PTR, Linux.C_INT));
    private static final MethodHandle LISTEN = Linux.errnoHandle("listen",
            FunctionDescriptor.of(Linux.C_INT, Linux.C_INT, Linux.C_INT));
    private static final MethodHandle ACCEPT4 = Linux.errnoHandle("accept4",
            FunctionDescriptor.of(Linux.C_INT, Linux.C_INT, Linux.C_PTR, Linux.C_PTR, Linux.C_INT));

    private final Path path;
    private volatile int fd;

    private UnixServer(Path path, int fd) {
        this.path = path;
        this.fd = fd;
    }

    /** Permission bits of a socket made by {@link #listen(Path)}: owner read and write only. */
    public static final int PRIVATE_MODE = 0600;
    /** errno EADDRINUSE: a live server answers on the path. */
    public static final int EADDRINUSE = 98;
    /** errno EEXIST: the path exists and is not a socket. */
    public static final int EEXIST = 17;
    private static final int SOCK_NONBLOCK = 0x800;
    private static final MethodHandle CONNECT = Linux.errnoHandle("connect",
            FunctionDescriptor.of(Linux.C_INT, Linux.C_INT, Linux.C_PTR, Linux.C_INT));

    /**
     * Binds and listens at {@code path} with mode {@link #PRIVATE_MODE} whatever the umask.
     *
     * @see #listen(Path, int, String)
     */
    public static UnixServer listen(Path path) throws VhostNativeException {
        return listen(path, PRIVATE_MODE, null);
    }

    /**
     * Binds and listens at {@code path}; the socket file gets exactly {@code mode} (not reduced by
     * the umask) and, when {@code group} is given, that group (socket(7): connecting needs write
     * permission on the socket file). The order is bind, chmod, chown, listen, under a temporary
     * name next to {@code path} (hidden, with the PID), then rename(2) to {@code path}: no peer
     * connects while the file still has the mode bind(2) gave it, and {@code path} never names a
     * socket that refuses, so a client that finds it need not retry.
     *
     * <p>What is at {@code path} already (lstat(2), inode(7)): nothing: bind. A socket: probed with
     * a non-blocking connect; when a server accepts (or its backlog is full) the path is in use and
     * is left alone; when the connect is refused (ECONNREFUSED: a stale file of a process that died)
     * the file is unlinked and the path bound. Anything else (a regular file, directory, FIFO,
     * device, symbolic link) is refused and left intact. Between the probe and the bind another
     * server could take the path; two servers started on one path at the same instant are not
     * told apart.
     *
     * @param mode permission bits, {@code 0..0777}, the owner's read and write included
     * @param group a group name or number for the socket file, or null to keep the process's
     * @throws VhostNativeException with errno {@link #EADDRINUSE} and the message
     *     {@code socket P is in use by another server} when a server answers on {@code path};
     *     with {@link #EEXIST} naming what the path is when it is not a socket; with the errno of
     *     lstat/connect/unlink/bind/chmod/chown/listen otherwise (EACCES, ...)
     * @throws IllegalArgumentException for a bad {@code mode}, or a {@code group} that does not
     *     exist (named)
     */
    public static UnixServer listen(Path path, int mode, String group) throws VhostNativeException {
        checkMode(mode);
        GroupPrincipal gp = group == null ? null : lookupGroup(group);
        clearStale(path);
        // Bound under a temporary name and renamed into place once it listens, so the path never
        // names a socket that refuses: a client that sees it can connect at once (no retries).
        Path bound = bindName(path);
        int fd = UnixSocket.newSocket();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment sa = UnixSocket.sockaddr(a, bound);
            int r = (int) BIND.invokeExact(Linux.captureState(), fd, sa, 110);
            if (r < 0) {
                throw Linux.error("bind(" + bound + ")");
            }
            try {
                setPermissions(bound, mode, gp);
                r = (int) LISTEN.invokeExact(Linux.captureState(), fd, 16);
                if (r < 0) {
                    throw Linux.error("listen(" + bound + ")");
                }
                if (!bound.equals(path)) {
                    moveIntoPlace(bound, path);
                }
            } catch (VhostNativeException | RuntimeException e) {
                try {
                    Linux.unlink(bound.toString()); // our own socket file, never listened on at path
                } catch (VhostNativeException ignored) {
                    // the first failure is the one to report
                }
                throw e;
            }
            return new UnixServer(path, fd);
        } catch (VhostNativeException e) {
            Linux.closeQuietly(fd);
            throw e;
        } catch (Throwable t) {
            Linux.closeQuietly(fd);
            throw Linux.rethrow(t);
        }
    }

    /** @throws IllegalArgumentException unless {@code mode} is in 0..0777 and has the owner's rw */
    public static void checkMode(int mode) {
        if ((mode & ~0777) != 0 || (mode & 0600) != 0600) {
            throw new IllegalArgumentException("socket mode 0" + Integer.toOctalString(mode)
                    + " must be within 0777 and give the owner read and write (0600)");
        }
    }

    private static GroupPrincipal lookupGroup(String group) {
        try {
            return FileSystems.getDefault().getUserPrincipalLookupService().lookupPrincipalByGroupName(group);
        } catch (UserPrincipalNotFoundException e) {
            throw new IllegalArgumentException("socket group '" + group + "' does not exist");
        } catch (IOException e) {
            throw new IllegalArgumentException("socket group '" + group + "': " + e.getMessage());
        }
    }

    private static void setPermissions(Path path, int mode, GroupPrincipal group) throws VhostNativeException {
        try {
            Set<PosixFilePermission> perms = EnumSet.noneOf(PosixFilePermission.class);
            PosixFilePermission[] bits = PosixFilePermission.values(); // OWNER_READ (0400) .. OTHERS_EXECUTE (0001)
            for (int i = 0; i < 9; i++) {
                if ((mode & (0400 >> i)) != 0) {
                    perms.add(bits[i]);
                }
            }
            Files.setPosixFilePermissions(path, perms);
        } catch (IOException e) {
            throw new VhostNativeException("chmod(" + path + ", 0" + Integer.toOctalString(mode) + ")", 0, e.toString());
        }
        if (group != null) {
            try {
                Files.getFileAttributeView(path, PosixFileAttributeView.class, LinkOption.NOFOLLOW_LINKS).setGroup(group);
            } catch (IOException e) {
                throw new VhostNativeException("chown(" + path + ", group " + group.getName() + ")", 0, e.toString());
            }
        }
    }

    /**
     * @return a name next to {@code path} to bind and listen under before the rename into place,
     *     or {@code path} itself when that name would not fit in {@code sun_path} (108 bytes)
     */
    private static Path bindName(Path path) {
        Path name = path.getFileName();
        Path tmp = path.resolveSibling("." + name + ".listen-" + ProcessHandle.current().pid());
        return tmp.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8).length < 108 ? tmp : path;
    }

    /** rename(2) of the listening socket file {@code from} to {@code to} (atomic: no window without it). */
    private static void moveIntoPlace(Path from, Path to) throws VhostNativeException {
        try {
            java.nio.file.Files.move(from, to, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new VhostNativeException("rename(" + from + ", " + to + ")", 0, e.toString());
        }
    }

    /** Leaves {@code path} free to bind, or throws: see {@link #listen(Path, int, String)}. */
    private static void clearStale(Path path) throws VhostNativeException {
        FileStat st;
        try {
            st = Linux.lstat(path.toString());
        } catch (VhostNativeException e) {
            if (e.errno() == Linux.ENOENT) {
                return;
            }
            throw e;
        }
        if (st.type() != FileStat.S_IFSOCK) {
            throw new VhostNativeException("bind(" + path + ")", EEXIST,
                    path + " exists and is a " + st.typeName() + ", not a socket; it was left alone");
        }
        int errno = probe(path);
        if (errno == 0 || errno == Linux.EAGAIN) {
            throw new VhostNativeException("bind(" + path + ")", EADDRINUSE, "socket " + path + " is in use by another server");
        }
        if (errno == Linux.ENOENT) {
            return; // gone meanwhile
        }
        if (errno != Linux.ECONNREFUSED) {
            throw new VhostNativeException("connect(" + path + ")", errno, "cannot tell whether socket " + path
                    + " is in use: " + Linux.strerror(errno) + "; it was left alone");
        }
        Linux.unlink(path.toString());
    }

    /** @return 0 when a server accepted a non-blocking connect, else its errno */
    private static int probe(Path path) throws VhostNativeException {
        int fd;
        try {
            fd = (int) UnixSocket.SOCKET.invokeExact(Linux.captureState(), UnixSocket.AF_UNIX,
                    UnixSocket.SOCK_STREAM | UnixSocket.SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        } catch (Throwable t) {
            throw Linux.rethrow(t);
        }
        if (fd < 0) {
            throw Linux.error("socket(AF_UNIX)");
        }
        try (Arena a = Arena.ofConfined()) {
            int r = (int) CONNECT.invokeExact(Linux.captureState(), fd, UnixSocket.sockaddr(a, path), 110);
            return r == 0 ? 0 : Linux.lastErrno();
        } catch (Throwable t) {
            throw Linux.rethrow(t);
        } finally {
            Linux.closeQuietly(fd);
        }
    }

    /** @return the socket path */
    public Path path() {
        return path;
    }

    /** Blocks until a peer connects. @throws VhostNativeException when closed meanwhile */
    public UnixSocket accept() throws VhostNativeException {
        while (true) {
            UnixSocket s = accept(1000);
            if (s != null) {
                return s;
            }
            if (fd < 0) {
                throw new VhostNativeException("accept(" + path + ")", Linux.EBADF, "server closed");
            }
        }
    }

    /** @return the next connection, or null when none arrived within {@code timeoutMs} */
    public UnixSocket accept(int timeoutMs) throws VhostNativeException {
        int f = fd;
        if (f < 0) {
            throw new VhostNativeException("accept(" + path + ")", Linux.EBADF, "server closed");
        }
        int revents = Linux.poll(f, Linux.POLLIN, timeoutMs);
        if ((revents & Linux.POLLIN) == 0) {
            return null;
        }
        try {
            int c = (int) ACCEPT4.invokeExact(Linux.captureState(), f, MemorySegment.NULL, MemorySegment.NULL,
                    UnixSocket.SOCK_CLOEXEC);
            if (c < 0) {
                int e = Linux.lastErrno();
                if (e == Linux.EINTR || e == Linux.EAGAIN) {
                    return null;
                }
                throw Linux.error("accept4(" + path + ")");
            }
            return new UnixSocket(c, "accepted on " + path);
        } catch (VhostNativeException e) {
            throw e;
        } catch (Throwable t) {
            throw Linux.rethrow(t);
        }
    }

    /** Closes the listening socket and removes its file. Idempotent. */
    @Override
    public synchronized void close() {
        int f = fd;
        fd = -1;
        if (f >= 0) {
            Linux.closeQuietly(f);
            try {
                Files.deleteIfExists(path);
            } catch (IOException ignored) {
                // the socket file may already be gone
            }
        }
    }
}
