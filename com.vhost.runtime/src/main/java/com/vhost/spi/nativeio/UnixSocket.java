package com.vhost.spi.nativeio;

import com.vhost.api.VhostDisconnectedException;
import com.vhost.api.VhostException;
import com.vhost.api.VhostNativeException;
import com.vhost.api.VhostProtocolException;
import com.vhost.api.VhostTimeoutException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;

/**
 * A connected AF_UNIX stream socket that passes file descriptors as SCM_RIGHTS ancillary data.
 * Send and receive each use their own preallocated {@code msghdr}, {@code iovec} and control
 * buffer, so one thread may send while another receives, and neither allocates per message.
 * Buffers must be native segments (an {@link Arena} allocation or a mapping).
 *
 * <p>Layouts (LP64 Linux): {@code struct msghdr} 56 bytes (name 0, namelen 8, iov 16, iovlen 24,
 * control 32, controllen 40, flags 48); {@code struct cmsghdr} {@code size_t len; int level;
 * int type;} then data at 16; {@code struct sockaddr_un} {@code u16 family; char path[108]}.
 */
public final class UnixSocket implements AutoCloseable {
    /** Most fds passed in one message. */
    public static final int MAX_FDS = 16;

    static final int AF_UNIX = 1;
    static final int SOCK_STREAM = 1;
    static final int SOCK_CLOEXEC = 0x80000;
    private static final int SOL_SOCKET = 1;
    private static final int SCM_RIGHTS = 1;
    private static final int SO_RCVTIMEO = 20;
    private static final int MSG_CTRUNC = 8;
    private static final int MSG_NOSIGNAL = 0x4000;
    private static final int MSG_CMSG_CLOEXEC = 0x40000000;
    private static final int SHUT_RDWR = 2;
    private static final long CMSG_HDR = 16;
    private static final long CONTROL_BYTES = CMSG_HDR + 4L * MAX_FDS;

    static final MethodHandle SOCKET = Linux.errnoHandle("socket",
            FunctionDescriptor.of(Linux.C_INT, Linux.C_INT, Linux.C_INT, Linux.C_INT));
    private static final MethodHandle CONNECT = Linux.errnoHandle("connect",
            FunctionDescriptor.of(Linux.C_INT, Linux.C_INT, Linux.C_PTR, Linux.C_INT));
    private static final MethodHandle SOCKETPAIR = Linux.errnoHandle("socketpair",
            FunctionDescriptor.of(Linux.C_INT, Linux.C_INT, Linux.C_INT, Linux.C_INT, Linux.C_PTR));
    private static final MethodHandle SENDMSG = Linux.errnoHandle("sendmsg",
            FunctionDescriptor.of(Linux.C_LONG, Linux.C_INT, Linux.C_PTR, Linux.C_INT));
    private static final MethodHandle RECVMSG = Linux.errnoHandle("recvmsg",
            FunctionDescriptor.of(Linux.C_LONG, Linux.C_INT, Linux.C_PTR, Linux.C_INT));
    private static final MethodHandle SHUTDOWN = Linux.errnoHandle("shutdown",
            FunctionDescriptor.of(Linux.C_INT, Linux.C_INT, Linux.C_INT));
    private static final MethodHandle SETSOCKOPT = Linux.errnoHandle("setsockopt",
            FunctionDescriptor.of(Linux.C_INT, Linux.C_INT, Linux.C_INT, Linux.C_INT, Linux.C_PTR, Linux.C_INT));

    private final Arena arena = Arena.ofAuto();
    private final MemorySegment sendHdr = arena.allocate(56, 8);
    private final MemorySegment sendIov = arena.allocate(16, 8);
    private final MemorySegment sendCtl = arena.allocate(CONTROL_BYTES, 8);
    private final MemorySegment recvHdr = arena.allocate(56, 8);
    private final MemorySegment recvIov = arena.allocate(16, 8);
    private final MemorySegment recvCtl = arena.allocate(CONTROL_BYTES, 8);
    private final String peer;
    private volatile int fd;

    UnixSocket(int fd, String peer) {
        this.fd = fd;
        this.peer = peer;
    }

    /** @return a {@code struct sockaddr_un} for {@code path} in {@code arena} */
    static MemorySegment sockaddr(Arena arena, Path path) {
        byte[] p = path.toString().getBytes(StandardCharsets.UTF_8);
        if (p.length > 107) {
            throw new IllegalArgumentException("socket path longer than 107 bytes: " + path);
        }
        MemorySegment sa = arena.allocate(110, 2);
        sa.set(ValueLayout.JAVA_SHORT, 0, (short) AF_UNIX);
        MemorySegment.copy(p, 0, sa, ValueLayout.JAVA_BYTE, 2, p.length);
        return sa;
    }

    static int newSocket() throws VhostNativeException {
        try {
            int fd = (int) SOCKET.invokeExact(Linux.captureState(), AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (fd < 0) {
                throw Linux.error("socket(AF_UNIX)");
            }
            return fd;
        } catch (VhostNativeException e) {
            throw e;
        } catch (Throwable t) {
            throw Linux.rethrow(t);
        }
    }

    /**
     * Connects to a listening socket, retrying while it does not exist yet or refuses
     * (ENOENT, ECONNREFUSED) until {@code timeoutMs} has passed (0: one attempt).
     *
     * @throws VhostNativeException with the last errno when the timeout runs out; at once with
     *     ENOTSOCK, naming what it is, when {@code path} exists and is not a socket
     */
    public static UnixSocket connect(Path path, long timeoutMs) throws VhostNativeException {
        long deadline = System.nanoTime() + timeoutMs * 1_000_000L;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment sa = sockaddr(a, path);
            while (true) {
                int fd = newSocket();
                int r;
                try {
                    r = (int) CONNECT.invokeExact(Linux.captureState(), fd, sa, 110);
                } catch (Throwable t) {
                    Linux.closeQuietly(fd);
                    throw Linux.rethrow(t);
                }
                if (r == 0) {
                    return new UnixSocket(fd, path.toString());
                }
                int errno = Linux.lastErrno();
                Linux.closeQuietly(fd);
                boolean retry = errno == Linux.ENOENT || errno == Linux.ECONNREFUSED || errno == Linux.EINTR;
                if (errno == Linux.ECONNREFUSED) {
                    notASocket(path); // a regular file also refuses: say what it is, at once
                }
                if (!retry || System.nanoTime() > deadline) {
                    throw new VhostNativeException("connect(" + path + ")", errno, Linux.strerror(errno)
                            + (retry && timeoutMs > 0 ? " after " + timeoutMs + " ms" : ""));
                }
                try {
                    Thread.sleep(20);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new VhostNativeException("connect(" + path + ")", Linux.EINTR, "interrupted");
                }
            }
        }
    }

    /** errno ENOTSOCK (asm-generic/errno.h): reported for a path that is not a socket. */
    private static final int ENOTSOCK = 88;

    /** @throws VhostNativeException (ENOTSOCK) naming what {@code path} is when it exists and is not a socket */
    private static void notASocket(Path path) throws VhostNativeException {
        FileStat st;
        try {
            st = Linux.lstat(path.toString());
        } catch (VhostNativeException gone) {
            return;
        }
        if (st.type() != FileStat.S_IFSOCK) {
            throw new VhostNativeException("connect(" + path + ")", ENOTSOCK, path + " is a " + st.typeName() + ", not a socket");
        }
    }

    /** @return two connected sockets (socketpair), e.g. for the vhost-user backend channel */
    public static UnixSocket[] pair() throws VhostNativeException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment fds = a.allocate(ValueLayout.JAVA_INT, 2);
            int r = (int) SOCKETPAIR.invokeExact(Linux.captureState(), AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds);
            if (r < 0) {
                throw Linux.error("socketpair(AF_UNIX)");
            }
            return new UnixSocket[] {
                new UnixSocket(fds.getAtIndex(ValueLayout.JAVA_INT, 0), "socketpair"),
                new UnixSocket(fds.getAtIndex(ValueLayout.JAVA_INT, 1), "socketpair")
            };
        } catch (VhostNativeException e) {
            throw e;
        } catch (Throwable t) {
            throw Linux.rethrow(t);
        }
    }

    private static long nativeAddress(MemorySegment buf, long offset, long length) {
        if (!buf.isNative()) {
            throw new IllegalArgumentException("socket I/O needs a native (off-heap) segment");
        }
        java.util.Objects.checkFromIndexSize(offset, length, buf.byteSize());
        return buf.address() + offset;
    }

    /** @return the socket's fd, or -1 after close */
    public int fd() {
        return fd;
    }

    /** @return the peer's path (or "socketpair"/"accepted on PATH") for messages */
    public String peer() {
        return peer;
    }

    /**
     * Sends {@code length} bytes of {@code buf} from {@code offset}, with {@code fds} as
     * SCM_RIGHTS on the first sendmsg. Blocks until all bytes are sent; EINTR is retried.
     *
     * @param fds fds to pass (not closed here), or null
     * @throws VhostNativeException on a socket error (EPIPE when the peer is gone)
     */
    public synchronized void sendMsg(MemorySegment buf, long offset, long length, int[] fds) throws VhostException {
        int nfds = fds == null ? 0 : fds.length;
        if (nfds > MAX_FDS) {
            throw new IllegalArgumentException("at most " + MAX_FDS + " fds per message, got " + nfds);
        }
        long sent = 0;
        boolean first = true;
        while (sent < length || (first && length == 0)) {
            sendIov.set(ValueLayout.JAVA_LONG, 0, nativeAddress(buf, offset + sent, length - sent));
            sendIov.set(ValueLayout.JAVA_LONG, 8, length - sent);
            sendHdr.fill((byte) 0);
            sendHdr.set(ValueLayout.JAVA_LONG, 16, sendIov.address());
            sendHdr.set(ValueLayout.JAVA_LONG, 24, 1L);
            if (first && nfds > 0) {
                long clen = CMSG_HDR + 4L * nfds;
                sendCtl.set(ValueLayout.JAVA_LONG, 0, clen);
                sendCtl.set(ValueLayout.JAVA_INT, 8, SOL_SOCKET);
                sendCtl.set(ValueLayout.JAVA_INT, 12, SCM_RIGHTS);
                for (int i = 0; i < nfds; i++) {
                    sendCtl.set(ValueLayout.JAVA_INT, CMSG_HDR + 4L * i, fds[i]);
                }
                sendHdr.set(ValueLayout.JAVA_LONG, 32, sendCtl.address());
                sendHdr.set(ValueLayout.JAVA_LONG, 40, (clen + 7) & ~7L);
            }
            long n;
            try {
                n = (long) SENDMSG.invokeExact(Linux.captureState(), fd, sendHdr, MSG_NOSIGNAL);
            } catch (Throwable t) {
                throw Linux.rethrow(t);
            }
            if (n < 0) {
                if (Linux.lastErrno() == Linux.EINTR) {
                    continue;
                }
                throw Linux.error("sendmsg(" + peer + ")");
            }
            first = false;
            sent += n;
            if (length == 0) {
                break;
            }
        }
    }

    /**
     * One recvmsg of at most {@code length} bytes into {@code buf} at {@code offset}.
     *
     * @param fdsOut receives any passed fds, already wrapped (the caller owns them)
     * @return bytes read; 0 means the peer closed the connection
     * @throws VhostTimeoutException when a receive timeout is set and ran out
     * @throws VhostProtocolException when the peer sent more fds than fit (MSG_CTRUNC); the fds
     *     that did arrive are closed
     */
    public long recvMsg(MemorySegment buf, long offset, long length, List<OwnedFd> fdsOut) throws VhostException {
        while (true) {
            recvIov.set(ValueLayout.JAVA_LONG, 0, nativeAddress(buf, offset, length));
            recvIov.set(ValueLayout.JAVA_LONG, 8, length);
            recvHdr.fill((byte) 0);
            recvHdr.set(ValueLayout.JAVA_LONG, 16, recvIov.address());
            recvHdr.set(ValueLayout.JAVA_LONG, 24, 1L);
            recvHdr.set(ValueLayout.JAVA_LONG, 32, recvCtl.address());
            recvHdr.set(ValueLayout.JAVA_LONG, 40, CONTROL_BYTES);
            long n;
            try {
                n = (long) RECVMSG.invokeExact(Linux.captureState(), fd, recvHdr, MSG_CMSG_CLOEXEC);
            } catch (Throwable t) {
                throw Linux.rethrow(t);
            }
            if (n < 0) {
                int e = Linux.lastErrno();
                if (e == Linux.EINTR) {
                    continue;
                }
                if (e == Linux.EAGAIN) {
                    throw new VhostTimeoutException("recvmsg(" + peer + "): no data within the receive timeout");
                }
                throw Linux.error("recvmsg(" + peer + ")");
            }
            int added = collectFds(fdsOut);
            int flags = recvHdr.get(ValueLayout.JAVA_INT, 48);
            if ((flags & MSG_CTRUNC) != 0) {
                for (int i = 0; i < added; i++) {
                    fdsOut.remove(fdsOut.size() - 1).close();
                }
                throw new VhostProtocolException("recvmsg(" + peer + "): more than " + MAX_FDS
                        + " fds in one message (control data truncated)");
            }
            return n;
        }
    }

    private int collectFds(List<OwnedFd> fdsOut) {
        long controllen = recvHdr.get(ValueLayout.JAVA_LONG, 40);
        long pos = 0;
        int added = 0;
        while (pos + CMSG_HDR <= controllen) {
            long clen = recvCtl.get(ValueLayout.JAVA_LONG, pos);
            int level = recvCtl.get(ValueLayout.JAVA_INT, pos + 8);
            int type = recvCtl.get(ValueLayout.JAVA_INT, pos + 12);
            if (clen < CMSG_HDR || pos + clen > controllen) {
                break;
            }
            if (level == SOL_SOCKET && type == SCM_RIGHTS) {
                int n = (int) ((clen - CMSG_HDR) / 4);
                for (int i = 0; i < n; i++) {
                    fdsOut.add(new OwnedFd(recvCtl.get(ValueLayout.JAVA_INT, pos + CMSG_HDR + 4L * i)));
                    added++;
                }
            }
            pos += (clen + 7) & ~7L;
        }
        return added;
    }

    /**
     * Receives exactly {@code length} bytes (several recvmsg calls if needed).
     *
     * @throws VhostDisconnectedException when the peer closes before {@code length} bytes came
     */
    public void recvFully(MemorySegment buf, long offset, long length, List<OwnedFd> fdsOut) throws VhostException {
        long got = 0;
        while (got < length) {
            long n = recvMsg(buf, offset + got, length - got, fdsOut);
            if (n == 0) {
                throw new VhostDisconnectedException("peer " + peer + " closed the connection after "
                        + got + " of " + length + " bytes");
            }
            got += n;
        }
    }

    /** Sets SO_RCVTIMEO: a receive waiting longer fails with {@link VhostTimeoutException}; 0 = none. */
    public void setReceiveTimeout(int ms) throws VhostNativeException {
        MemorySegment tv = Linux.scratch();
        tv.set(ValueLayout.JAVA_LONG, 0, ms / 1000L);
        tv.set(ValueLayout.JAVA_LONG, 8, (ms % 1000L) * 1000L);
        try {
            int r = (int) SETSOCKOPT.invokeExact(Linux.captureState(), fd, SOL_SOCKET, SO_RCVTIMEO, tv, 16);
            if (r < 0) {
                throw Linux.error("setsockopt(SO_RCVTIMEO)");
            }
        } catch (VhostNativeException e) {
            throw e;
        } catch (Throwable t) {
            throw Linux.rethrow(t);
        }
    }

    /** shutdown(SHUT_RDWR): wakes a thread blocked in receive (it then reads 0). Errors ignored. */
    public void shutdown() {
        int f = fd;
        if (f < 0) {
            return;
        }
        try {
            int ignored = (int) SHUTDOWN.invokeExact(Linux.captureState(), f, SHUT_RDWR);
        } catch (Throwable t) {
            // best effort
        }
    }

    /** Shuts down and closes the socket. Idempotent. */
    @Override
    public synchronized void close() {
        int f = fd;
        if (f >= 0) {
            shutdown();
            fd = -1;
            Linux.closeQuietly(f);
        }
    }

    @Override
    public String toString() {
        return "unix socket " + peer + " (fd " + fd + ")";
    }
}
