package com.vhost.devices.net.driver;

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
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * A network namespace the test creates for a TAP, and the "wire" side of that TAP: an
 * {@code AF_PACKET} socket bound to the interface. Frames sent on the socket leave the interface
 * and so reach the TAP's queue fds (vhost-net's receive rings); frames vhost-net transmits into the
 * TAP enter the interface and are read from the socket.
 *
 * <p>A namespace belongs to a thread in Linux ({@code unshare(CLONE_NEWNET)} changes only the
 * calling task), so one dedicated thread unshares and every namespace-scoped call (opening the
 * TAP through {@code /dev/net/tun}, {@code if_nametoindex}, creating sockets) runs on it through
 * {@link #call}. The fds it creates work from any thread. Closing the sockets, the TAP's fds and
 * this thread frees the namespace. Needs CAP_SYS_ADMIN and CAP_NET_ADMIN (root in the guest).
 */
final class TapNamespace implements AutoCloseable {
    private static final Linker LINKER = Linker.nativeLinker();
    private static final StructLayout CAPTURE_LAYOUT = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CAPTURE_LAYOUT.varHandle(MemoryLayout.PathElement.groupElement("errno"));
    private static final Linker.Option CAPTURE = Linker.Option.captureCallState("errno");
    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT;
    private static final MethodHandle UNSHARE = handle("unshare", FunctionDescriptor.of(INT, INT));
    private static final MethodHandle SOCKET = handle("socket", FunctionDescriptor.of(INT, INT, INT, INT));
    private static final MethodHandle BIND = handle("bind", FunctionDescriptor.of(INT, INT, ValueLayout.ADDRESS, INT));
    private static final MethodHandle IF_NAMETOINDEX = handle("if_nametoindex", FunctionDescriptor.of(INT, ValueLayout.ADDRESS));
    private static final MethodHandle RECVFROM = handle("recvfrom", FunctionDescriptor.of(ValueLayout.JAVA_LONG, INT,
            ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, INT, ValueLayout.ADDRESS, ValueLayout.ADDRESS));

    static final int CLONE_NEWNET = 0x40000000;
    static final int AF_PACKET = 17;
    static final int AF_INET = 2;
    static final int SOCK_RAW = 3;
    static final int SOCK_DGRAM = 2;
    static final int SOCK_CLOEXEC = 0x80000;
    static final short ETH_P_ALL_BE = 0x0300; // htons(ETH_P_ALL = 3)
    static final long SIOCGIFFLAGS = 0x8913;
    static final long SIOCSIFFLAGS = 0x8914;
    static final short IFF_UP = 1;
    /** {@code sll_pkttype} of a frame the host itself sent out of the interface. */
    static final int PACKET_OUTGOING = 4;
    static final int MSG_DONTWAIT = 0x40;

    private static MethodHandle handle(String name, FunctionDescriptor fd) {
        return LINKER.downcallHandle(LINKER.defaultLookup().find(name).orElseThrow(), fd, CAPTURE);
    }

    private final ExecutorService thread = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "netns");
        t.setDaemon(true);
        return t;
    });
    private final List<PacketSocket> sockets = new ArrayList<>();

    private TapNamespace() {}

    /** Starts the namespace thread and moves it into a new network namespace. */
    static TapNamespace create() throws Exception {
        TapNamespace ns = new TapNamespace();
        try {
            ns.call(() -> {
                try (Arena a = Arena.ofConfined()) {
                    MemorySegment cs = a.allocate(CAPTURE_LAYOUT);
                    int r = (int) UNSHARE.invokeExact(cs, CLONE_NEWNET);
                    if (r != 0) {
                        throw error("unshare(CLONE_NEWNET)", cs);
                    }
                }
                return null;
            });
        } catch (Exception e) {
            ns.close();
            throw e;
        }
        return ns;
    }

    private static VhostNativeException error(String call, MemorySegment cs) {
        int errno = (int) ERRNO.get(cs, 0L);
        return new VhostNativeException(call, errno, Linux.strerror(errno));
    }

    /** A call on the namespace thread; may throw anything a downcall throws. */
    @FunctionalInterface
    interface NsCall<T> {
        T run() throws Throwable;
    }

    /** Runs {@code c} on the namespace's thread and returns its result (its exception unwrapped). */
    <T> T call(NsCall<T> c) throws Exception {
        Callable<T> task = () -> {
            try {
                return c.run();
            } catch (Exception | Error e) {
                throw e;
            } catch (Throwable t) {
                throw new IllegalStateException(t);
            }
        };
        try {
            return thread.submit(task).get(60, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof Exception x) {
                throw x;
            }
            throw e;
        }
    }

    /** Sets IFF_UP on interface {@code name} of this namespace. */
    void up(String name) throws Exception {
        call(() -> {
            try (Arena a = Arena.ofConfined()) {
                MemorySegment cs = a.allocate(CAPTURE_LAYOUT);
                int s = (int) SOCKET.invokeExact(cs, AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
                if (s < 0) {
                    throw error("socket(AF_INET)", cs);
                }
                try {
                    MemorySegment ifr = a.allocate(40, 8);
                    byte[] n = name.getBytes(StandardCharsets.UTF_8);
                    MemorySegment.copy(n, 0, ifr, ValueLayout.JAVA_BYTE, 0, n.length);
                    Linux.ioctl(s, SIOCGIFFLAGS, ifr, "SIOCGIFFLAGS(" + name + ")");
                    ifr.set(ValueLayout.JAVA_SHORT, 16, (short) (ifr.get(ValueLayout.JAVA_SHORT, 16) | IFF_UP));
                    Linux.ioctl(s, SIOCSIFFLAGS, ifr, "SIOCSIFFLAGS(" + name + ", IFF_UP)");
                } finally {
                    Linux.closeQuietly(s);
                }
            }
            return null;
        });
    }

    /** Opens an AF_PACKET raw socket (all protocols) bound to interface {@code name} of this namespace. */
    PacketSocket packetSocket(String name) throws Exception {
        PacketSocket p = call(() -> {
            try (Arena a = Arena.ofConfined()) {
                MemorySegment cs = a.allocate(CAPTURE_LAYOUT);
                int index = (int) IF_NAMETOINDEX.invokeExact(cs, a.allocateFrom(name));
                if (index == 0) {
                    throw error("if_nametoindex(" + name + ")", cs);
                }
                int s = (int) SOCKET.invokeExact(cs, AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, (int) ETH_P_ALL_BE);
                if (s < 0) {
                    throw error("socket(AF_PACKET)", cs);
                }
                MemorySegment sll = a.allocate(20, 4);
                sll.set(ValueLayout.JAVA_SHORT, 0, (short) AF_PACKET);
                sll.set(ValueLayout.JAVA_SHORT, 2, ETH_P_ALL_BE);
                sll.set(INT, 4, index);
                int r = (int) BIND.invokeExact(cs, s, sll, 20);
                if (r != 0) {
                    VhostNativeException e = error("bind(AF_PACKET, " + name + ")", cs);
                    Linux.closeQuietly(s);
                    throw e;
                }
                return new PacketSocket(s, name);
            }
        });
        synchronized (sockets) {
            sockets.add(p);
        }
        return p;
    }

    @Override
    public void close() {
        synchronized (sockets) {
            for (PacketSocket s : sockets) {
                s.close();
            }
            sockets.clear();
        }
        thread.shutdownNow();
        try {
            thread.awaitTermination(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** The wire side of one interface: sends frames out of it, reads the frames that enter it. */
    static final class PacketSocket implements AutoCloseable {
        private final String name;
        private final Arena arena = Arena.ofShared();
        private final MemorySegment buf = arena.allocate(65536, 8);
        private final MemorySegment sll = arena.allocate(20, 4);
        private final MemorySegment sllLen = arena.allocate(INT);
        private final MemorySegment cs = arena.allocate(CAPTURE_LAYOUT);
        private volatile int fd;

        PacketSocket(int fd, String name) {
            this.fd = fd;
            this.name = name;
        }

        /** Sends one whole Ethernet frame out of the interface. */
        synchronized void send(byte[] frame) throws VhostNativeException {
            MemorySegment.copy(frame, 0, buf, ValueLayout.JAVA_BYTE, 0, frame.length);
            long n = Linux.write(fd, buf, frame.length);
            if (n != frame.length) {
                throw new VhostNativeException("write(AF_PACKET " + name + ")", Linux.EAGAIN, "short write " + n + " of " + frame.length);
            }
        }

        /**
         * @return the next frame that entered the interface (frames the host itself sent out are
         *     skipped), or null when none came within {@code timeoutMs}
         */
        synchronized byte[] receive(long timeoutMs) throws Exception {
            long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
            while (true) {
                sllLen.set(INT, 0, 20);
                long n;
                try {
                    n = (long) RECVFROM.invokeExact(cs, fd, buf, buf.byteSize(), MSG_DONTWAIT, sll, sllLen);
                } catch (Throwable t) {
                    throw new IllegalStateException("recvfrom downcall", t);
                }
                if (n >= 0) {
                    if (Byte.toUnsignedInt(sll.get(ValueLayout.JAVA_BYTE, 10)) == PACKET_OUTGOING) {
                        continue;
                    }
                    return buf.asSlice(0, n).toArray(ValueLayout.JAVA_BYTE);
                }
                int errno = (int) ERRNO.get(cs, 0L);
                if (errno != Linux.EAGAIN && errno != Linux.EINTR) {
                    throw new VhostNativeException("recvfrom(AF_PACKET " + name + ")", errno, Linux.strerror(errno));
                }
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    return null;
                }
                Linux.poll(fd, Linux.POLLIN, (int) Math.max(1, TimeUnit.NANOSECONDS.toMillis(left)));
            }
        }

        @Override
        public synchronized void close() {
            int f = fd;
            if (f < 0) {
                return;
            }
            fd = -1;
            Linux.closeQuietly(f);
            arena.close();
        }
    }
}
