package com.vhost.spi.nativeio;

/** Test-only bridge: wraps a received socket fd in a {@link UnixSocket} (package-private constructor). */
public final class TestSockets {
    private TestSockets() {}

    /** @return a socket owning {@code fd} */
    public static UnixSocket wrap(int fd, String peer) {
        return new UnixSocket(fd, peer);
    }
}
