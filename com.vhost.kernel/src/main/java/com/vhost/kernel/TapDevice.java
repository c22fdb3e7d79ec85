package com.vhost.kernel;

import com.vhost.api.VhostNativeException;
import com.vhost.runtime.nativeio.Linux;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;

/**
 * A TAP interface opened through {@code /dev/net/tun} with {@code IFF_TAP | IFF_NO_PI |
 * IFF_VNET_HDR} (Linux {@code include/uapi/linux/if_tun.h}), its vnet header size set to the
 * 12 bytes of {@code virtio_net_hdr_v1}. Its fd is what {@code VHOST_NET_SET_BACKEND} takes.
 */
public final class TapDevice implements AutoCloseable {
    static final long TUNSETIFF = 0x400454caL;
    static final long TUNSETVNETHDRSZ = 0x400454d8L;
    static final short IFF_TAP = 0x0002;
    static final short IFF_NO_PI = 0x1000;
    static final short IFF_VNET_HDR = 0x4000;
    /** {@code sizeof(struct virtio_net_hdr_v1)} in bytes. */
    public static final int VNET_HDR_SIZE = 12;

    private final String name;
    private int fd;

    private TapDevice(String name, int fd) {
        this.name = name;
        this.fd = fd;
    }

    /**
     * Opens (creating if needed and permitted) the TAP interface {@code name}.
     *
     * @param name interface name, at most 15 bytes
     * @throws VhostNativeException naming {@code /dev/net/tun} or the TUNSETIFF ioctl and errno
     */
    public static TapDevice open(String name) throws VhostNativeException {
        byte[] n = name.getBytes(StandardCharsets.UTF_8);
        if (n.length == 0 || n.length > 15) {
            throw new IllegalArgumentException("TAP name must be 1..15 bytes: '" + name + "'");
        }
        int fd = Linux.open("/dev/net/tun", Linux.O_RDWR);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment ifr = a.allocate(40, 8);
            MemorySegment.copy(n, 0, ifr, ValueLayout.JAVA_BYTE, 0, n.length);
            ifr.set(ValueLayout.JAVA_SHORT, 16, (short) (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR));
            Linux.ioctl(fd, TUNSETIFF, ifr, "TUNSETIFF(" + name + ")");
            MemorySegment sz = a.allocate(ValueLayout.JAVA_INT);
            sz.set(ValueLayout.JAVA_INT, 0, VNET_HDR_SIZE);
            Linux.ioctl(fd, TUNSETVNETHDRSZ, sz, "TUNSETVNETHDRSZ(" + name + ")");
            return new TapDevice(name, fd);
        } catch (VhostNativeException | RuntimeException e) {
            Linux.closeQuietly(fd);
            throw e;
        }
    }

    /** @return the interface name */
    public String name() {
        return name;
    }

    /** @return the tun fd, -1 after close */
    public int fd() {
        return fd;
    }

    @Override
    public synchronized void close() {
        int f = fd;
        fd = -1;
        Linux.closeQuietly(f);
    }
}
