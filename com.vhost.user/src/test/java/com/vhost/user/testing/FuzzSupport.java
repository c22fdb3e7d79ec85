package com.vhost.user.testing;

import java.io.File;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * What the fuzz targets of issue #10 share beyond the runtime's native layer: the process's open
 * fd count (the leak oracle) and a half-close of a socket, which {@code UnixSocket} does not offer
 * (its {@code shutdown} is SHUT_RDWR): a fake peer that wrote its whole stream shuts down its
 * sending side, so the other end reads EOF after the stream instead of waiting for more.
 */
public final class FuzzSupport {
    private static final int SHUT_WR = 1;
    private static final MethodHandle SHUTDOWN = Linker.nativeLinker().downcallHandle(
            Linker.nativeLinker().defaultLookup().findOrThrow("shutdown"),
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));

    private FuzzSupport() {}

    /** @return the number of entries in {@code /proc/self/fd} (open fds of this process) */
    public static int openFds() {
        String[] fds = new File("/proc/self/fd").list();
        if (fds == null) {
            throw new IllegalStateException("/proc/self/fd cannot be listed");
        }
        return fds.length;
    }

    /**
     * @return the number of mappings of memfds in {@code /proc/self/maps} (guest memory a back-end
     *     mapped and must unmap again)
     * @throws IllegalStateException when {@code /proc/self/maps} cannot be read
     */
    public static long memfdMappings() {
        try (java.util.stream.Stream<String> lines = java.nio.file.Files.lines(java.nio.file.Path.of("/proc/self/maps"))) {
            return lines.filter(l -> l.contains("/memfd:")).count();
        } catch (java.io.IOException e) {
            throw new IllegalStateException("/proc/self/maps cannot be read", e);
        }
    }

    /**
     * {@code shutdown(fd, SHUT_WR)}: the peer reads EOF once it has read what was sent.
     *
     * @return false when the call failed (e.g. ENOTCONN: the peer is gone already)
     * @throws IllegalStateException when the native call cannot be made at all
     */
    public static boolean shutdownOutput(int fd) {
        try {
            return (int) SHUTDOWN.invokeExact(fd, SHUT_WR) == 0;
        } catch (Throwable t) {
            throw new IllegalStateException("shutdown(" + fd + ", SHUT_WR)", t);
        }
    }
}
