package com.vhost.spi.nativeio;

import com.vhost.api.VhostNativeException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * An epoll instance watching fds for readability (EPOLLIN), each registered with a 64-bit token.
 * {@link #await} allocates nothing. Not thread-safe for concurrent {@code await}.
 * {@code struct epoll_event} is packed on x86_64 ({@code u32 events; u64 data}, 12 bytes) and
 * naturally aligned elsewhere (16 bytes).
 */
public final class Epoll implements AutoCloseable {
    private static final int EPOLL_CLOEXEC = 0x80000;
    private static final int EPOLL_CTL_ADD = 1;
    private static final int EPOLL_CTL_DEL = 2;
    private static final int EPOLLIN = 1;
    /** An error condition on the fd (reported whether asked for or not). */
    public static final int EPOLLERR = 0x008;
    /** The fd hung up: a pipe's write end or a socket's peer closed (reported whether asked for or not). */
    public static final int EPOLLHUP = 0x010;
    private static final int MAX_EVENTS = 64;
    private static final boolean PACKED = "amd64".equals(System.getProperty("os.arch"))
            || "x86_64".equals(System.getProperty("os.arch"));
    private static final long EVENT_SIZE = PACKED ? 12 : 16;
    private static final long DATA_OFFSET = PACKED ? 4 : 8;
    private static final ValueLayout.OfLong DATA = ValueLayout.JAVA_LONG_UNALIGNED;

    // Each downcall is linked on its first use (a holder class per handle, still a constant to the
    // JIT): linking every one when this class initialises cost tens of milliseconds at every start
    // of `vhost serve`, most of them for calls a command never makes.
    private static final class CreateHandle {
        static final MethodHandle MH = Linux.errnoHandle("epoll_create1",
                java.lang.foreign.FunctionDescriptor.of(Linux.C_INT, Linux.C_INT));
    }

    private static final class CtlHandle {
        static final MethodHandle MH = Linux.errnoHandle("epoll_ctl",
                java.lang.foreign.FunctionDescriptor.of(Linux.C_INT, Linux.C_INT, Linux.C_INT, Linux.C_INT, Linux.C_PTR));
    }

    private static final class WaitHandle {
        static final MethodHandle MH = Linux.errnoHandle("epoll_wait",
                java.lang.foreign.FunctionDescriptor.of(Linux.C_INT, Linux.C_INT, Linux.C_PTR, Linux.C_INT, Linux.C_INT));
    }

    private static final class WaitFastHandle {
        static final MethodHandle MH = Linux.LINKER.downcallHandle(Linux.LIBC.find("epoll_wait").orElseThrow(),
                java.lang.foreign.FunctionDescriptor.of(Linux.C_INT, Linux.C_INT, Linux.C_PTR, Linux.C_INT, Linux.C_INT));
    }

    private final Arena arena = Arena.ofAuto();
    private final MemorySegment events = arena.allocate(EVENT_SIZE * MAX_EVENTS, 8);
    private final MemorySegment ctlEvent = arena.allocate(16, 8);
    private int epfd;

    private Epoll(int epfd) {
        this.epfd = epfd;
    }

    /** @return a new epoll instance */
    public static Epoll create() throws VhostNativeException {
        try {
            int fd = (int) CreateHandle.MH.invokeExact(Linux.captureState(), EPOLL_CLOEXEC);
            if (fd < 0) {
                throw Linux.error("epoll_create1");
            }
            return new Epoll(fd);
        } catch (VhostNativeException e) {
            throw e;
        } catch (Throwable t) {
            throw Linux.rethrow(t);
        }
    }

    /** Watches {@code fd} for readability; {@link #await} reports {@code token} for it. */
    public synchronized void add(int fd, long token) throws VhostNativeException {
        ctlEvent.set(ValueLayout.JAVA_INT, 0, EPOLLIN);
        ctlEvent.set(DATA, DATA_OFFSET, token);
        ctl(EPOLL_CTL_ADD, fd, "epoll_ctl(ADD, fd " + fd + ")");
    }

    /** Stops watching {@code fd}. */
    public synchronized void remove(int fd) throws VhostNativeException {
        ctl(EPOLL_CTL_DEL, fd, "epoll_ctl(DEL, fd " + fd + ")");
    }

    private void ctl(int op, int fd, String what) throws VhostNativeException {
        try {
            int r = (int) CtlHandle.MH.invokeExact(Linux.captureState(), epfd, op, fd, ctlEvent);
            if (r < 0) {
                throw Linux.error(what);
            }
        } catch (VhostNativeException e) {
            throw e;
        } catch (Throwable t) {
            throw Linux.rethrow(t);
        }
    }

    /**
     * Waits for readable fds.
     *
     * @param tokensOut receives the tokens of ready fds (up to its length, at most 64)
     * @param timeoutMs -1 blocks, 0 polls
     * @return the number of tokens written; 0 on timeout or EINTR
     */
    public int await(long[] tokensOut, int timeoutMs) throws VhostNativeException {
        int max = Math.min(tokensOut.length, MAX_EVENTS);
        try {
            // no errno capture on the hot path (it allocates); a failure is repeated with capture, timeout 0
            int n = (int) WaitFastHandle.MH.invokeExact(epfd, events, max, timeoutMs);
            if (n < 0) {
                n = (int) WaitHandle.MH.invokeExact(Linux.captureState(), epfd, events, max, 0);
            }
            if (n < 0) {
                if (Linux.lastErrno() == Linux.EINTR) {
                    return 0;
                }
                throw Linux.error("epoll_wait");
            }
            for (int i = 0; i < n; i++) {
                tokensOut[i] = events.get(DATA, i * EVENT_SIZE + DATA_OFFSET);
            }
            return n;
        } catch (VhostNativeException e) {
            throw e;
        } catch (Throwable t) {
            throw Linux.rethrow(t);
        }
    }

    /**
     * The events of the {@code i}-th fd the last {@link #await} reported: {@code EPOLLIN} (1),
     * {@link #EPOLLERR}, {@link #EPOLLHUP}. Read it on the thread that called {@code await}, before
     * the next call. Allocates nothing.
     *
     * @param i 0 to the count {@code await} returned, exclusive
     */
    public int readyEvents(int i) {
        return events.get(ValueLayout.JAVA_INT_UNALIGNED, i * EVENT_SIZE);
    }

    /** Closes the epoll fd. Idempotent. */
    @Override
    public synchronized void close() {
        int f = epfd;
        epfd = -1;
        if (f >= 0) {
            Linux.closeQuietly(f);
        }
    }
}
