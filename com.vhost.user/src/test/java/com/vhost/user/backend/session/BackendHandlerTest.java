package com.vhost.user.backend.session;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.vhost.api.VhostException;
import com.vhost.api.VhostFeatures;
import com.vhost.api.VringAddr;
import com.vhost.api.user.DeviceStateDirection;
import com.vhost.api.user.VhostUserProtocolFeature;
import com.vhost.api.virtio.DeviceStatus;
import com.vhost.api.virtio.GuestMemory;
import com.vhost.api.virtio.Interrupt;
import com.vhost.api.virtio.VirtioDevice;
import com.vhost.api.virtio.VirtioDeviceState;
import com.vhost.api.virtio.VirtioDeviceType;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.api.virtio.VirtqueueConfig;
import com.vhost.spi.backend.PerQueueDevice;
import com.vhost.spi.backend.QueueErrorInterrupt;
import com.vhost.spi.nativeio.Linux;
import com.vhost.spi.nativeio.OwnedFd;
import com.vhost.user.message.DeviceStatePayload;
import com.vhost.user.message.MemRegionPayload;
import com.vhost.user.testing.RecordingDevice;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The rings-and-memory state alone (vhost-user spec, "Ring states"): requests as method calls,
 * memfds and eventfds as the fds, a recording model. No socket, no bytes.
 */
class BackendHandlerTest {
    private static final long VERSION_1 = VirtioFeatures.bit(VirtioFeatures.F_VERSION_1);
    private static final long PROTOCOL = VhostFeatures.bit(VhostFeatures.F_PROTOCOL_FEATURES);
    /** Where the front-end has guest memory mapped (an address in its process; any number will do here). */
    private static final long USER = 0x7000_0000_0000L;
    private static final long MEM = 0x10000;

    private final ExecutorService pool = Executors.newCachedThreadPool();
    private final List<OwnedFd> mine = new ArrayList<>();
    private RecordingDevice device = new RecordingDevice(2);
    private BackendHandler handler = new BackendHandler("test", device, pool);

    @AfterEach
    void close() {
        handler.close();
        mine.forEach(OwnedFd::close);
        pool.shutdownNow();
    }

    private OwnedFd eventfd() throws VhostException {
        return new OwnedFd(Linux.eventfd(Linux.EFD_CLOEXEC));
    }

    private OwnedFd memfd(long size) throws VhostException {
        int fd = Linux.memfdCreate("guest");
        Linux.ftruncate(fd, size);
        return new OwnedFd(fd);
    }

    private static MemRegionPayload region(long guest, long size, long user) {
        return new MemRegionPayload(guest, size, user, 0);
    }

    private void memory() throws Exception {
        handler.setMemTable(List.of(region(0, MEM, USER)), List.of(memfd(MEM)));
    }

    /** Ring {@code q} at 16 KiB per queue: descriptors, avail ring at +4 KiB, used ring at +8 KiB. */
    private void ring(int q, int base) throws Exception {
        long at = USER + q * 0x4000L;
        handler.setVringNum(q, 16);
        handler.setVringAddr(new VringAddr(q, 0, at, at + 0x2000, at + 0x1000, 0));
        handler.setVringBase(q, base);
        handler.setVringCall(q, eventfd());
    }

    private void protocolFeatures() throws Exception {
        handler.setProtocolFeatures(BackendHandler.PROTOCOL_FEATURES);
        handler.setFeatures(VERSION_1 | PROTOCOL);
    }

    @Test
    void withoutProtocolFeaturesARingRunsFromItsKickAndCannotBeDisabled() throws Exception {
        handler.setFeatures(VERSION_1);
        memory();
        ring(0, 7);
        handler.setVringKick(0, eventfd());
        assertThat(device.state()).isEqualTo(VirtioDeviceState.ACTIVE);
        assertThat(device.calls).containsExactly("ackFeatures(0x100000000)", "activate[0]");
        VirtqueueConfig q = device.lastQueues.getFirst();
        assertThat(q.descAddr()).isZero();
        assertThat(q.availAddr()).isEqualTo(0x1000);
        assertThat(q.usedAddr()).isEqualTo(0x2000);
        assertThat(q.nextAvail()).isEqualTo(7);
        assertThatThrownBy(() -> handler.setVringEnable(0, false)).isInstanceOf(Refusal.class)
                .hasMessage("queue 0: SET_VRING_ENABLE without VHOST_USER_F_PROTOCOL_FEATURES negotiated");
    }

    @Test
    void withProtocolFeaturesAKickedRingWaitsForEnableAndDisableStopsIt() throws Exception {
        protocolFeatures();
        memory();
        ring(0, 0);
        handler.setVringKick(0, eventfd());
        assertThat(device.state()).isEqualTo(VirtioDeviceState.NEW);
        handler.setVringEnable(0, true);
        assertThat(device.calls).containsSubsequence("activate[0]");
        // enabled but not started: nothing changes
        handler.setVringEnable(1, true);
        assertThat(device.calls.getLast()).isEqualTo("activate[0]");
        ring(1, 0);
        handler.setVringKick(1, eventfd());
        assertThat(device.calls).containsSubsequence("activate[0]", "sleep", "wake[0,1]");
        handler.setVringEnable(0, false);
        assertThat(device.calls.getLast()).isEqualTo("wake[1]");
    }

    @Test
    void setProtocolFeaturesAloneMakesRingsStartDisabled() throws Exception {
        // QEMU's vhost-user-net enables rings before SET_FEATURES
        handler.setProtocolFeatures(VhostUserProtocolFeature.REPLY_ACK.mask());
        handler.setVringEnable(0, false);
        handler.setFeatures(VERSION_1);
        memory();
        ring(0, 0);
        handler.setVringKick(0, eventfd());
        assertThat(device.state()).isEqualTo(VirtioDeviceState.NEW);
    }

    @Test
    void getVringBaseStopsTheRingAndOnlyThenMayItsLayoutChange() throws Exception {
        handler.setFeatures(VERSION_1);
        memory();
        ring(0, 7);
        handler.setVringKick(0, eventfd());
        assertThatThrownBy(() -> handler.setVringNum(0, 32)).isInstanceOf(Refusal.class)
                .hasMessage("SET_VRING_NUM for queue 0 while the ring is started (stop it with GET_VRING_BASE first)");
        assertThatThrownBy(() -> handler.setVringBase(0, 1)).isInstanceOf(Refusal.class).hasMessageContaining("while the ring is started");
        assertThatThrownBy(() -> handler.setVringAddr(new VringAddr(0, 0, USER + 0x8000, USER + 0xA000, USER + 0x9000, 0)))
                .isInstanceOf(Refusal.class).hasMessageContaining("while the ring is started");
        // the same addresses may come again on a running ring, to turn used-ring logging on and off
        handler.setVringAddr(new VringAddr(0, VringAddr.F_LOG, USER, USER + 0x2000, USER + 0x1000, 0x2000));
        handler.setVringAddr(new VringAddr(0, 0, USER, USER + 0x2000, USER + 0x1000, 0x2000));
        // the model reports nextAvail = base + 3 from sleep
        assertThat(handler.getVringBase(0)).isEqualTo(10);
        assertThat(device.calls).containsSubsequence("activate[0]", "sleep", "wake[]");
        handler.setVringNum(0, 32);
        handler.setVringBase(0, 1);
        handler.setVringKick(0, eventfd());
        assertThat(device.calls.getLast()).isEqualTo("wake[0]");
        assertThat(device.lastQueues.getFirst().size()).isEqualTo(32);
        assertThat(device.lastQueues.getFirst().nextAvail()).isEqualTo(1);
    }

    /**
     * Packed rings (VIRTIO_F_RING_PACKED acked): SET_VRING_BASE carries the avail position and wrap
     * counter in bits 0-15 and QEMU adds the used ones in bits 16-31; the model gets the low half,
     * the addresses are the descriptor ring and the two event suppression areas, GET_VRING_BASE
     * answers the position in both halves; a position at or past the ring size is refused when
     * the ring starts; GET_INFLIGHT_FD answers a region of the packed layout.
     */
    @Test
    void packedRingsCarryTheWrapCounterInTheBase() throws Exception {
        handler.setProtocolFeatures(BackendHandler.PROTOCOL_FEATURES);
        handler.setFeatures(VERSION_1 | VirtioFeatures.bit(VirtioFeatures.F_RING_PACKED));
        memory();
        ring(0, 0x8000_8000); // QEMU's first base: position 0, both wrap counters 1
        handler.setVringKick(0, eventfd());
        handler.setVringEnable(0, true);
        VirtqueueConfig q = device.lastQueues.getFirst();
        assertThat(q.nextAvail()).isEqualTo(0x8000);
        assertThat(q.availAddr()).isEqualTo(0x1000);
        assertThat(q.usedAddr()).isEqualTo(0x2000);
        // the model reports nextAvail = base + 3
        assertThat(handler.getVringBase(0)).isEqualTo(0x8003_8003);
        handler.setVringBase(0, 0x8010); // position 16 of a ring of 16
        assertThatThrownBy(() -> handler.setVringKick(0, eventfd())).isInstanceOf(Refusal.class)
                .hasMessage("queue 0: packed ring base 0x8010: position 16 is not below ring size 16");
        handler.setVringBase(0, 0x7);
        handler.setVringKick(0, eventfd());
        assertThat(device.lastQueues.getFirst().nextAvail()).isEqualTo(7);

        handler.getVringBase(0);
        // a region sized for split rings (GET_INFLIGHT_FD after SeaBIOS's split features) cannot
        // serve packed rings: refused by name when they start
        handler.setFeatures(VERSION_1);
        FrontendRequestHandler.InflightAnswer split = handler.getInflightFd(2, 16);
        assertThat(split.payload().mmapSize()).isEqualTo(2 * com.vhost.spi.memory.InflightSplitRegion.queueBytes(16));
        handler.setInflightFd(split.payload(), split.fd());
        handler.setFeatures(VERSION_1 | VirtioFeatures.bit(VirtioFeatures.F_RING_PACKED));
        assertThatThrownBy(() -> handler.setVringKick(0, eventfd())).isInstanceOf(Refusal.class).hasMessageContaining(
                "inflight region (SET_INFLIGHT_FD before the features), for packed rings: mmap_size 0x280 is less than the 0x480"
                        + " bytes 2 queues of 16 take in the packed layout");
        handler.getVringBase(0);
        // the packed driver's own region, which the back-end sizes for the packed layout, replaces it
        FrontendRequestHandler.InflightAnswer a = handler.getInflightFd(2, 16);
        assertThat(a.fd()).isNotNull();
        assertThat(a.payload().mmapSize()).isEqualTo(2 * com.vhost.spi.memory.InflightPackedRegion.queueBytes(16)).isEqualTo(1152);
        handler.setInflightFd(a.payload(), a.fd());
        handler.setVringKick(0, eventfd());
        assertThat(device.lastQueues.getFirst().nextAvail()).isEqualTo(10);
    }

    /** Issue #10 bounds: the last queue and the model's largest ring size are taken; one past each is refused, naming the bound. */
    @Test
    void queueIndexAndRingSizeAreBoundedByTheDevice() throws Exception {
        handler.setVringNum(1, 256);
        assertThatThrownBy(() -> handler.setVringNum(2, 256)).isInstanceOf(Refusal.class)
                .hasMessage("SET_VRING_NUM: queue index 2 out of range (device has 2 queues, GET_QUEUE_NUM)");
        assertThatThrownBy(() -> handler.setVringNum(1, 512)).isInstanceOf(Refusal.class)
                .hasMessage("queue 1: size 512 is not a power of two in 1..256 (the device's Queue Size maximum)");
        assertThatThrownBy(() -> handler.setVringKick(2, null)).isInstanceOf(Refusal.class)
                .hasMessageContaining("queue index 2 out of range");
    }

    /** Issue #10 bounds: one backend request channel; a new SET_BACKEND_REQ_FD closes the old one's fd. */
    @Test
    void aNewBackendRequestChannelClosesTheOld() throws Exception {
        com.vhost.spi.nativeio.UnixSocket[] a = com.vhost.spi.nativeio.UnixSocket.pair();
        com.vhost.spi.nativeio.UnixSocket[] b = com.vhost.spi.nativeio.UnixSocket.pair();
        try {
            OwnedFd first = new OwnedFd(a[0].fd());
            handler.setBackendReqFd(first);
            handler.setBackendReqFd(new OwnedFd(b[0].fd()));
            assertThat(first.fd()).as("the old channel's fd is closed").isEqualTo(-1);
        } finally {
            a[1].close();
            b[1].close();
        }
    }

    @Test
    void ringValuesAreCheckedAgainstTheDevice() {
        assertThatThrownBy(() -> handler.setVringNum(5, 16)).isInstanceOf(Refusal.class)
                .hasMessage("SET_VRING_NUM: queue index 5 out of range (device has 2 queues, GET_QUEUE_NUM)");
        assertThatThrownBy(() -> handler.setVringNum(-1, 16)).isInstanceOf(Refusal.class)
                .hasMessage("SET_VRING_NUM: queue index 4294967295 out of range (device has 2 queues, GET_QUEUE_NUM)");
        assertThatThrownBy(() -> handler.setVringNum(0, 100)).isInstanceOf(Refusal.class)
                .hasMessage("queue 0: size 100 is not a power of two in 1..256 (the device's Queue Size maximum)");
        assertThatThrownBy(() -> handler.setVringNum(0, 512)).isInstanceOf(Refusal.class);
        assertThatThrownBy(() -> handler.setVringBase(1, 0x10000)).isInstanceOf(Refusal.class)
                .hasMessage("queue 1: base 65536 is not a 16-bit split-ring index");
        assertThatThrownBy(() -> handler.setFeatures(VERSION_1 | (1L << 40))).isInstanceOf(Refusal.class)
                .hasMessageContaining("were not offered");
        assertThatThrownBy(() -> handler.setFeatures(RecordingDevice.FEATURE_BIT_5)).isInstanceOf(Refusal.class)
                .matches(e -> ((Refusal) e).fatal(), "fatal");
        assertThatThrownBy(() -> handler.setProtocolFeatures(1L << 40)).isInstanceOf(Refusal.class).hasMessageContaining("were not offered");
    }

    private static boolean isOpen(int fd) {
        try {
            Linux.fileStatusFlags(fd);
            return true;
        } catch (VhostException e) {
            return false;
        }
    }

    /** Per ring at most one kick, call and error fd is held: a replaced one is closed (issue #10). */
    @Test
    void aReplacedKickCallOrErrFdIsClosed() throws Exception {
        memory();
        ring(0, 0);
        int[] kicks = new int[3];
        int[] calls = new int[3];
        int[] errs = new int[3];
        OwnedFd[] all = new OwnedFd[9];
        for (int i = 0; i < 9; i++) {
            all[i] = eventfd(); // all created first, so no number is reused while the test looks
        }
        for (int i = 0; i < 3; i++) {
            kicks[i] = all[i].fd();
            calls[i] = all[3 + i].fd();
            errs[i] = all[6 + i].fd();
            handler.setVringKick(0, all[i]);
            handler.setVringCall(0, all[3 + i]);
            handler.setVringErr(0, all[6 + i]);
        }
        for (int i = 0; i < 2; i++) {
            assertThat(isOpen(kicks[i])).as("replaced kick fd " + i).isFalse();
            assertThat(isOpen(calls[i])).as("replaced call fd " + i).isFalse();
            assertThat(isOpen(errs[i])).as("replaced err fd " + i).isFalse();
        }
        assertThat(List.of(isOpen(kicks[2]), isOpen(calls[2]), isOpen(errs[2]))).containsOnly(true);
        handler.getVringBase(0);
        assertThat(isOpen(kicks[2])).as("GET_VRING_BASE drops the kick fd").isFalse();
        handler.close();
        assertThat(List.of(isOpen(calls[2]), isOpen(errs[2]))).as("close drops the rest").containsOnly(false);
    }

    /**
     * Issue #10: a queue the model reports failed ({@link QueueErrorInterrupt}) gets 1 written to
     * its current error eventfd (SET_VRING_ERR), no other ring's, and DEVICE_NEEDS_RESET is set.
     */
    @Test
    void aQueueErrorWritesThatRingsErrorEventfdOnly() throws Exception {
        protocolFeatures();
        memory();
        ring(0, 0);
        ring(1, 0);
        OwnedFd err0 = new OwnedFd(Linux.eventfd(Linux.EFD_CLOEXEC | Linux.EFD_NONBLOCK));
        OwnedFd err1 = new OwnedFd(Linux.eventfd(Linux.EFD_CLOEXEC | Linux.EFD_NONBLOCK));
        int fd0 = err0.fd();
        int fd1 = err1.fd();
        handler.setVringErr(0, eventfd()); // replaced (and closed) by the next
        handler.setVringErr(0, err0);
        handler.setVringErr(1, err1);
        handler.setVringKick(0, eventfd());
        handler.setVringEnable(0, true);
        assertThat(device.state()).isEqualTo(VirtioDeviceState.ACTIVE);
        ((QueueErrorInterrupt) device.interrupt()).signalQueueError(0, "queue 0: test failure");
        assertThat(counter(fd0)).as("queue 0's error eventfd").isEqualTo(1);
        assertThat(counter(fd1)).as("queue 1's error eventfd").isZero();
        assertThat(handler.getStatus() & DeviceStatus.DEVICE_NEEDS_RESET.bit()).isNotZero();
    }

    /** @return an eventfd's counter, read (and so reset) without blocking; 0 when empty */
    private static long counter(int fd) throws VhostException {
        MemorySegment b = Arena.ofAuto().allocate(8, 8);
        return Linux.read(fd, b, 8) == 8 ? b.get(ValueLayout.JAVA_LONG, 0) : 0;
    }

    @Test
    void fdsForARefusedRequestAreClosed() throws Exception {
        OwnedFd kick = eventfd();
        OwnedFd call = eventfd();
        OwnedFd err = eventfd();
        assertThatThrownBy(() -> handler.setVringKick(9, kick)).isInstanceOf(Refusal.class).hasMessageContaining("SET_VRING_KICK");
        assertThatThrownBy(() -> handler.setVringCall(9, call)).isInstanceOf(Refusal.class).hasMessageContaining("SET_VRING_CALL");
        assertThatThrownBy(() -> handler.setVringErr(9, err)).isInstanceOf(Refusal.class).hasMessageContaining("SET_VRING_ERR");
        assertThat(List.of(kick.fd(), call.fd(), err.fd())).containsOnly(-1);
    }

    @Test
    void aRingThatCannotRunIsRefusedAndStaysStopped() throws Exception {
        handler.setFeatures(VERSION_1);
        OwnedFd early = eventfd();
        assertThatThrownBy(() -> handler.setVringKick(0, early)).isInstanceOf(Refusal.class)
                .hasMessage("queue 0 started before SET_MEM_TABLE");
        assertThat(early.fd()).isEqualTo(-1);
        memory();
        handler.setVringNum(0, 16);
        handler.setVringAddr(new VringAddr(0, 0, USER + MEM, USER + MEM + 0x2000, USER + MEM + 0x1000, 0));
        assertThatThrownBy(() -> handler.setVringKick(0, eventfd())).isInstanceOf(Refusal.class)
                .hasMessageContaining("queue 0: descriptor table at user address 0x7000000" + "10000 is in no memory region");
        // still stopped: its layout may change
        handler.setVringAddr(new VringAddr(0, 0, USER, USER + 0x2000, USER + 0x1000, 0));
        handler.setVringKick(0, eventfd());
        assertThat(device.state()).isEqualTo(VirtioDeviceState.ACTIVE);
    }

    @Test
    void aNewMemoryTableReactivatesARunningModelAndARefusedOneUnmapsWhatItMapped() throws Exception {
        handler.setFeatures(VERSION_1);
        memory();
        ring(0, 0);
        handler.setVringKick(0, eventfd());
        // a bigger table: the model is reset and activated again over it, keeping nextAvail
        handler.setMemTable(List.of(region(0, MEM, USER), region(0x100000, MEM, USER + 0x100000)),
                List.of(memfd(MEM), memfd(MEM)));
        assertThat(device.calls).containsSubsequence("activate[0]", "sleep", "wake[]", "reset", "activate[0]");
        assertThat(device.lastQueues.getFirst().nextAvail()).isEqualTo(3);
        int calls = device.calls.size();

        // overlapping regions: refused, both fds closed, the old table stays
        OwnedFd a = memfd(MEM);
        OwnedFd b = memfd(MEM);
        assertThatThrownBy(() -> handler.setMemTable(List.of(region(0, MEM, USER), region(0x8000, MEM, USER + 0x20000)), List.of(a, b)))
                .isInstanceOf(Refusal.class).hasMessageStartingWith("invalid memory table");
        assertThat(List.of(a.fd(), b.fd())).containsOnly(-1);
        // a table without the ring's memory: refused by the ring, fds closed, the ring runs on
        OwnedFd c = memfd(MEM);
        assertThatThrownBy(() -> handler.setMemTable(List.of(region(0x100000, MEM, USER + 0x100000)), List.of(c)))
                .isInstanceOf(Refusal.class).hasMessageContaining("queue 0");
        assertThat(c.fd()).isEqualTo(-1);
        assertThat(device.state()).isEqualTo(VirtioDeviceState.ACTIVE);
        assertThat(device.calls).hasSize(calls);
        assertThat(handler.getVringBase(0)).isEqualTo(6);
    }

    @Test
    void memorySlotsAreAddedAndRemoved() throws Exception {
        handler.setProtocolFeatures(BackendHandler.PROTOCOL_FEATURES);
        handler.setFeatures(VERSION_1);
        handler.addMemRegion(region(0, MEM, USER), memfd(MEM));
        OwnedFd overlapping = memfd(MEM);
        assertThatThrownBy(() -> handler.addMemRegion(region(0x8000, MEM, USER + 0x20000), overlapping)).isInstanceOf(Refusal.class);
        assertThat(overlapping.fd()).isEqualTo(-1);
        assertThatThrownBy(() -> handler.removeMemRegion(region(0x200000, 0x1000, 0x1000))).isInstanceOf(Refusal.class)
                .hasMessage("no memory region at guest 0x200000 of 0x1000 bytes");
        handler.removeMemRegion(region(0, MEM, USER));
        for (int i = 0; i < BackendHandler.MAX_MEM_SLOTS; i++) {
            handler.addMemRegion(region(i * 0x1000L, 0x1000, USER + i * 0x1000L), memfd(0x1000));
        }
        OwnedFd extra = memfd(0x1000);
        assertThatThrownBy(() -> handler.addMemRegion(region(0x100000, 0x1000, USER + 0x100000), extra)).isInstanceOf(Refusal.class)
                .hasMessage("all 32 memory slots are in use, at most 32 (MAX_MEM_SLOTS, as GET_MAX_MEM_SLOTS said)");
        assertThat(extra.fd()).isEqualTo(-1);
    }

    @Test
    void aPerQueueModelHasJustTheChangedRingStoppedOrStarted() throws Exception {
        PerQueue model = new PerQueue(new RecordingDevice(2));
        handler.close();
        handler = new BackendHandler("test", model, pool);
        device = model.inner;
        protocolFeatures();
        memory();
        ring(0, 0);
        ring(1, 0);
        handler.setVringKick(0, eventfd());
        handler.setVringKick(1, eventfd());
        handler.setVringEnable(0, true);
        handler.setVringEnable(1, true);
        assertThat(device.calls).containsSubsequence("activate[0]", "startQueue(1)");
        // a new kick fd for a running ring restarts just that ring
        handler.setVringKick(1, eventfd());
        assertThat(device.calls.subList(device.calls.size() - 2, device.calls.size())).containsExactly("stopQueue(1)", "startQueue(1)");
        // a new call fd too
        handler.setVringCall(0, eventfd());
        assertThat(device.calls.subList(device.calls.size() - 2, device.calls.size())).containsExactly("stopQueue(0)", "startQueue(0)");
        assertThat(handler.getVringBase(0)).isEqualTo(10); // stopped twice more: 0 + 5 + 5
        assertThat(device.calls.getLast()).isEqualTo("stopQueue(0)");
        assertThat(device.calls).doesNotContain("sleep");
        assertThat(device.state()).isEqualTo(VirtioDeviceState.ACTIVE);
    }

    @Test
    void resetDeviceRestsTheModelAndForgetsTheRingsButNotTheMemory() throws Exception {
        handler.setProtocolFeatures(BackendHandler.PROTOCOL_FEATURES);
        handler.setFeatures(VERSION_1);
        handler.setStatus(0x0F);
        memory();
        ring(0, 5);
        handler.setVringKick(0, eventfd());
        assertThat(device.state()).isEqualTo(VirtioDeviceState.NEW); // protocol features: disabled until enabled
        handler.setVringEnable(0, true);
        handler.resetDevice();
        assertThat(device.state()).isEqualTo(VirtioDeviceState.INACTIVE);
        assertThat(handler.getStatus()).isZero();
        assertThat(handler.getVringBase(0)).isZero();
        // the memory stays: a ring set up again runs after features are acked again
        handler.setFeatures(VERSION_1);
        ring(0, 0);
        handler.setVringKick(0, eventfd());
        handler.setVringEnable(0, true);
        assertThat(device.state()).isEqualTo(VirtioDeviceState.ACTIVE);
    }

    @Test
    void closeResetsAnActiveModel() throws Exception {
        handler.setFeatures(VERSION_1);
        memory();
        ring(0, 0);
        handler.setVringKick(0, eventfd());
        handler.close();
        assertThat(device.state()).isEqualTo(VirtioDeviceState.INACTIVE);
        assertThat(device.calls.getLast()).isEqualTo("reset");
    }

    @Test
    void configAndStatusReachTheModel() throws Exception {
        assertThat(handler.getConfig(2, 3)).containsExactly(3, 4, 5);
        handler.setConfig(0, 0, new byte[] {9});
        assertThat(device.config[0]).isEqualTo((byte) 9);
        assertThat(handler.getQueueNum()).isEqualTo(2);
        assertThat(handler.getFeatures()).isEqualTo(device.features() | PROTOCOL | VhostFeatures.bit(VhostFeatures.F_LOG_ALL));
    }

    @Test
    void deviceStateIsRefusedWhileARingIsStartedAndABadLoadLeavesTheModelAsItWas() throws Exception {
        assertThat(handler.checkDeviceState()).as("no transfer yet").isEqualTo(1);
        handler.setFeatures(VERSION_1);
        memory();
        ring(0, 0);
        handler.setVringKick(0, eventfd());
        OwnedFd[] p = pipe();
        assertThat(handler.setDeviceStateFd(DeviceStateDirection.SAVE, p[1])).isEqualTo(DeviceStatePayload.REPLY_NO_FD | 1);
        assertThat(p[1].fd()).isEqualTo(-1);
        assertThat(handler.checkDeviceState()).isEqualTo(1);
        handler.getVringBase(0);

        // RecordingDevice refuses every state: the LOAD fails at CHECK and the model is as it was
        OwnedFd[] q = pipe();
        assertThat(handler.setDeviceStateFd(DeviceStateDirection.LOAD, q[0])).isEqualTo(DeviceStatePayload.REPLY_NO_FD);
        MemorySegment bytes = Arena.ofAuto().allocate(4);
        bytes.set(ValueLayout.JAVA_INT, 0, 0x12345678);
        Linux.write(q[1].fd(), bytes, 4);
        q[1].close();
        VirtioDeviceState before = device.state();
        assertThat(handler.checkDeviceState()).isEqualTo(1);
        assertThat(device.state()).isEqualTo(before);
    }

    /**
     * A model left asleep by a SAVE that cannot take new memory (not a RebindableDevice) must not
     * wake over the table it slept with, which a new SET_MEM_TABLE unmapped (that was a SIGSEGV):
     * it is woken with no queue, reset and activated over the new table.
     */
    @Test
    void aSleepingModelThatCannotTakeNewMemoryIsActivatedOverTheNewTableNotWokenOverTheOld() throws Exception {
        handler.close();
        // the recording model with a state to save, behind a wrapper that is not a RebindableDevice
        handler = new BackendHandler("test", new com.vhost.spi.backend.ForwardingVirtioDevice(device) {
            @Override
            public byte[] snapshot() {
                return new byte[] {1, 2, 3};
            }
        }, pool);
        handler.setFeatures(VERSION_1);
        memory();
        ring(0, 0);
        handler.setVringKick(0, eventfd());
        handler.getVringBase(0);
        OwnedFd[] p = pipe();
        handler.setDeviceStateFd(DeviceStateDirection.SAVE, p[1]);
        assertThat(handler.checkDeviceState()).as("SAVE succeeded").isZero();
        assertThat(device.state()).isEqualTo(VirtioDeviceState.ASLEEP_ACTIVE);

        handler.setMemTable(List.of(region(0, MEM, USER)), List.of(memfd(MEM)));
        int before = device.calls.size();
        ring(0, 0);
        handler.setVringKick(0, eventfd());
        assertThat(device.calls.subList(before, device.calls.size())).containsSubsequence("wake[]", "reset", "activate[0]");
        assertThat(device.state()).isEqualTo(VirtioDeviceState.ACTIVE);
    }

    private OwnedFd[] pipe() throws VhostException {
        int[] p = Linux.pipe();
        OwnedFd[] out = {new OwnedFd(p[0]), new OwnedFd(p[1])};
        mine.addAll(List.of(out));
        return out;
    }

    /** A {@link RecordingDevice} that also stops and starts single queues; a stop reports nextAvail + 5. */
    static final class PerQueue implements VirtioDevice, PerQueueDevice {
        final RecordingDevice inner;
        private final Map<Integer, VirtqueueConfig> running = new ConcurrentHashMap<>();

        PerQueue(RecordingDevice inner) {
            this.inner = inner;
        }

        @Override
        public VirtqueueConfig stopQueue(int index) {
            inner.calls.add("stopQueue(" + index + ")");
            VirtqueueConfig c = running.remove(index);
            return c == null ? null : c.withNextAvail((c.nextAvail() + 5) & 0xFFFF);
        }

        @Override
        public void startQueue(VirtqueueConfig queue) {
            inner.calls.add("startQueue(" + queue.index() + ")");
            running.put(queue.index(), queue);
        }

        @Override
        public VirtioDeviceType deviceType() {
            return inner.deviceType();
        }

        @Override
        public int[] queueMaxSizes() {
            return inner.queueMaxSizes();
        }

        @Override
        public long features() {
            return inner.features();
        }

        @Override
        public void ackFeatures(long features) {
            inner.ackFeatures(features);
        }

        @Override
        public long ackedFeatures() {
            return inner.ackedFeatures();
        }

        @Override
        public void readConfig(long offset, byte[] data) {
            inner.readConfig(offset, data);
        }

        @Override
        public void writeConfig(long offset, byte[] data) {
            inner.writeConfig(offset, data);
        }

        @Override
        public void activate(GuestMemory memory, Interrupt interrupt, List<VirtqueueConfig> queues) throws VhostException {
            inner.activate(memory, interrupt, queues);
            queues.forEach(q -> running.put(q.index(), q));
        }

        @Override
        public void reset() throws VhostException {
            inner.reset();
            running.clear();
        }

        @Override
        public List<VirtqueueConfig> sleep() throws VhostException {
            return inner.sleep();
        }

        @Override
        public void wake(List<VirtqueueConfig> queues) throws VhostException {
            inner.wake(queues);
        }

        @Override
        public byte[] snapshot() throws VhostException {
            return inner.snapshot();
        }

        @Override
        public void restore(byte[] snapshot) throws VhostException {
            inner.restore(snapshot);
        }

        @Override
        public VirtioDeviceState state() {
            return inner.state();
        }
    }
}
