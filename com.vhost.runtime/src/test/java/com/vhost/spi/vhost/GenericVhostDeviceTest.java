package com.vhost.spi.vhost;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.vhost.api.VhostBackendType;
import com.vhost.api.VhostFeatureException;
import com.vhost.api.VhostRefusedException;
import com.vhost.api.user.VhostUserProtocolFeature;
import com.vhost.api.VirtqueueException;
import com.vhost.api.virtio.GuestMemory;
import com.vhost.api.virtio.GuestMemoryRegion;
import com.vhost.api.virtio.VirtqueueConfig;
import com.vhost.spi.nativeio.EventFd;
import com.vhost.spi.nativeio.Linux;
import com.vhost.spi.testing.RecordingBackend;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class GenericVhostDeviceTest {
    static final long VERSION_1 = 1L << 32;
    static final long PROTO = 1L << 30;
    static final long EVENT_IDX = 1L << 29;
    static final long GPA = 0x100000;

    private final Arena arena = Arena.ofConfined();
    private final MemorySegment seg = arena.allocate(0x10000, 4096);

    @AfterEach
    void closeArena() {
        arena.close();
    }

    /** One region at GPA, user address = the segment's address. */
    final GuestMemory memory = new GuestMemory() {
        @Override public List<GuestMemoryRegion> regions() {
            return List.of(new GuestMemoryRegion(GPA, seg.byteSize(), seg.address(), 99, 0, seg));
        }
        @Override public boolean contains(long gpa, long length) {
            return gpa >= GPA && gpa + length <= GPA + seg.byteSize();
        }
        @Override public MemorySegment slice(long gpa, long length) {
            return seg.asSlice(gpa - GPA, length);
        }
        @Override public long guestAddrOfUser(long userAddr) {
            return userAddr - seg.address() + GPA;
        }
        @Override public long userAddrOfGuest(long gpa) {
            if (!contains(gpa, 1)) {
                throw new IndexOutOfBoundsException("gpa 0x" + Long.toHexString(gpa) + " outside memory");
            }
            return gpa - GPA + seg.address();
        }
    };

    private static VirtqueueConfig q(int index, int nextAvail, int callFd) {
        long base = GPA + index * 0x2000L;
        return new VirtqueueConfig(index, 128, base, base + 2048, base + 4096, nextAvail, 10 + index, callFd, true);
    }

    @Test
    void vhostUserInitNegotiatesProtocolFeaturesAndQueueNum() throws Exception {
        long offeredProto = 0x8f2b; // qemu-storage-daemon's set
        RecordingBackend b = RecordingBackend.of(VhostBackendType.USER, VERSION_1 | PROTO | EVENT_IDX | 0x46, offeredProto);
        try (GenericVhostDevice d = new GenericVhostDevice(b, 2)) {
            long expected = offeredProto & GenericVhostDevice.WANTED_PROTOCOL_FEATURES;
            assertThat(expected).isEqualTo(VhostUserProtocolFeature.MQ.mask() | VhostUserProtocolFeature.REPLY_ACK.mask()
                    | VhostUserProtocolFeature.CONFIG.mask() | VhostUserProtocolFeature.CONFIGURE_MEM_SLOTS.mask()
                    | VhostUserProtocolFeature.LOG_SHMFD.mask()); // LOG_SHMFD for DirtyLogging, as QEMU always takes it
            assertThat(d.protocolFeatures()).isEqualTo(expected);
            assertThat(b.log).containsExactly("SET_OWNER", "GET_FEATURES", "GET_PROTOCOL_FEATURES",
                    "SET_PROTOCOL_FEATURES 0x" + Long.toHexString(expected), "GET_QUEUE_NUM");
            assertThat(d.backendQueueNum()).isEqualTo(8);
        }
        assertThat(b.log).endsWith("CLOSE");
    }

    @Test
    void tooFewBackendQueuesOrNoMqIsAFeatureError() {
        RecordingBackend b = RecordingBackend.of(VhostBackendType.USER, VERSION_1 | PROTO, VhostUserProtocolFeature.MQ.mask());
        b.queueNum = 1;
        assertThatThrownBy(() -> new GenericVhostDevice(b, 2)).isInstanceOf(VhostFeatureException.class)
                .hasMessageContaining("GET_QUEUE_NUM").hasMessageContaining("1 queues, 2 wanted");
        RecordingBackend noMq = RecordingBackend.of(VhostBackendType.USER, VERSION_1 | PROTO, 0);
        assertThatThrownBy(() -> new GenericVhostDevice(noMq, 2)).isInstanceOf(VhostFeatureException.class)
                .hasMessageContaining("MQ");
    }

    @Test
    void kernelBackendSkipsProtocolFeatures() throws Exception {
        RecordingBackend b = RecordingBackend.of(VhostBackendType.KERNEL, VERSION_1 | PROTO, 0);
        try (GenericVhostDevice d = new GenericVhostDevice(b, 1)) {
            assertThat(b.log).containsExactly("SET_OWNER", "GET_FEATURES");
            assertThat(d.usesProtocolFeatures()).isFalse();
        }
    }

    @Test
    void ackFeaturesIntersectsAndRequiresVersion1() throws Exception {
        RecordingBackend b = RecordingBackend.of(VhostBackendType.USER, VERSION_1 | PROTO | 0x6, 0);
        try (GenericVhostDevice d = new GenericVhostDevice(b, 1)) {
            assertThat(d.ackFeatures(VERSION_1 | 0x3 | EVENT_IDX)).isEqualTo(VERSION_1 | 0x2);
            assertThat(d.ackedFeatures()).isEqualTo(VERSION_1 | 0x2);
            assertThatThrownBy(() -> d.ackFeatures(0x2)).isInstanceOf(VhostFeatureException.class)
                    .hasMessageContaining("VERSION_1");
        }
        RecordingBackend old = RecordingBackend.of(VhostBackendType.USER, 0x6, 0);
        try (GenericVhostDevice d = new GenericVhostDevice(old, 1)) {
            assertThatThrownBy(() -> d.ackFeatures(VERSION_1 | 0x2)).isInstanceOf(VhostFeatureException.class)
                    .hasMessageContaining("back-end features 0x6");
        }
    }

    @Test
    void startAndStopFollowQemuOrder() throws Exception {
        RecordingBackend b = RecordingBackend.of(VhostBackendType.USER, VERSION_1 | PROTO, VhostUserProtocolFeature.MQ.mask());
        try (GenericVhostDevice d = new GenericVhostDevice(b, 2)) {
            d.ackFeatures(VERSION_1);
            b.log.clear();
            d.start(memory, List.of(q(0, 0, 20), q(1, 5, 21)));
            assertThat(d.isStarted()).isTrue();
            // vhost-user: two batches, the rings' setup (nothing runs), then kick and enable (they run)
            assertThat(b.log).containsExactly("SET_FEATURES 0x" + Long.toHexString(VERSION_1 | PROTO), "SET_MEM_TABLE 1",
                    "SET_VRING_NUM 0 128", "SET_VRING_BASE 0 0", "SET_VRING_ADDR 0", "SET_VRING_CALL 0 20",
                    "SET_VRING_NUM 1 128", "SET_VRING_BASE 1 5", "SET_VRING_ADDR 1", "SET_VRING_CALL 1 21",
                    "SET_VRING_KICK 0", "SET_VRING_KICK 1", "SET_VRING_ENABLE 0 1", "SET_VRING_ENABLE 1 1");
            assertThat(b.batches).containsExactly(8, 4);
            assertThat(b.memTable.get(0).userAddr()).isEqualTo(seg.address());
            assertThat(b.memTable.get(0).guestAddr()).isEqualTo(GPA);
            assertThat(b.memTable.get(0).fd()).isEqualTo(99);
            assertThat(b.addrs.get(1).descUserAddr()).isEqualTo(seg.address() + 0x2000);
            assertThat(b.addrs.get(1).availUserAddr()).isEqualTo(seg.address() + 0x2000 + 2048);
            assertThat(b.addrs.get(1).usedUserAddr()).isEqualTo(seg.address() + 0x2000 + 4096);
            b.log.clear();
            assertThat(d.stop()).containsExactly(7, 12);
            // switched off last started first (a net device's tx before its rx), then the bases in queue order
            assertThat(b.log).containsExactly("SET_VRING_ENABLE 1 0", "SET_VRING_ENABLE 0 0", "GET_VRING_BASE 0", "GET_VRING_BASE 1");
            assertThat(b.batches).containsExactly(8, 4, 4);
            assertThat(d.isStarted()).isFalse();
        }
    }

    @Test
    void prepareSendsFeaturesAndMemoryAheadAndStartThenSendsOnlyTheRings() throws Exception {
        RecordingBackend b = RecordingBackend.of(VhostBackendType.USER, VERSION_1 | PROTO, VhostUserProtocolFeature.MQ.mask());
        try (GenericVhostDevice d = new GenericVhostDevice(b, 2)) {
            d.ackFeatures(VERSION_1);
            b.log.clear();
            d.prepare(memory);
            assertThat(b.log).containsExactly("SET_FEATURES 0x" + Long.toHexString(VERSION_1 | PROTO), "SET_MEM_TABLE 1");
            b.log.clear();
            d.start(memory, List.of(q(0, 3, 20)));
            assertThat(b.log).containsExactly("SET_VRING_NUM 0 128", "SET_VRING_BASE 0 3", "SET_VRING_ADDR 0", "SET_VRING_CALL 0 20",
                    "SET_VRING_KICK 0", "SET_VRING_ENABLE 0 1");
            assertThatThrownBy(() -> d.prepare(memory)).isInstanceOf(com.vhost.api.VirtioDeviceException.class).hasMessageContaining("started");
            d.stop();
            b.log.clear();
            // a start without a fresh prepare (or after features changed) sends everything again
            d.start(memory, List.of(q(0, 7, 20)));
            assertThat(b.log).startsWith("SET_FEATURES 0x" + Long.toHexString(VERSION_1 | PROTO), "SET_MEM_TABLE 1");
        }
    }

    @Test
    void aBackendOfAnotherDeviceTypeIsRefusedByName() throws Exception {
        RecordingBackend b = RecordingBackend.of(VhostBackendType.VDPA, VERSION_1, 0);
        b.deviceId = 1;
        GenericVhostDevice.requireDeviceType(b, com.vhost.api.virtio.VirtioDeviceType.NET);
        assertThatThrownBy(() -> GenericVhostDevice.requireDeviceType(b, com.vhost.api.virtio.VirtioDeviceType.BLOCK))
                .isInstanceOf(VhostFeatureException.class)
                .hasMessage("recording:vdpa is a virtio-net device (VirtIO device ID 1), not virtio-blk (ID 2)");
        b.deviceId = 0; // vhost-user cannot tell: accepted
        GenericVhostDevice.requireDeviceType(b, com.vhost.api.virtio.VirtioDeviceType.BLOCK);
        b.deviceId = 9;
        assertThatThrownBy(() -> GenericVhostDevice.requireDeviceType(b, com.vhost.api.virtio.VirtioDeviceType.NET))
                .hasMessage("recording:vdpa is a device of another type (VirtIO device ID 9), not virtio-net (ID 1)");
    }

    @Test
    void vdpaFollowsTheStatusSequenceAndUsesIovaRingAddresses() throws Exception {
        RecordingBackend b = RecordingBackend.of(VhostBackendType.VDPA, VERSION_1 | EVENT_IDX, 0x1f6);
        try (GenericVhostDevice d = new GenericVhostDevice(b, 1)) {
            assertThat(d.protocolFeatures()).isEqualTo(0x36); // IOTLB_MSG_V2 | IOTLB_BATCH | SUSPEND | RESUME of 0x1f6
            assertThat(b.log).containsExactly("SET_OWNER", "GET_FEATURES", "GET_BACKEND_FEATURES", "SET_BACKEND_FEATURES 0x36", "SET_STATUS 3");
            d.ackFeatures(VERSION_1);
            b.log.clear();
            d.start(memory, List.of(q(0, 0, 20)));
            assertThat(b.log).containsExactly("SET_FEATURES 0x" + Long.toHexString(VERSION_1), "SET_STATUS 11", "GET_STATUS",
                    "SET_MEM_TABLE 1", "SET_VRING_NUM 0 128", "SET_VRING_BASE 0 0", "SET_VRING_ADDR 0", "SET_VRING_KICK 0",
                    "SET_VRING_CALL 0 20", "SET_VRING_ENABLE 0 1", "SET_STATUS 15");
            assertThat(b.addrs.get(0).descUserAddr()).as("IOVA = guest-physical").isEqualTo(GPA);
            assertThat(b.addrs.get(0).availUserAddr()).isEqualTo(GPA + 2048);
            assertThat(b.addrs.get(0).usedUserAddr()).isEqualTo(GPA + 4096);
            b.log.clear();
            assertThat(d.stop()).containsExactly(7);
            // suspended first, so the base read next is exact (QEMU vhost_vdpa_suspend)
            assertThat(b.log).containsExactly("SUSPEND", "GET_VRING_BASE 0", "SET_STATUS 0", "SET_STATUS 3");
        }
        RecordingBackend picky = RecordingBackend.of(VhostBackendType.VDPA, VERSION_1, 0);
        picky.statusMask = ~8; // never keeps FEATURES_OK
        try (GenericVhostDevice d = new GenericVhostDevice(picky, 1)) {
            d.ackFeatures(VERSION_1);
            assertThatThrownBy(() -> d.start(memory, List.of(q(0, 0, 20)))).isInstanceOf(VhostFeatureException.class)
                    .hasMessageContaining("FEATURES_OK");
        }
    }

    @Test
    void vdpaSuspendKeepsTheDeviceAndTheSameStartResumesItWhileAnyOtherStartResets() throws Exception {
        RecordingBackend b = RecordingBackend.of(VhostBackendType.VDPA, VERSION_1, 0x36);
        try (GenericVhostDevice d = new GenericVhostDevice(b, 2)) {
            assertThat(d.canResume()).isTrue();
            d.ackFeatures(VERSION_1);
            d.start(memory, List.of(q(0, 0, 20), q(1, 0, 21)));
            b.log.clear();
            assertThat(d.suspend()).containsExactly(7, 7);
            assertThat(b.log).as("no reset at suspend").containsExactly("SUSPEND", "GET_VRING_BASE 0", "GET_VRING_BASE 1");
            assertThat(d.isSuspended()).isTrue();
            assertThat(d.isStarted()).isFalse();
            b.log.clear();
            d.start(memory, List.of(q(0, 7, 20), q(1, 7, 21)));
            assertThat(b.log).as("same memory, features and rings at the bases read: RESUME only").containsExactly("RESUME");
            assertThat(d.lastStartResumed()).isTrue();
            assertThat(d.isStarted()).isTrue();

            // masked while asleep: the masked notifier replaces the call fd before RESUME
            d.suspend();
            d.virtqueueMask(1, true);
            b.log.clear();
            d.start(memory, List.of(q(0, 7, 20), q(1, 7, 21)));
            assertThat(b.log).hasSize(2).last().isEqualTo("RESUME");
            assertThat(b.log.get(0)).startsWith("SET_VRING_CALL 1 ").isNotEqualTo("SET_VRING_CALL 1 21");
            d.virtqueueMask(1, false);

            // another next avail (or queue set): reset, then the whole setup
            d.suspend();
            b.log.clear();
            d.start(memory, List.of(q(0, 3, 20), q(1, 7, 21)));
            assertThat(d.lastStartResumed()).isFalse();
            assertThat(b.log).startsWith("SET_STATUS 0", "SET_STATUS 3", "SET_FEATURES 0x" + Long.toHexString(VERSION_1)).doesNotContain("RESUME")
                    .contains("SET_VRING_BASE 0 3").endsWith("SET_STATUS 15");

            // a refused RESUME falls back to a reset and the whole setup
            d.suspend();
            b.refuse = "RESUME";
            b.log.clear();
            d.start(memory, List.of(q(0, 10, 20), q(1, 14, 21)));
            b.refuse = null;
            assertThat(d.lastStartResumed()).isFalse();
            assertThat(d.isStarted()).isTrue();
            assertThat(b.log).startsWith("RESUME", "SET_STATUS 0", "SET_STATUS 3", "SET_FEATURES 0x" + Long.toHexString(VERSION_1))
                    .contains("SET_VRING_BASE 0 10").endsWith("SET_STATUS 15");

            // stop() after suspend() resets the device
            d.suspend();
            b.log.clear();
            assertThat(d.stop()).isEmpty();
            assertThat(b.log).containsExactly("SET_STATUS 0", "SET_STATUS 3");
            assertThat(d.isSuspended()).isFalse();
        }
        // without RESUME offered, suspend() is stop(): the device is reset
        RecordingBackend noResume = RecordingBackend.of(VhostBackendType.VDPA, VERSION_1, 0x16);
        try (GenericVhostDevice d = new GenericVhostDevice(noResume, 1)) {
            assertThat(d.canResume()).isFalse();
            d.ackFeatures(VERSION_1);
            d.start(memory, List.of(q(0, 0, 20)));
            noResume.log.clear();
            d.suspend();
            assertThat(noResume.log).containsExactly("SUSPEND", "GET_VRING_BASE 0", "SET_STATUS 0", "SET_STATUS 3");
            assertThat(d.isSuspended()).isFalse();
        }
    }

    @Test
    void vhostUserWithoutProtocolFeaturesDoesNotEnable() throws Exception {
        RecordingBackend b = RecordingBackend.of(VhostBackendType.USER, VERSION_1, 0);
        try (GenericVhostDevice d = new GenericVhostDevice(b, 1)) {
            d.ackFeatures(VERSION_1);
            d.start(memory, List.of(q(0, 0, 20)));
            assertThat(b.log).doesNotContain("SET_VRING_ENABLE 0 1");
            assertThat(b.log.get(2)).isEqualTo("SET_FEATURES 0x" + Long.toHexString(VERSION_1));
        }
    }

    /** vhost-net: each ring is attached to the TAP after start and detached before stop (QEMU vhost_net_start_one). */
    @Test
    void kernelRingsAreAttachedAfterStartAndDetachedBeforeStop() throws Exception {
        RecordingBackend b = RecordingBackend.of(VhostBackendType.KERNEL, VERSION_1, 0);
        try (GenericVhostDevice d = new GenericVhostDevice(b, 1)) {
            d.ackFeatures(VERSION_1);
            d.start(memory, List.of(q(0, 0, 20)));
            assertThat(b.log.get(b.log.size() - 1)).isEqualTo("SET_VRING_ENABLE 0 1");
            b.log.clear();
            d.stop();
            assertThat(b.log.get(0)).isEqualTo("SET_VRING_ENABLE 0 0");
            assertThat(b.log).anyMatch(l -> l.startsWith("GET_VRING_BASE 0"));
        }
    }

    @Test
    void refusedRequestIsWrappedWithRequestAndQueueAndStartedQueuesAreStopped() throws Exception {
        RecordingBackend b = RecordingBackend.of(VhostBackendType.USER, VERSION_1 | PROTO, VhostUserProtocolFeature.MQ.mask());
        try (GenericVhostDevice d = new GenericVhostDevice(b, 2)) {
            d.ackFeatures(VERSION_1);
            b.refuse = "SET_VRING_ADDR";
            b.log.clear();
            assertThatThrownBy(() -> d.start(memory, List.of(q(0, 0, 20))))
                    .isInstanceOf(VhostRefusedException.class)
                    .hasMessageContaining("SET_VRING_ADDR refused");
            assertThat(d.isStarted()).isFalse();
            // the setup batch was refused: no ring was kicked or enabled (nothing ran), none needed stopping
            assertThat(b.log).containsExactly("SET_FEATURES 0x" + Long.toHexString(VERSION_1 | PROTO), "SET_MEM_TABLE 1",
                    "SET_VRING_NUM 0 128", "SET_VRING_BASE 0 0", "SET_VRING_ADDR 0", "SET_VRING_CALL 0 20");
            // a refusal in the second batch: the queues it may have started are stopped
            b.refuse = "SET_VRING_ENABLE";
            b.log.clear();
            assertThatThrownBy(() -> d.start(memory, List.of(q(0, 0, 20), q(1, 0, 21))))
                    .isInstanceOf(VhostRefusedException.class).hasMessageContaining("SET_VRING_ENABLE refused")
                    .satisfies(e -> assertThat(e.getSuppressed()).hasSize(1));
            assertThat(b.log).endsWith("SET_VRING_KICK 0", "SET_VRING_KICK 1", "SET_VRING_ENABLE 0 1", "SET_VRING_ENABLE 1 1",
                    "GET_VRING_BASE 0", "GET_VRING_BASE 1");
            assertThat(d.isStarted()).isFalse();
        }
    }

    @Test
    void startRejectsBadQueuesAndUnackedFeatures() throws Exception {
        RecordingBackend b = RecordingBackend.of(VhostBackendType.USER, VERSION_1 | PROTO, 0);
        try (GenericVhostDevice d = new GenericVhostDevice(b, 1)) {
            assertThatThrownBy(() -> d.start(memory, List.of(q(0, 0, 20)))).isInstanceOf(VhostFeatureException.class);
            d.ackFeatures(VERSION_1);
            assertThatThrownBy(() -> d.start(memory, List.of(q(1, 0, 20)))).isInstanceOf(VirtqueueException.class)
                    .hasMessageContaining("queue 1");
            VirtqueueConfig outside = new VirtqueueConfig(0, 128, 0x10, 0x1000, 0x2000, 0, -1, -1, true);
            assertThatThrownBy(() -> d.start(memory, List.of(outside))).isInstanceOf(VirtqueueException.class)
                    .hasMessageContaining("outside guest memory");
        }
    }

    @Test
    void configNeedsConfigProtocolFeatureOnVhostUser() throws Exception {
        RecordingBackend b = RecordingBackend.of(VhostBackendType.USER, VERSION_1 | PROTO, VhostUserProtocolFeature.CONFIG.mask());
        b.config[0] = 42;
        try (GenericVhostDevice d = new GenericVhostDevice(b, 1)) {
            assertThat(d.getConfig(8)).hasSize(8).startsWith(42);
        }
        RecordingBackend none = RecordingBackend.of(VhostBackendType.USER, VERSION_1 | PROTO, 0);
        try (GenericVhostDevice d = new GenericVhostDevice(none, 1)) {
            assertThatThrownBy(() -> d.getConfig(8)).isInstanceOf(VhostFeatureException.class)
                    .hasMessageContaining("GET_CONFIG").hasMessageContaining("CONFIG");
        }
    }

    @Test
    void maskRoutesCallToMaskedNotifierAndUnmaskForwardsPending() throws Exception {
        RecordingBackend b = RecordingBackend.of(VhostBackendType.USER, VERSION_1 | PROTO, 0);
        try (EventFd call = EventFd.create(); GenericVhostDevice d = new GenericVhostDevice(b, 1)) {
            d.ackFeatures(VERSION_1);
            d.start(memory, List.of(q(0, 0, call.fd())));
            assertThat(b.callFds.get(0)).isEqualTo(call.fd());
            d.virtqueueMask(0, true);
            int maskedFd = b.callFds.get(0);
            assertThat(maskedFd).isNotEqualTo(call.fd()).isNotNegative();
            assertThat(d.virtqueuePending(0)).isFalse();
            // The back-end calls while masked: it writes the masked notifier.
            MemorySegment one = arena.allocate(8);
            one.set(java.lang.foreign.ValueLayout.JAVA_LONG, 0, 1L);
            Linux.write(maskedFd, one, 8);
            assertThat(d.virtqueuePending(0)).isTrue();
            assertThat(call.drain()).isZero();
            d.virtqueueMask(0, false);
            assertThat(b.callFds.get(0)).isEqualTo(call.fd());
            assertThat(call.drain()).isEqualTo(1);
            assertThat(d.virtqueuePending(0)).isFalse();
        }
    }

    /** What differs by transport is asked of the device, never of a backend type flag. */
    @Test
    void ringSwitchingAndDeviceConfigFollowTheBackendsInterfaces() throws Exception {
        RecordingBackend user = RecordingBackend.of(VhostBackendType.USER, VERSION_1 | PROTO, VhostUserProtocolFeature.CONFIG.mask());
        user.config[0] = 42;
        try (GenericVhostDevice d = new GenericVhostDevice(user, 1)) {
            assertThat(d.switchesRings()).as("vhost-user with PROTOCOL_FEATURES").isTrue();
            user.log.clear();
            d.setVringEnable(0, false);
            assertThat(user.log).containsExactly("SET_VRING_ENABLE 0 0");
            byte[] cfg = d.readDeviceConfig(17, 12);
            assertThat(cfg).hasSize(17).startsWith(42);
            assertThat(user.log).endsWith("GET_CONFIG 0 17");
        }
        RecordingBackend noConfig = RecordingBackend.of(VhostBackendType.USER, VERSION_1, 0);
        try (GenericVhostDevice d = new GenericVhostDevice(noConfig, 1)) {
            assertThat(d.switchesRings()).as("vhost-user without PROTOCOL_FEATURES").isFalse();
            assertThat(d.readDeviceConfig(17, 12)).as("no CONFIG: nothing to read").isNull();
            assertThatThrownBy(() -> d.setVringEnable(0, true)).isInstanceOf(VhostFeatureException.class)
                    .hasMessageContaining("not switched one by one");
        }
        RecordingBackend vdpa = RecordingBackend.of(VhostBackendType.VDPA, VERSION_1, 0);
        vdpa.config[0] = 7;
        try (GenericVhostDevice d = new GenericVhostDevice(vdpa, 1)) {
            assertThat(d.switchesRings()).as("vhost-vdpa: enabled once before DRIVER_OK").isFalse();
            vdpa.log.clear();
            byte[] cfg = d.readDeviceConfig(17, 12);
            assertThat(cfg).as("the device's own config size: only what is needed is read").hasSize(17).startsWith(7);
            assertThat(vdpa.log).containsExactly("GET_CONFIG 0 12");
        }
        RecordingBackend kernel = RecordingBackend.of(VhostBackendType.KERNEL, VERSION_1, 0);
        try (GenericVhostDevice d = new GenericVhostDevice(kernel, 2)) {
            assertThat(d.switchesRings()).as("vhost-net attaches TAP queues ring by ring").isTrue();
            assertThat(d.readDeviceConfig(17, 12)).as("vhost-net has no config space").isNull();
            assertThatThrownBy(() -> d.getConfig(8)).isInstanceOf(VhostFeatureException.class)
                    .hasMessageContaining("GET_CONFIG").hasMessageContaining("no device config space");
            kernel.log.clear();
            d.setVringEnable(1, true);
            assertThat(kernel.log).containsExactly("SET_VRING_ENABLE 1 1");
        }
    }

}
