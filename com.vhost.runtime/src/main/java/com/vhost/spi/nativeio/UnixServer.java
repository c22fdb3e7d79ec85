package com.vhost.spi.nativeio;

import com.vhost.api.VhostNativeException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;

/** A listening AF_UNIX stream socket at a path (vhost-user back-ends, or front-ends in server mode). */
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

    /**
     * Binds and listens at {@code path}. A stale socket file left by a killed process is removed
     * first; any other existing file is an error.
     *
     * @throws VhostNativeException naming bind/listen and the errno (EADDRINUSE, EACCES, ...)
     */
    public static UnixServer listen(Path path) throws VhostNativeException {
        try {
            BasicFileAttributes attrs = Files.readAttributes(path, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
            if (!attrs.isOther()) {
                throw new VhostNativeException("bind(" + path + ")", 17, "path exists and is not a socket");
            }
            Files.deleteIfExists(path);
        } catch (java.nio.file.NoSuchFileException e) {
            // nothing stale
        } catch (IOException e) {
            throw new VhostNativeException("bind(" + path + ")", 0, "cannot remove stale socket: " + e.getMessage());
        }
        int fd = UnixSocket.newSocket();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment sa = UnixSocket.sockaddr(a, path);
            int r = (int) BIND.invokeExact(Linux.captureState(), fd, sa, 110);
            if (r < 0) {
                throw Linux.error("bind(" + path + ")");
            }
            r = (int) LISTEN.invokeExact(Linux.captureState(), fd, 16);
            if (r < 0) {
                throw Linux.error("listen(" + path + ")");
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
