package com.vhost.user.backend.session;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.vhost.api.VhostFeatures;
import com.vhost.api.VringAddr;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.spi.memory.InflightSplitRegion;
import com.vhost.spi.nativeio.Linux;
import com.vhost.spi.nativeio.OwnedFd;
import com.vhost.spi.nativeio.SharedMemory;
import com.vhost.user.message.InflightPayload;
import com.vhost.user.message.MemRegionPayload;
import com.vhost.user.testing.RecordingDevice;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * GET_INFLIGHT_FD and SET_INFLIGHT_FD on the back-end (vhost-user spec, "Inflight I/O tracking"):
 * the region it makes, and every hostile value of a region handed over refused by name.
 */
class InflightFdTest {
    private static final long USER = 0x7000_0000_0000L;
    private static final long MEM = 0x10000;
    private static final long PART = InflightSplitRegion.queueBytes(16);

    private final ExecutorService pool = Executors.newCachedThreadPool();
    private final BackendHandler handler = new BackendHandler("test", new RecordingDevice(2), pool);

    @AfterEach
    void close() {
        handler.close();
        pool.shutdownNow();
    }

    private static OwnedFd memfd(long size) throws Exception {
        int fd = Linux.memfdCreate("inflight");
        Linux.ftruncate(fd, size);
        return new OwnedFd(fd);
    }

    private void ring(int q, int num) throws Exception {
        long at = USER + q * 0x4000L;
        handler.setVringNum(q, num);
        handler.setVringAddr(new VringAddr(q, 0, at, at + 0x2000, at + 0x1000, 0));
        handler.setVringBase(q, 0);
    }

    private void features() throws Exception {
        handler.setProtocolFeatures(BackendHandler.PROTOCOL_FEATURES);
        handler.setFeatures(VirtioFeatures.bit(VirtioFeatures.F_VERSION_1) | VhostFeatures.bit(VhostFeatures.F_PROTOCOL_FEATURES));
        handler.setMemTable(List.of(new MemRegionPayload(0, MEM, USER, 0)), List.of(memfd(MEM)));
    }

    @Test
    void getInflightFdAnswersAZeroedMemfdOfOnePartPerQueue() throws Exception {
        // before SET_FEATURES the ring layout is unknown: parts of the packed layout, which fit either
        FrontendRequestHandler.InflightAnswer before = handler.getInflightFd(2, 16);
        try (OwnedFd fd = before.fd()) {
            assertThat(before.payload().mmapSize()).isEqualTo(2 * com.vhost.spi.memory.InflightPackedRegion.queueBytes(16));
        }
        features();
        FrontendRequestHandler.InflightAnswer a = handler.getInflightFd(2, 16);
        try (OwnedFd fd = a.fd()) {
            assertThat(a.payload()).isEqualTo(new InflightPayload(2 * PART, 0, 2, 16));
            assertThat(Linux.fstat(fd.fd()).size()).isEqualTo(2 * PART);
            try (SharedMemory m = SharedMemory.map(fd.fd(), 0, 2 * PART)) {
                for (long i = 0; i < 2 * PART; i++) {
                    assertThat(m.segment().get(ValueLayout.JAVA_BYTE, i)).isZero();
                }
            }
        }
        assertThat(BackendHandler.PROTOCOL_FEATURES & (1L << 12)).isNotZero();
    }

    @Test
    void aRegionIsUsedByTheRingsOfItsQueueSizeOnly() throws Exception {
        features();
        FrontendRequestHandler.InflightAnswer a = handler.getInflightFd(2, 16);
        handler.setInflightFd(a.payload(), a.fd());
        ring(0, 16);
        handler.setVringKick(0, new OwnedFd(Linux.eventfd(Linux.EFD_CLOEXEC)));
        handler.setVringEnable(0, true);
        assertThatThrownBy(() -> handler.setInflightFd(new InflightPayload(2 * PART, 0, 2, 16), memfd(2 * PART)))
                .isInstanceOf(Refusal.class)
                .hasMessage("SET_INFLIGHT_FD while queue 0 is started (stop the rings with GET_VRING_BASE first)");
        ring(1, 8);
        handler.setVringEnable(1, true);
        assertThatThrownBy(() -> handler.setVringKick(1, new OwnedFd(Linux.eventfd(Linux.EFD_CLOEXEC))))
                .isInstanceOf(Refusal.class).hasMessage("queue 1: inflight region: ring size 8 is not the region's queue_size 16");
    }

    @Test
    void hostileRegionsAreRefusedNamingTheProblem() throws Exception {
        String head = "SET_INFLIGHT_FD (mmap_offset 0x0, mmap_size 0x280, num_queues 2, queue_size 16)";
        InflightPayload good = new InflightPayload(2 * PART, 0, 2, 16);
        int[] pipe = Linux.pipe();
        try (OwnedFd write = new OwnedFd(pipe[1])) {
            assertThatThrownBy(() -> handler.setInflightFd(good, new OwnedFd(pipe[0]))).isInstanceOf(Refusal.class)
                    .hasMessageStartingWith(head + ": its fd (a pipe").hasMessageEndingWith("is not a regular file or memfd");
        }
        assertThatThrownBy(() -> handler.setInflightFd(good, memfd(PART))).isInstanceOf(Refusal.class)
                .hasMessage(head + " reaches past the end of its fd (fd size 0x140)");
        assertThatThrownBy(() -> handler.setInflightFd(new InflightPayload(PART, 0, 2, 16), memfd(2 * PART)))
                .isInstanceOf(Refusal.class).hasMessageContaining("mmap_size must be 0x280..");
        assertThatThrownBy(() -> handler.setInflightFd(new InflightPayload(3 * PART, 0, 3, 16), memfd(3 * PART)))
                .isInstanceOf(Refusal.class).hasMessageEndingWith("num_queues 3 is not in 1..2 (GET_QUEUE_NUM)");
        assertThatThrownBy(() -> handler.setInflightFd(new InflightPayload(2 * PART, 0, 2, 0), memfd(1 << 20)))
                .isInstanceOf(Refusal.class).hasMessageEndingWith("queue_size 0 is not in 1..32768");
        assertThatThrownBy(() -> handler.getInflightFd(0, 16)).isInstanceOf(Refusal.class)
                .hasMessage("GET_INFLIGHT_FD: num_queues 0 is not in 1..2 (GET_QUEUE_NUM)");

        OwnedFd bad = memfd(2 * PART);
        try (SharedMemory m = SharedMemory.map(bad.fd(), 0, 2 * PART)) {
            ValueLayout.OfShort le16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
            m.segment().set(le16, PART + 8, (short) 1); // queue 1: version 1, desc_num 4
            m.segment().set(le16, PART + 10, (short) 4);
        }
        assertThatThrownBy(() -> handler.setInflightFd(good, bad)).isInstanceOf(Refusal.class)
                .hasMessage(head + ": queue 1: desc_num 4 is not the queue size 16");
        assertThat(bad.fd()).isEqualTo(-1); // closed with the refusal
    }

    /** With VIRTIO_F_RING_PACKED acked the region has the packed layout: sized by the back-end, checked by field. */
    @Test
    void packedRingsGetAndCheckThePackedLayout() throws Exception {
        handler.setProtocolFeatures(BackendHandler.PROTOCOL_FEATURES);
        handler.setFeatures(VirtioFeatures.bit(VirtioFeatures.F_VERSION_1) | VirtioFeatures.bit(VirtioFeatures.F_RING_PACKED)
                | VhostFeatures.bit(VhostFeatures.F_PROTOCOL_FEATURES));
        long part = com.vhost.spi.memory.InflightPackedRegion.queueBytes(16);
        FrontendRequestHandler.InflightAnswer a = handler.getInflightFd(2, 16);
        assertThat(a.payload()).isEqualTo(new InflightPayload(2 * part, 0, 2, 16));
        handler.setInflightFd(a.payload(), a.fd());
        // a split-sized region is too small for packed rings
        assertThatThrownBy(() -> handler.setInflightFd(new InflightPayload(2 * PART, 0, 2, 16), memfd(2 * PART)))
                .isInstanceOf(Refusal.class).hasMessageContaining("mmap_size must be 0x480..");
        OwnedFd bad = memfd(2 * part);
        try (SharedMemory m = SharedMemory.map(bad.fd(), 0, 2 * part)) {
            ValueLayout.OfShort le16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
            m.segment().set(le16, part + 8, (short) 1); // queue 1: version 1, desc_num 16, wrap counter 2
            m.segment().set(le16, part + 10, (short) 16);
            m.segment().set(ValueLayout.JAVA_BYTE, part + 20, (byte) 2);
        }
        assertThatThrownBy(() -> handler.setInflightFd(new InflightPayload(2 * part, 0, 2, 16), bad)).isInstanceOf(Refusal.class)
                .hasMessageEndingWith("queue 1: used_wrap_counter 2 is not 0 or 1");
    }

    /**
     * This project's drivers ask for the region before SET_FEATURES on their first start: it is
     * sized for either layout, mapped by the features of then (split), and cut again for the
     * packed layout when the packed rings start (the ring would be refused with a part of the
     * split layout).
     */
    @Test
    void aRegionHandedOverBeforePackedFeaturesIsCutForThemWhenTheRingsStart() throws Exception {
        handler.setProtocolFeatures(BackendHandler.PROTOCOL_FEATURES);
        FrontendRequestHandler.InflightAnswer a = handler.getInflightFd(2, 16);
        long size = a.payload().mmapSize();
        assertThat(size).isEqualTo(2 * com.vhost.spi.memory.InflightPackedRegion.queueBytes(16));
        handler.setInflightFd(a.payload(), a.fd());
        handler.setFeatures(VirtioFeatures.bit(VirtioFeatures.F_VERSION_1) | VirtioFeatures.bit(VirtioFeatures.F_RING_PACKED)
                | VhostFeatures.bit(VhostFeatures.F_PROTOCOL_FEATURES));
        handler.setMemTable(List.of(new MemRegionPayload(0, MEM, USER, 0)), List.of(memfd(MEM)));
        handler.setVringNum(0, 16);
        handler.setVringAddr(new VringAddr(0, 0, USER, USER + 0x2000, USER + 0x1000, 0));
        handler.setVringBase(0, 0x8000);
        handler.setVringKick(0, new OwnedFd(Linux.eventfd(Linux.EFD_CLOEXEC)));
        // accepted: the region was cut again for the packed layout (mapped split, it would be refused)
        handler.setVringEnable(0, true);
        assertThat(handler.getVringBase(0)).isEqualTo(0x8003_8003); // the recording model reports base + 3
    }
}
