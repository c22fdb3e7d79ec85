package com.vhost.spi.nativeio;

/**
 * A file descriptor with one owner: {@link #close()} closes it once; {@link #release()} hands it
 * to a new owner. Received fds are wrapped at once so that none leaks on an error path.
 */
public final class OwnedFd implements AutoCloseable {
    private int fd;

    /** @param fd an open fd, now owned by this object */
    public OwnedFd(int fd) {
        this.fd = fd;
    }

    /** @return the fd, or -1 after close or release */
    public int fd() {
        return fd;
    }

    /** @return the fd, which the caller now owns; this object no longer closes it */
    public int release() {
        int f = fd;
        fd = -1;
        return f;
    }

    /** Closes the fd once; errors are ignored (the fd is gone either way on Linux). */
    @Override
    public void close() {
        int f = release();
        Linux.closeQuietly(f);
    }

    @Override
    public String toString() {
        return "fd " + fd;
    }
}
