package com.vhost.devices.net.driver;

import static org.assertj.core.api.Assertions.assertThat;

import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.api.VhostTarget;
import com.vhost.api.net.VirtioNet;
import com.vhost.api.virtio.VirtioDevice;
import com.vhost.devices.net.model.LoopbackNetModel;
import com.vhost.spi.nativeio.EventFd;
import com.vhost.spi.testing.TestRingDriver.Buf;
import com.vhost.spi.testing.TestRingDriver;
import com.vhost.spi.testing.VirtioDeviceLifecycleTest;
import com.vhost.spi.vhost.GenericVhostDevice;
import com.vhost.user.VhostUserOps;
import com.vhost.user.backend.VhostUserServer;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link VirtioNetFrontend} passes the shared life-cycle test over a real back-end: each device
 * is a front-end connected through a vhost-user socket to its own {@link VhostUserServer} serving
 * a {@link LoopbackNetModel} in this JVM. Its queues are rx0, tx0 (run by the back-end; sleep and
 * wake go through GET_VRING_BASE / SET_VRING_BASE) and the control queue (run by the front-end).
 * A request is: on rx0 one posted receive buffer, filled by a frame the model injects from the
 * host side; on tx0 one frame (header + 60 bytes), consumed whether or not a receive buffer waits;
 * on the control queue an RX PROMISC command, acknowledged with VIRTIO_NET_OK.
 */
class VirtioNetFrontendLifecycleTest extends VirtioDeviceLifecycleTest {
    private static final byte[] MAC = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};

    /** What one device is made of, closed in reverse order. */
    private record Parts(LoopbackNetModel model, VhostUserServer server, GenericVhostDevice vhost) {}

    private final Map<VirtioDevice, Parts> parts = new IdentityHashMap<>();
    @TempDir
    Path dir;
    private int sockets;
    /** The model behind the device made last: the one the suite sends requests to. */
    private LoopbackNetModel current;

    @Override
    protected VirtioDevice createDevice() throws Exception {
        Path sock = dir.resolve("net" + sockets++ + ".sock");
        LoopbackNetModel model = new LoopbackNetModel(1, 256, MAC, 1500);
        VhostUserServer server = new VhostUserServer(sock, model);
        GenericVhostDevice vhost = null;
        try {
            server.start();
            vhost = new GenericVhostDevice(new VhostUserOps().open(VhostTarget.of(sock.toString())), 2);
            VirtioNetFrontend fe = new VirtioNetFrontend(vhost, 1, 256, MAC);
            parts.put(fe, new Parts(model, server, vhost));
            current = model;
            return fe;
        } catch (Exception | Error e) {
            if (vhost != null) {
                vhost.close();
            }
            server.close();
            model.close();
            throw e;
        }
    }

    @Override
    protected void releaseDevice(VirtioDevice device) {
        Parts p = parts.remove(device);
        p.vhost().close();
        p.server().close();
        p.model().close();
    }

    @Override
    protected void submitRequest(TestRingDriver driver) {
        int index = driver.config(-1, -1).index();
        if (index == VirtioNet.rxQueue(0)) {
            long buf = driver.alloc(2048);
            driver.submit(new Buf(buf, 2048, true));
            byte[] frame = new byte[60];
            java.util.Arrays.fill(frame, 0, 6, (byte) 0xFF);
            frame[12] = (byte) 0x88;
            frame[13] = (byte) 0xB5;
            if (!current.inject(0, frame)) {
                throw new IllegalStateException("the loopback model refused the injected frame");
            }
        } else if (index == VirtioNet.txQueue(0)) {
            long buf = driver.alloc(VirtioNet.HDR_SIZE + 60);
            MemorySegment m = driver.at(buf, VirtioNet.HDR_SIZE + 60);
            m.fill((byte) 0);
            m.set(ValueLayout.JAVA_BYTE, VirtioNet.HDR_SIZE + 12, (byte) 0x88);
            driver.submit(new Buf(buf, VirtioNet.HDR_SIZE + 60, false));
        } else {
            long cmd = driver.alloc(VirtioNet.CTRL_HDR_SIZE + 1);
            MemorySegment c = driver.at(cmd, VirtioNet.CTRL_HDR_SIZE + 1);
            c.set(ValueLayout.JAVA_BYTE, 0, (byte) VirtioNet.CTRL_RX);
            c.set(ValueLayout.JAVA_BYTE, 1, (byte) VirtioNet.CTRL_RX_PROMISC);
            c.set(ValueLayout.JAVA_BYTE, 2, (byte) 1);
            long ack = driver.alloc(1);
            driver.at(ack, 1).set(ValueLayout.JAVA_BYTE, 0, (byte) 0x7F);
            driver.submit(new Buf(cmd, VirtioNet.CTRL_HDR_SIZE + 1, false), new Buf(ack, 1, true));
        }
    }

    /**
     * virtio-net state beyond the shared suite: RX PROMISC set through the control queue is in
     * the snapshot, and a fresh device restored from it has it on (and snapshots equal).
     */
    @Test
    void rxModeSetThroughTheControlQueueTravelsInTheSnapshot() throws Exception {
        VirtioNetFrontend dev = (VirtioNetFrontend) createDevice();
        VirtioNetFrontend fresh = null;
        try (EventFd kick = EventFd.create()) {
            dev.ackFeatures(dev.features() & ~VirtioFeatures.bit(VirtioFeatures.F_RING_PACKED)); // split rings here
            TestRingDriver ctrl = new TestRingDriver(memory, VirtioNet.ctrlQueue(1), VirtioNetFrontend.CTRL_QUEUE_SIZE,
                    GUEST_BASE, 0x100000);
            dev.activate(memory, interrupt, List.of(ctrl.config(kick.fd(), -1)));
            assertThat(dev.promiscuous()).isFalse();
            long cmd = ctrl.alloc(VirtioNet.CTRL_HDR_SIZE + 1);
            MemorySegment c = ctrl.at(cmd, VirtioNet.CTRL_HDR_SIZE + 1);
            c.set(ValueLayout.JAVA_BYTE, 0, (byte) VirtioNet.CTRL_RX);
            c.set(ValueLayout.JAVA_BYTE, 1, (byte) VirtioNet.CTRL_RX_PROMISC);
            c.set(ValueLayout.JAVA_BYTE, 2, (byte) 1);
            long ack = ctrl.alloc(1);
            ctrl.at(ack, 1).set(ValueLayout.JAVA_BYTE, 0, (byte) 0x7F);
            ctrl.submit(new Buf(cmd, VirtioNet.CTRL_HDR_SIZE + 1, false), new Buf(ack, 1, true));
            kick.signal();
            assertThat(ctrl.awaitUsed(1, 5000)).as("control command completed").isTrue();
            assertThat(ctrl.at(ack, 1).get(ValueLayout.JAVA_BYTE, 0)).isEqualTo((byte) VirtioNet.CTRL_OK);
            assertThat(dev.promiscuous()).isTrue();
            dev.sleep();
            byte[] s = dev.snapshot();

            fresh = (VirtioNetFrontend) createDevice();
            fresh.sleep();
            fresh.restore(s);
            assertThat(fresh.promiscuous()).as("RX PROMISC restored").isTrue();
            assertThat(fresh.allMulticast()).isFalse();
            assertThat(fresh.snapshot()).isEqualTo(s);
        } finally {
            releaseDevice(dev);
            if (fresh != null) {
                releaseDevice(fresh);
            }
        }
    }
}
