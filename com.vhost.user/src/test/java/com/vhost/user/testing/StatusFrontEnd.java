package com.vhost.user.testing;

import static org.assertj.core.api.Assertions.assertThat;

import com.vhost.api.MemoryRegion;
import com.vhost.api.VringAddr;
import com.vhost.api.user.VhostUserBackend;
import com.vhost.api.user.VhostUserProtocolFeature;
import com.vhost.api.virtio.DeviceStatus;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.spi.nativeio.SharedMemory;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The steps of a hand-driven vhost-user front-end that hostile-input tests share: negotiate
 * VERSION_1 with STATUS and REPLY_ACK, map one memfd as guest memory at guest address 0, lay out
 * and start queue 0 on a {@link TestRing}, and wait for DEVICE_NEEDS_RESET through GET_STATUS.
 */
public final class StatusFrontEnd {
    private StatusFrontEnd() {}

    /**
     * GET_FEATURES, SET_OWNER, protocol features STATUS | REPLY_ACK | {@code extraProtocolFeatures}
     * (of those offered), SET_FEATURES VERSION_1, and the memory table: {@code mem} as one region.
     */
    public static void negotiate(VhostUserBackend fe, SharedMemory mem, long extraProtocolFeatures) throws Exception {
        negotiate(fe, mem, extraProtocolFeatures, VirtioFeatures.bit(VirtioFeatures.F_VERSION_1));
    }

    /** As {@link #negotiate(VhostUserBackend, SharedMemory, long)}, acking {@code features} (VERSION_1 among them). */
    public static void negotiate(VhostUserBackend fe, SharedMemory mem, long extraProtocolFeatures, long features)
            throws Exception {
        fe.getFeatures();
        fe.setOwner();
        long proto = fe.getProtocolFeatures();
        assertThat(VhostUserProtocolFeature.STATUS.in(proto)).as("back-end offers STATUS").isTrue();
        fe.setProtocolFeatures(proto & (VhostUserProtocolFeature.STATUS.mask() | VhostUserProtocolFeature.REPLY_ACK.mask()
                | extraProtocolFeatures));
        fe.setFeatures(features);
        fe.setMemTable(List.of(new MemoryRegion(0, mem.segment().byteSize(), mem.address(), 0, mem.fd())));
    }

    /** SET_VRING_NUM/BASE/ADDR of queue 0 on {@code ring} (16 entries, base 0) in {@code mem}. */
    public static void layQueue0(VhostUserBackend fe, SharedMemory mem, TestRing ring) throws Exception {
        long ua = mem.address();
        fe.setVringNum(0, 16);
        fe.setVringBase(0, 0);
        fe.setVringAddr(new VringAddr(0, 0, ua + ring.desc(), ua + ring.used(), ua + ring.avail(), 0));
    }

    /** SET_VRING_CALL, SET_VRING_KICK and SET_VRING_ENABLE of queue 0. */
    public static void startQueue0(VhostUserBackend fe, int kickFd, int callFd) throws Exception {
        fe.setVringCall(0, callFd);
        fe.setVringKick(0, kickFd);
        fe.setVringEnable(0, true);
    }

    /** All of the above on queue 0, then status ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK. */
    public static void start(VhostUserBackend fe, SharedMemory mem, TestRing ring, int kickFd, int callFd,
            long extraProtocolFeatures) throws Exception {
        negotiate(fe, mem, extraProtocolFeatures);
        layQueue0(fe, mem, ring);
        startQueue0(fe, kickFd, callFd);
        driverOk(fe);
    }

    /** SET_STATUS ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK. */
    public static void driverOk(VhostUserBackend fe) throws Exception {
        fe.setStatus(DeviceStatus.ACKNOWLEDGE.bit() | DeviceStatus.DRIVER.bit() | DeviceStatus.FEATURES_OK.bit()
                | DeviceStatus.DRIVER_OK.bit());
    }

    /** Waits (at most {@code seconds}) until GET_STATUS shows DEVICE_NEEDS_RESET; fails otherwise. */
    public static void awaitNeedsReset(VhostUserBackend fe, int seconds) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while ((fe.getStatus() & DeviceStatus.DEVICE_NEEDS_RESET.bit()) == 0) {
            assertThat(System.nanoTime()).as("DEVICE_NEEDS_RESET within %d s", seconds).isLessThan(deadline);
            Thread.sleep(10);
        }
    }
}
