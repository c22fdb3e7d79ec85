package com.vhost.spi.nativeio;

import com.vhost.api.VhostNativeException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A Linux eventfd used as a kick or call notifier (non-blocking, close-on-exec). {@link #signal()}
 * and {@link #drain()} allocate nothing.
 */
public final class EventFd implements AutoCloseable {
    private static final ThreadLocal<MemorySegment> READ_BUF =
            ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(8, 8));

    private final MemorySegment one;
    private volatile int fd;

    private EventFd(int fd) {
        this.fd = fd;
        this.one = Arena.ofAuto().allocate(8, 8);
        one.set(ValueLayout.JAVA_LONG, 0, 1L);
    }

    /** @return a new non-blocking eventfd with counter 0 */
    public static EventFd create() throws VhostNativeException {
        return new EventFd(Linux.eventfd(Linux.EFD_NONBLOCK | Linux.EFD_CLOEXEC));
    }

    /** Takes ownership of an existing eventfd (e.g. one received over vhost-user). */
    public static EventFd wrap(int fd) {
        if (fd < 0) {
            throw new IllegalArgumentException("not an fd: " + fd);
        }
        return new EventFd(fd);
    }

    /** @return the fd, or -1 after close */
    public int fd() {
        return fd;
    }

    /** Adds 1 to the counter: wakes a waiter. No allocation. */
    public void signal() throws VhostNativeException {
        int f = fd;
        if (f < 0) {
            throw new VhostNativeException("write(eventfd)", Linux.EBADF, "eventfd closed");
        }
        Linux.write(f, one, 8);
    }

    /** @return the counter's value, reset to 0; 0 when it was 0 */
    public long drain() throws VhostNativeException {
        MemorySegment buf = READ_BUF.get();
        long n = Linux.read(fd, buf, 8);
        return n == 8 ? buf.get(ValueLayout.JAVA_LONG, 0) : 0L;
    }

    /**
     * Waits up to {@code timeoutMs} for a signal, then drains.
     *
     * @return true when signalled
     */
    public boolean await(int timeoutMs) throws VhostNativeException {
        if (drain() != 0) {
            return true;
        }
        int revents = Linux.poll(fd, Linux.POLLIN, timeoutMs);
        return (revents & Linux.POLLIN) != 0 && drain() != 0;
    }

    /** Closes the fd. Idempotent. */
    @Override
    public synchronized void close() {
        int f = fd;
        fd = -1;
        if (f >= 0) {
            Linux.closeQuietly(f);
        }
    }

    @Override
    public String toString() {
        return "eventfd " + fd;
    }
}
