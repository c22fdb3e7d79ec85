package com.vhost.spi.tap;

import com.vhost.api.VhostNativeException;
import com.vhost.spi.nativeio.Linux;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;

/**
 * A TAP interface opened through {@code /dev/net/tun} with {@code IFF_TAP | IFF_NO_PI |
 * IFF_VNET_HDR} (Linux {@code include/uapi/linux/if_tun.h}), its vnet header size set to the
 * 12 bytes of {@code virtio_net_hdr_v1}. Each queue fd is what {@code VHOST_NET_SET_BACKEND} takes.
 *
 * <p>With more than one queue the interface is opened with {@code IFF_MULTI_QUEUE} once per queue
 * (Linux {@code Documentation/networking/tuntap.rst}, "Multiqueue tuntap interface"; QEMU
 * {@code net/tap.c} with {@code queues=N}): each fd is one queue of the same interface, and the
 * kernel spreads the frames leaving the interface over the queues by flow hash. A single-queue
 * TAP is opened without that flag, so an existing single-queue TAP (e.g. made by
 * {@code ip tuntap add}) can be attached.
 */
public final class TapDevice implements AutoCloseable {
    static final long TUNSETIFF = 0x400454caL;
    static final long TUNSETVNETHDRSZ = 0x400454d8L;
    static final short IFF_TAP = 0x0002;
    static final short IFF_MULTI_QUEUE = 0x0100;
    static final short IFF_NO_PI = 0x1000;
    static final short IFF_VNET_HDR = 0x4000;
    /** {@code sizeof(struct virtio_net_hdr_v1)} in bytes. */
    public static final int VNET_HDR_SIZE = 12;
    static final int EINVAL = 22;
    /** Linux {@code MAX_TAP_QUEUES}: the most queues a TAP interface may have. */
    public static final int MAX_QUEUES = 256;

    private final String name;
    private final int[] fds;

    private TapDevice(String name, int[] fds) {
        this.name = name;
        this.fds = fds;
    }

    /**
     * Opens (creating if needed and permitted) the single-queue TAP interface {@code name}.
     *
     * @param name interface name, at most 15 bytes
     * @throws VhostNativeException naming {@code /dev/net/tun} or the TUNSETIFF ioctl and errno
     */
    public static TapDevice open(String name) throws VhostNativeException {
        return open(name, 1);
    }

    /**
     * Opens (creating if needed and permitted) TAP interface {@code name} with {@code queues}
     * queue fds; more than one uses {@code IFF_MULTI_QUEUE}.
     *
     * @param name interface name, 1..15 bytes
     * @param queues queue fds to open, 1..{@value #MAX_QUEUES}
     * @throws IllegalArgumentException for a bad name or queue count
     * @throws VhostNativeException naming {@code /dev/net/tun} or the TUNSETIFF ioctl, the queue
     *     and errno (EINVAL for an existing interface whose multi-queue flag differs)
     */
    public static TapDevice open(String name, int queues) throws VhostNativeException {
        byte[] n = name.getBytes(StandardCharsets.UTF_8);
        if (n.length == 0 || n.length > 15) {
            throw new IllegalArgumentException("TAP name must be 1..15 bytes: '" + name + "'");
        }
        if (queues < 1 || queues > MAX_QUEUES) {
            throw new IllegalArgumentException("TAP " + name + ": " + queues + " queues outside 1.." + MAX_QUEUES);
        }
        short flags = (short) (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | (queues > 1 ? IFF_MULTI_QUEUE : 0));
        int[] fds = new int[queues];
        java.util.Arrays.fill(fds, -1);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment ifr = a.allocate(40, 8);
            MemorySegment sz = a.allocate(ValueLayout.JAVA_INT);
            for (int q = 0; q < queues; q++) {
                String what = queues > 1 ? name + " queue " + q : name;
                fds[q] = Linux.open("/dev/net/tun", Linux.O_RDWR);
                ifr.fill((byte) 0);
                MemorySegment.copy(n, 0, ifr, ValueLayout.JAVA_BYTE, 0, n.length);
                ifr.set(ValueLayout.JAVA_SHORT, 16, flags);
                try {
                    Linux.ioctl(fds[q], TUNSETIFF, ifr, "TUNSETIFF(" + what + (queues > 1 ? ", IFF_MULTI_QUEUE" : "") + ")");
                } catch (VhostNativeException e) {
                    if (e.errno() == EINVAL && q == 0) {
                        throw new VhostNativeException(e.call(), e.errno(), Linux.strerror(e.errno()) + ": " + name
                                + (queues > 1 ? " exists without multi_queue, or is not a TAP" : " exists with multi_queue, or is not a TAP")
                                + " (a TAP's queue mode is fixed when it is created)");
                    }
                    throw e;
                }
                sz.set(ValueLayout.JAVA_INT, 0, VNET_HDR_SIZE);
                Linux.ioctl(fds[q], TUNSETVNETHDRSZ, sz, "TUNSETVNETHDRSZ(" + what + ")");
            }
            return new TapDevice(name, fds);
        } catch (VhostNativeException | RuntimeException e) {
            for (int fd : fds) {
                Linux.closeQuietly(fd);
            }
            throw e;
        }
    }

    /** @return the interface name */
    public String name() {
        return name;
    }

    /** @return the number of queue fds */
    public int queues() {
        return fds.length;
    }

    /** @return the fd of queue 0, -1 after close */
    public int fd() {
        return fd(0);
    }

    /**
     * @param queue 0..{@link #queues()}-1
     * @return the tun fd of that queue, -1 after close
     */
    public synchronized int fd(int queue) {
        if (queue < 0 || queue >= fds.length) {
            throw new IndexOutOfBoundsException("TAP " + name + " queue " + queue + " outside 0.." + (fds.length - 1));
        }
        return fds[queue];
    }

    @Override
    public synchronized void close() {
        for (int q = 0; q < fds.length; q++) {
            int f = fds[q];
            fds[q] = -1;
            Linux.closeQuietly(f);
        }
    }
}
