package com.vhost.devices.net.driver;

import com.vhost.api.net.VirtioNet;
import com.vhost.api.virtio.VirtqueueConfig;
import com.vhost.spi.nativeio.Linux;
import com.vhost.spi.testing.TestRingDriver;
import com.vhost.spi.testing.TestRingDriver.Buf;
import com.vhost.spi.testing.VirtioDeviceLifecycleTest;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;

/**
 * The shared life-cycle suite for {@link VirtioNetFrontend} (one queue pair: rx 0, tx 1, ctrl 2)
 * on a kernel data path. A request on the transmit queue is one broadcast frame (12-byte
 * header + 60 bytes), which completes whatever happens to it next; on the control queue it is an
 * RX PROMISC command with its ack byte, served by the front-end itself; on the receive queue it is
 * one posted 2048-byte buffer, and since a receive buffer completes only when a frame arrives, the
 * subclass makes one arrive ({@link #feedReceive}).
 */
abstract class NetFrontendLifecycleSupport extends VirtioDeviceLifecycleTest {
    static final int FRAME = 60;
    private List<TestRingDriver> drivers = List.of();
    private List<VirtqueueConfig> queues = List.of();

    /** Makes one frame arrive for the receive buffer just posted on {@code rx}. */
    protected abstract void feedReceive(TestRingDriver rx) throws Exception;

    @Override
    protected void ringsLaidOut(List<TestRingDriver> drivers, List<VirtqueueConfig> queues) {
        this.drivers = drivers;
        this.queues = queues;
    }

    /** @return the transmit ring laid out with {@code rx}, and its kick fd */
    protected TestRingDriver txBeside(TestRingDriver rx) {
        if (drivers.isEmpty() || drivers.get(VirtioNet.rxQueue(0)) != rx) {
            throw new IllegalStateException("receive ring not from the last layout");
        }
        return drivers.get(VirtioNet.txQueue(0));
    }

    protected int txKickFd() {
        return queues.get(VirtioNet.txQueue(0)).kickFd();
    }

    /** Writes the 8-byte value 1 to eventfd {@code fd}. */
    protected static void kick(int fd) throws Exception {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment one = a.allocate(ValueLayout.JAVA_LONG);
            one.set(ValueLayout.JAVA_LONG, 0, 1L);
            Linux.write(fd, one, 8);
        }
    }

    /** The broadcast test frame (ethertype 0x88B5) without virtio-net header. */
    static byte[] frame() {
        byte[] f = new byte[FRAME];
        java.util.Arrays.fill(f, 0, 6, (byte) 0xFF);
        f[6] = 0x02;
        f[11] = 0x01;
        f[12] = (byte) 0x88;
        f[13] = (byte) 0xB5;
        return f;
    }

    /** Submits one transmit chain: a zero virtio-net header and {@link #frame()}. */
    static void submitTxFrame(TestRingDriver tx) {
        long buf = tx.alloc(VirtioNet.HDR_SIZE + FRAME);
        MemorySegment m = tx.at(buf, VirtioNet.HDR_SIZE + FRAME);
        m.fill((byte) 0);
        MemorySegment.copy(frame(), 0, m, ValueLayout.JAVA_BYTE, VirtioNet.HDR_SIZE, FRAME);
        tx.submit(new Buf(buf, VirtioNet.HDR_SIZE + FRAME, false));
    }

    @Override
    protected void submitRequest(TestRingDriver driver) throws Exception {
        int index = driver.config(-1, -1).index();
        if (index == VirtioNet.rxQueue(0)) {
            long buf = driver.alloc(2048);
            driver.submit(new Buf(buf, 2048, true));
            feedReceive(driver);
        } else if (index == VirtioNet.txQueue(0)) {
            submitTxFrame(driver);
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
}
