package com.vhost.kernel;

import com.vhost.spi.tap.TapDevice;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.vhost.api.MemoryRegion;
import com.vhost.api.VhostFeatureException;
import com.vhost.api.VhostFeatures;
import com.vhost.api.VhostNativeException;
import com.vhost.api.VhostTarget;
import com.vhost.api.VringAddr;
import com.vhost.api.registry.DeviceConfigKeys;
import com.vhost.api.virtio.GuestMemoryRegion;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.api.virtio.VirtqueueConfig;
import com.vhost.spi.memory.GuestMemoryMap;
import com.vhost.spi.nativeio.EventFd;
import com.vhost.spi.nativeio.SharedMemory;
import com.vhost.spi.testing.DriverRing;
import com.vhost.spi.testing.KGuest;
import com.vhost.spi.vhost.GenericVhostDevice;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.assertj.core.api.ThrowableAssert.ThrowingCallable;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@link VhostKernelOps}, {@link VhostNetBackend}, {@link TapDevice} and the shared
 * {@code IoctlVhostBackend} against the real Linux vhost-net and tun drivers
 * ({@code drivers/vhost/net.c}, {@code drivers/vhost/vhost.c}, {@code drivers/net/tun.c}). Runs in
 * the kernel test guest (scripts/kguest/kguest-test.sh), which provides {@code /dev/vhost-net} and
 * the TAP {@code ktap0} (up, 10.77.0.1/24, vnet_hdr); skipped where they are missing.
 */
class VhostNetKernelIT {
    static final String NODE = "/dev/vhost-net";
    static final String TAP = System.getenv().getOrDefault("KGUEST_TAP", "ktap0");
    static final long MIB = 1 << 20;
    // errno values the kernel returns (asm-generic/errno-base.h, errno.h)
    static final int EPERM = 1, E2BIG = 7, EFAULT = 14, EBUSY = 16, EINVAL = 22, ENOTTY = 25,
            EOPNOTSUPP = 95, ENOBUFS = 105;
    static final int VIRTIO_NET_F_MRG_RXBUF = 15;
    static final int VIRTIO_F_NOTIFY_ON_EMPTY = 24;
    static final int VHOST_NET_F_VIRTIO_NET_HDR = 27;
    static final int HDR = TapDevice.VNET_HDR_SIZE;

    private final VhostKernelOps ops = new VhostKernelOps();

    @BeforeEach
    void needsVhostNet() {
        KGuest.require("vhost_net module", NODE, "/dev/net/tun");
    }

    private static VhostNetBackend open() throws Exception {
        return new VhostKernelOps().open(VhostTarget.of(NODE));
    }

    private static void assertErrno(ThrowingCallable call, int errno, String... parts) {
        assertThatThrownBy(call).isInstanceOf(VhostNativeException.class)
                .satisfies(e -> assertThat(((VhostNativeException) e).errno()).as(e.getMessage()).isEqualTo(errno))
                .hasMessageContaining("errno " + errno)
                .hasMessageContaining(NODE)
                .satisfies(e -> {
                    for (String p : parts) {
                        assertThat(e.getMessage()).contains(p);
                    }
                });
    }

    @Test
    void ownerFeaturesAndBackendFeatures() throws Exception {
        assertThat(ops.unusableReason(VhostTarget.of(NODE))).isEmpty();
        try (VhostNetBackend b = open()) {
            assertThat(b.describe()).isEqualTo("kernel:" + NODE);
            // vhost_dev_check_owner: every ioctl but SET_OWNER needs an owner first
            assertErrno(() -> b.setMemTable(List.of()), EPERM, "VHOST_SET_MEM_TABLE");
            b.setOwner();
            assertErrno(b::setOwner, EBUSY, "VHOST_SET_OWNER");

            long f = b.getFeatures();
            System.out.printf("vhost-net GET_FEATURES = 0x%x%n", f);
            for (int bit : new int[] {VirtioFeatures.F_VERSION_1, VirtioFeatures.F_EVENT_IDX,
                    VirtioFeatures.F_INDIRECT_DESC, VirtioFeatures.F_ACCESS_PLATFORM, VIRTIO_NET_F_MRG_RXBUF,
                    VIRTIO_F_NOTIFY_ON_EMPTY, VHOST_NET_F_VIRTIO_NET_HDR, VhostFeatures.F_LOG_ALL}) {
                assertThat(VhostFeatures.has(f, bit)).as("feature bit %d in 0x%x", bit, f).isTrue();
            }
            b.setFeatures(VhostFeatures.bit(VirtioFeatures.F_VERSION_1) | VhostFeatures.bit(VIRTIO_NET_F_MRG_RXBUF));
            // a bit vhost-net does not offer (VHOST_NET_FEATURES): EOPNOTSUPP
            assertErrno(() -> b.setFeatures(VhostFeatures.bit(VirtioFeatures.F_VERSION_1) | VhostFeatures.bit(VirtioFeatures.F_RING_PACKED)),
                    EOPNOTSUPP, "VHOST_SET_FEATURES");

            long bf = b.getBackendFeatures();
            System.out.printf("vhost-net GET_BACKEND_FEATURES = 0x%x%n", bf);
            assertThat(bf).isEqualTo(VhostFeatures.bit(VhostFeatures.BACKEND_F_IOTLB_MSG_V2));
            b.setBackendFeatures(bf);
            assertErrno(() -> b.setBackendFeatures(VhostFeatures.bit(VhostFeatures.BACKEND_F_SUSPEND)),
                    EOPNOTSUPP, "VHOST_SET_BACKEND_FEATURES");

            assertThat(b.getMaxMemSlots()).isEqualTo(Integer.parseInt(
                    Files.readString(Path.of("/sys/module/vhost/parameters/max_mem_regions")).trim()));
            // what vhost-net does not have is absent from its type, not a syscall (nor a run-time "not supported")
            assertThat(b).isNotInstanceOf(com.vhost.api.ConfigSpaceBackend.class);
            assertThat(b).isNotInstanceOf(com.vhost.api.DeviceStatusBackend.class);
            assertThatThrownBy(() -> b.setVringEnable(0, true)).isInstanceOf(VhostFeatureException.class)
                    .hasMessageContaining("tap=NAME");
            b.resetDevice(); // VHOST_RESET_OWNER: the fd can be owned again
            b.setOwner();
        }
    }

    @Test
    void wrongNodesAreTypedErrors() throws Exception {
        assertThatThrownBy(() -> ops.open(VhostTarget.of("/dev/vhost-net-nope")))
                .isInstanceOf(VhostNativeException.class).hasMessageContaining("CONFIG_VHOST_NET")
                .satisfies(e -> assertThat(((VhostNativeException) e).errno()).isEqualTo(2));
        try (VhostNetBackend b = ops.open(VhostTarget.of("/dev/null"))) {
            assertThatThrownBy(b::setOwner).isInstanceOf(VhostNativeException.class)
                    .hasMessageContaining("VHOST_SET_OWNER").hasMessageContaining("/dev/null")
                    .hasMessageContaining("errno " + ENOTTY);
        }
        VhostNetBackend closed = open();
        closed.close();
        assertThat(closed.isConnected()).isFalse();
        assertThatThrownBy(closed::getFeatures).isInstanceOf(VhostNativeException.class).hasMessageContaining("closed");
        assertThatThrownBy(() -> ops.open(new VhostTarget(NODE, Map.of(DeviceConfigKeys.OPTION_TAP, "no-such-tap-name-way-too-long"))))
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void vringAndMemoryTableRefusalsNameTheIoctlAndErrno() throws Exception {
        try (VhostNetBackend b = open(); SharedMemory shm = SharedMemory.create("vhost-net-it", MIB)) {
            b.setOwner();
            b.setFeatures(VhostFeatures.bit(VirtioFeatures.F_VERSION_1));
            MemoryRegion region = new MemoryRegion(0, shm.size(), shm.address(), 0, shm.fd());
            b.setMemTable(List.of(region));

            // vhost_vring_set_num: 0, not a power of two, or > 0xffff -> EINVAL
            assertErrno(() -> b.setVringNum(0, 100), EINVAL, "VHOST_SET_VRING_NUM", "queue 0");
            assertErrno(() -> b.setVringNum(1, 65536), EINVAL, "VHOST_SET_VRING_NUM", "queue 1");
            assertErrno(() -> b.setVringNum(0, 0), EINVAL, "VHOST_SET_VRING_NUM");
            // vhost-net has queues 0 (rx) and 1 (tx): index 2 -> ENOBUFS
            assertErrno(() -> b.setVringNum(2, 256), ENOBUFS, "VHOST_SET_VRING_NUM", "queue 2");
            b.setVringNum(0, 256);
            // used ring not 4-byte aligned -> EINVAL
            assertErrno(() -> b.setVringAddr(new VringAddr(0, 0, shm.address(), shm.address() + 8194, shm.address() + 4096, 0)),
                    EINVAL, "VHOST_SET_VRING_ADDR", "queue 0");
            // unknown flag -> EOPNOTSUPP
            assertErrno(() -> b.setVringAddr(new VringAddr(0, 0x80, shm.address(), shm.address() + 8192, shm.address() + 4096, 0)),
                    EOPNOTSUPP, "VHOST_SET_VRING_ADDR");
            b.setVringAddr(new VringAddr(0, 0, shm.address(), shm.address() + 8192, shm.address() + 4096, 8192));
            assertErrno(() -> b.setVringBase(0, 0x10000), EINVAL, "VHOST_SET_VRING_BASE");
            b.setVringBase(0, 7);
            assertThat(b.getVringBase(0)).isEqualTo(7);
            assertErrno(() -> b.setVringKick(0, 12345), 9, "VHOST_SET_VRING_KICK"); // not an fd: EBADF
            // more regions than /sys/module/vhost/parameters/max_mem_regions -> E2BIG
            List<MemoryRegion> tooMany = new ArrayList<>();
            for (int i = 0; i <= b.getMaxMemSlots(); i++) {
                tooMany.add(new MemoryRegion(i * 4096L, 4096, shm.address(), 0, shm.fd()));
            }
            assertErrno(() -> b.setMemTable(tooMany), E2BIG, "VHOST_SET_MEM_TABLE");
            // a region whose last guest address would wrap past 2^64 (the kernel answers EFAULT) is
            // rejected when it is made, before any ioctl
            assertThatThrownBy(() -> new MemoryRegion(0xffff_ffff_ffff_f000L, 8192, shm.address(), 0, -1))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("wraps past 2^64");
            b.setMemTable(List.of(region)); // the old table survives a refused update and can be replaced
            ((VhostNetBackend) b).setBusyloopTimeout(0, 50);
        }
    }

    @Test
    void tapDevicesAreCreatedWithVnetHeadersAndRefusedByName() throws Exception {
        String name = "kgtest0";
        Path sys = Path.of("/sys/class/net/" + name);
        assertThat(sys).doesNotExist();
        try (TapDevice tap = TapDevice.open(name)) {
            assertThat(tap.name()).isEqualTo(name);
            assertThat(tap.fd()).isNotNegative();
            // drivers/net/tun.c tun_flags: IFF_TAP | IFF_NO_PI | IFF_VNET_HDR = 0x5002
            int flags = Integer.decode(Files.readString(sys.resolve("tun_flags")).trim());
            assertThat(flags & 0x5002).as("tun_flags 0x%x", flags).isEqualTo(0x5002);
        }
        long deadline = System.currentTimeMillis() + 5_000;
        while (Files.exists(sys) && System.currentTimeMillis() < deadline) {
            Thread.sleep(20);
        }
        assertThat(sys).as("a TAP this process created goes away when closed").doesNotExist();
        // a name taken by a device that is not a TAP: tun_set_iff -> EINVAL
        assertThatThrownBy(() -> TapDevice.open("lo")).isInstanceOf(VhostNativeException.class)
                .hasMessageContaining("TUNSETIFF(lo)").hasMessageContaining("errno " + EINVAL);
        // ktap0 was made single-queue by the guest's init: a multiqueue open names the mismatch
        assertThatThrownBy(() -> TapDevice.open("ktap0", 2)).isInstanceOf(VhostNativeException.class)
                .hasMessageContaining("TUNSETIFF(ktap0 queue 0, IFF_MULTI_QUEUE)").hasMessageContaining("without multi_queue")
                .hasMessageContaining("errno " + EINVAL);
        try (TapDevice mq = TapDevice.open("kmq" + ProcessHandle.current().pid() % 10000, 3)) {
            assertThat(mq.queues()).isEqualTo(3);
            assertThat(new int[] {mq.fd(0), mq.fd(1), mq.fd(2)}).doesNotHaveDuplicates().doesNotContain(-1);
            int mqFlags = Integer.decode(Files.readString(Path.of("/sys/class/net", mq.name(), "tun_flags")).trim());
            assertThat(mqFlags & 0x5102).as("IFF_TAP|IFF_NO_PI|IFF_VNET_HDR|IFF_MULTI_QUEUE in 0x%x", mqFlags).isEqualTo(0x5102);
        }
    }

    /**
     * Dirty logging (VHOST_F_LOG_ALL, VHOST_SET_LOG_BASE + VHOST_SET_LOG_FD, VringAddr.F_LOG):
     * when the kernel completes a tx buffer it sets the bit of the used ring's guest page in the
     * log bitmap (one bit per 4 KiB page) and signals the log eventfd.
     */
    @Test
    void dirtyLogMarksTheUsedRingPage() throws Exception {
        KGuest.require("TAP interface " + TAP + " created by the guest's /init", "/sys/class/net/" + TAP);
        int qsize = 64;
        long ringGpa = 0x5000; // page 5
        try (SharedMemory shm = SharedMemory.create("vhost-net-log-it", MIB);
                SharedMemory log = SharedMemory.create("vhost-net-log", 4096);
                VhostNetBackend b = ops.open(new VhostTarget(NODE, Map.of(DeviceConfigKeys.OPTION_TAP, TAP)));
                EventFd kick = EventFd.create(); EventFd call = EventFd.create(); EventFd logged = EventFd.create()) {
            MemorySegment mem = shm.segment();
            DriverRing tx = new DriverRing(mem, ringGpa, qsize, 0);
            b.setOwner();
            b.setFeatures(VhostFeatures.bit(VirtioFeatures.F_VERSION_1) | VhostFeatures.bit(VhostFeatures.F_LOG_ALL));
            b.setMemTable(List.of(new MemoryRegion(0, shm.size(), shm.address(), 0, shm.fd())));
            b.setLogBase(logged.fd(), log.size(), log.address());
            b.setVringNum(1, qsize);
            b.setVringBase(1, 0);
            b.setVringAddr(new VringAddr(1, VringAddr.F_LOG, shm.address() + tx.descOffset(), shm.address() + tx.usedOffset(),
                    shm.address() + tx.availOffset(), tx.usedOffset()));
            b.setVringKick(1, kick.fd());
            b.setVringCall(1, call.fd());
            b.setVringEnable(1, true);
            long at = 0x30000;
            mem.asSlice(at, HDR + 60).fill((byte) 0);
            mem.asSlice(at + HDR, 6).fill((byte) -1); // broadcast
            tx.add(new long[] {at}, new int[] {HDR + 60}, new boolean[] {false});
            log.segment().fill((byte) 0);
            kick.signal();
            assertThat(tx.awaitUsed(1, 10_000)).isTrue();
            assertThat(logged.await(5_000)).as("log eventfd (VHOST_SET_LOG_FD) signalled").isTrue();
            long usedPage = tx.usedOffset() / 4096;
            byte bits = log.segment().get(ValueLayout.JAVA_BYTE, usedPage / 8);
            assertThat(bits & (1 << (usedPage % 8))).as("dirty bit of used-ring page %d (log byte 0x%02x)", usedPage, bits).isNotZero();
            // the tx buffer page (device-read only) is not dirty
            long bufPage = at / 4096;
            assertThat(log.segment().get(ValueLayout.JAVA_BYTE, bufPage / 8) & (1 << (bufPage % 8))).isZero();
            b.setVringEnable(1, false);
        }
    }

    /**
     * The data path through the real driver: the test is the driver of queues 0 (rx) and 1 (tx);
     * a frame put on tx appears as received on the TAP ({@code rx_packets}); an ARP request the
     * guest kernel sends out of the TAP appears in an rx buffer.
     */
    @Test
    void framesFlowBetweenTheRingsAndTheTap() throws Exception {
        KGuest.require("TAP interface " + TAP + " created by the guest's /init", "/sys/class/net/" + TAP);
        Path rxPackets = Path.of("/sys/class/net/" + TAP + "/statistics/rx_packets");
        int qsize = 64;
        try (SharedMemory shm = SharedMemory.create("vhost-net-it", MIB);
                VhostNetBackend b = ops.open(new VhostTarget(NODE, Map.of(DeviceConfigKeys.OPTION_TAP, TAP)));
                EventFd kick0 = EventFd.create(); EventFd kick1 = EventFd.create();
                EventFd call0 = EventFd.create(); EventFd call1 = EventFd.create()) {
            assertThat(b.describe()).contains("tap " + TAP);
            MemorySegment mem = shm.segment();
            DriverRing rx = new DriverRing(mem, 0x0000, qsize, 0);
            DriverRing tx = new DriverRing(mem, 0x4000, qsize, 0);
            b.setOwner();
            // VERSION_1: 12-byte virtio_net_hdr_v1, consumed/produced by the TAP (IFF_VNET_HDR)
            b.setFeatures(VhostFeatures.bit(VirtioFeatures.F_VERSION_1));
            b.setMemTable(List.of(new MemoryRegion(0, shm.size(), shm.address(), 0, shm.fd())));
            DriverRing[] rings = {rx, tx};
            EventFd[] kicks = {kick0, kick1};
            EventFd[] calls = {call0, call1};
            for (int q = 0; q < 2; q++) {
                DriverRing r = rings[q];
                b.setVringNum(q, qsize);
                b.setVringBase(q, 0);
                b.setVringAddr(new VringAddr(q, 0, shm.address() + r.descOffset(), shm.address() + r.usedOffset(),
                        shm.address() + r.availOffset(), r.usedOffset()));
                b.setVringKick(q, kicks[q].fd());
                b.setVringCall(q, calls[q].fd());
            }
            int rxBufs = 8;
            for (int i = 0; i < rxBufs; i++) {
                rx.add(new long[] {0x10000 + 2048L * i}, new int[] {2048}, new boolean[] {true});
            }
            b.setVringEnable(0, true); // VHOST_NET_SET_BACKEND(0, tap fd)
            b.setVringEnable(1, true);
            // the backend is attached: the ring can no longer be resized
            assertErrno(() -> b.setVringNum(1, 128), EBUSY, "VHOST_SET_VRING_NUM");
            kick0.signal();

            // tx: virtio_net_hdr_v1 (zero: no offload) + a 60-byte broadcast frame
            long before = Long.parseLong(Files.readString(rxPackets).trim());
            long at = 0x30000;
            mem.asSlice(at, HDR + 60).fill((byte) 0);
            byte[] eth = {-1, -1, -1, -1, -1, -1, 0x52, 0x54, 0, 0x12, 0x34, 0x77, (byte) 0x88, (byte) 0xb5};
            MemorySegment.copy(eth, 0, mem, ValueLayout.JAVA_BYTE, at + HDR, eth.length);
            byte[] payload = "kguest vhost-net tx".getBytes(StandardCharsets.US_ASCII);
            MemorySegment.copy(payload, 0, mem, ValueLayout.JAVA_BYTE, at + HDR + eth.length, payload.length);
            int head = tx.add(new long[] {at}, new int[] {HDR + 60}, new boolean[] {false});
            kick1.signal();
            assertThat(call1.await(10_000)).as("call eventfd of tx signalled").isTrue();
            assertThat(tx.awaitUsed(1, 5_000)).as("tx used idx 1").isTrue();
            assertThat(tx.used(0)[0]).isEqualTo(head);
            long deadline = System.currentTimeMillis() + 5_000;
            long after = before;
            while (after == before && System.currentTimeMillis() < deadline) {
                Thread.sleep(20);
                after = Long.parseLong(Files.readString(rxPackets).trim());
            }
            assertThat(after).as("%s rx_packets after the tx frame", TAP).isEqualTo(before + 1);

            // rx: the kernel resolves 10.77.0.2 on the TAP's subnet -> ARP request out of the TAP
            try (DatagramSocket s = new DatagramSocket()) {
                byte[] d = "kguest".getBytes(StandardCharsets.US_ASCII);
                s.send(new DatagramPacket(d, d.length, InetAddress.getByName("10.77.0.2"), 9));
            }
            assertThat(call0.await(10_000)).as("call eventfd of rx signalled").isTrue();
            assertThat(rx.awaitUsed(1, 5_000)).isTrue();
            boolean sawArp = false;
            deadline = System.currentTimeMillis() + 5_000;
            for (int i = 0; !sawArp && System.currentTimeMillis() < deadline; ) {
                if (i >= rx.usedIdx()) {
                    Thread.sleep(20);
                    continue;
                }
                int[] e = rx.used(i++);
                assertThat(e[0]).isBetween(0, rxBufs - 1);
                assertThat(e[1]).as("used len").isBetween(HDR + 14, 2048);
                long buf = 0x10000 + 2048L * e[0];
                int etherType = Short.toUnsignedInt(mem.get(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(java.nio.ByteOrder.BIG_ENDIAN), buf + HDR + 12));
                System.out.printf("rx buffer %d: %d bytes, ethertype 0x%04x%n", e[0], e[1], etherType);
                if (etherType == 0x0806) {
                    byte[] target = mem.asSlice(buf + HDR + 14 + 24, 4).toArray(ValueLayout.JAVA_BYTE);
                    assertThat(target).containsExactly(10, 77, 0, 2);
                    assertThat(e[1]).isEqualTo(HDR + 42);
                    sawArp = true;
                }
            }
            assertThat(sawArp).as("an ARP request for 10.77.0.2 in the rx ring").isTrue();

            // detach (VHOST_NET_SET_BACKEND fd -1) and read where the rings stopped
            b.setVringEnable(1, false);
            b.setVringEnable(0, false);
            assertThat(b.getVringBase(1)).isEqualTo(1);
            assertThat(b.getVringBase(0)).isEqualTo(rx.usedIdx()); // one avail entry per rx buffer
        }
    }

    /**
     * The project's generic vhost device over {@link VhostNetBackend}. {@code start} programs the
     * rings but, for a kernel backend, does not attach the TAP: as in QEMU's
     * {@code vhost_net_start_one}, the net device model attaches it afterwards
     * ({@code VHOST_NET_SET_BACKEND}, here {@code GenericVhostDevice.setVringEnable}) and detaches it
     * before {@code stop}. Until then a kicked tx frame stays unused.
     */
    @Test
    void genericVhostDeviceAttachesTheTapAtStartAndTxReachesIt() throws Exception {
        KGuest.require("TAP interface " + TAP + " created by the guest's /init", "/sys/class/net/" + TAP);
        Path rxPackets = Path.of("/sys/class/net/" + TAP + "/statistics/rx_packets");
        int qsize = 64;
        try (SharedMemory shm = SharedMemory.create("vhost-net-generic-it", MIB);
                EventFd kick0 = EventFd.create(); EventFd kick1 = EventFd.create();
                EventFd call0 = EventFd.create(); EventFd call1 = EventFd.create()) {
            VhostNetBackend b = ops.open(new VhostTarget(NODE, Map.of(DeviceConfigKeys.OPTION_TAP, TAP)));
            GenericVhostDevice dev;
            try {
                dev = new GenericVhostDevice(b, 2);
            } catch (Exception e) {
                b.close();
                throw e;
            }
            try (dev) {
                MemorySegment mem = shm.segment();
                long gpa = 0x1_0000_0000L; // guest-physical base: the kernel translates through the memory table
                DriverRing rx = new DriverRing(mem, 0x0000, qsize, gpa);
                DriverRing tx = new DriverRing(mem, 0x4000, qsize, gpa);
                assertThat(dev.ackFeatures(VhostFeatures.bit(VirtioFeatures.F_VERSION_1) | VhostFeatures.bit(VirtioFeatures.F_RING_PACKED)))
                        .isEqualTo(VhostFeatures.bit(VirtioFeatures.F_VERSION_1));
                GuestMemoryMap memory = GuestMemoryMap.of(List.of(new GuestMemoryRegion(gpa, shm.size(), shm.address(), shm.fd(), 0, mem)));
                dev.start(memory, List.of(
                        new VirtqueueConfig(0, qsize, rx.dev(rx.descOffset()), rx.dev(rx.availOffset()), rx.dev(rx.usedOffset()), 0,
                                kick0.fd(), call0.fd(), true),
                        new VirtqueueConfig(1, qsize, tx.dev(tx.descOffset()), tx.dev(tx.availOffset()), tx.dev(tx.usedOffset()), 0,
                                kick1.fd(), call1.fd(), true)));
                long before = Long.parseLong(Files.readString(rxPackets).trim());
                long at = 0x30000;
                mem.asSlice(at, HDR + 60).fill((byte) 0);
                mem.asSlice(at + HDR, 6).fill((byte) -1);
                // start attached both rings to the TAP (VHOST_NET_SET_BACKEND), as QEMU's vhost_net_start_one does
                tx.add(new long[] {at}, new int[] {HDR + 60}, new boolean[] {false});
                kick1.signal();
                assertThat(tx.awaitUsed(1, 10_000)).as("tx frame used: the TAP was attached by start").isTrue();
                long deadline = System.currentTimeMillis() + 5_000;
                long after = before;
                while (after == before && System.currentTimeMillis() < deadline) {
                    Thread.sleep(20);
                    after = Long.parseLong(Files.readString(rxPackets).trim());
                }
                assertThat(after).isEqualTo(before + 1);
                dev.setVringEnable(1, false);
                assertThat(dev.stop()).containsExactly(0, 1);
            }
        }
    }
}
