package com.vhost.devices.net.driver;

import com.vhost.api.VhostException;
import com.vhost.api.VhostTimeoutException;
import com.vhost.api.VirtioDeviceException;
import com.vhost.api.VirtqueueException;
import com.vhost.api.net.VirtioNet;
import com.vhost.api.virtio.VirtqueueConfig;
import com.vhost.spi.nativeio.EventFd;
import com.vhost.spi.virtqueue.DriverQueue;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.function.Supplier;

/**
 * The driver side of the virtio-net control virtqueue (VIRTIO 1.2, 5.1.6.5): one command at a
 * time in a command buffer ({@code u8 class; u8 command; data}, then the device-writable
 * {@code u8 ack}), served by the front-end in process ({@link NetControl}). The caller serialises
 * commands (the driver's swap lock).
 */
final class NetControlQueue {
    final DriverQueue ring;
    final EventFd kick;
    final EventFd call;
    private final MemorySegment buf;
    private final long gpa;
    private final long[] addrs = new long[2];
    private final int[] lens = new int[2];

    /**
     * @param buf the command buffer, at least {@link VirtioNetFrontend#CTRL_MAX_BYTES} + 1 bytes
     * @param gpa its guest-physical address
     */
    NetControlQueue(DriverQueue ring, EventFd kick, EventFd call, MemorySegment buf, long gpa) {
        this.ring = ring;
        this.kick = kick;
        this.call = call;
        this.buf = buf;
        this.gpa = gpa;
    }

    /** @return the config that starts the queue at {@code base} (its avail index when negative) */
    VirtqueueConfig config(int base) {
        return new VirtqueueConfig(ring.index(), VirtioNetFrontend.CTRL_QUEUE_SIZE, ring.descGpa(), ring.availGpa(),
                ring.usedGpa(), base >= 0 ? base : ring.availIdx(), kick.fd(), call.fd(), true);
    }

    /**
     * Places one command, kicks, and waits at most {@value VirtioNetDriver#CTRL_TIMEOUT_MS} ms
     * for the device's ack.
     *
     * @param failure the driver's failure (ends the wait), or null
     * @param lastError the device's reason for an ERR ack
     * @throws VirtqueueException when the queue is full
     * @throws VhostTimeoutException when no ack came in time
     * @throws VirtioDeviceException when the device acked ERR, with its reason
     */
    void send(int cls, int cmd, byte[] data, String what, Supplier<VhostException> failure, Supplier<String> lastError)
            throws VhostException {
        buf.set(ValueLayout.JAVA_BYTE, 0, (byte) cls);
        buf.set(ValueLayout.JAVA_BYTE, 1, (byte) cmd);
        MemorySegment.copy(MemorySegment.ofArray(data), 0, buf, 2, data.length);
        long ackOff = VirtioNetFrontend.CTRL_MAX_BYTES;
        buf.set(ValueLayout.JAVA_BYTE, ackOff, (byte) 0xFF);
        addrs[0] = gpa;
        lens[0] = 2 + data.length;
        addrs[1] = gpa + ackOff;
        lens[1] = 1;
        if (ring.add(addrs, lens, 1, 1, 1) < 0) {
            throw new VirtqueueException(ring.index(), what + ": control queue full");
        }
        if (ring.kickNeeded()) {
            kick.signal();
        }
        long deadline = System.nanoTime() + VirtioNetDriver.CTRL_TIMEOUT_MS * 1_000_000L;
        while (!ring.hasUsed()) {
            if (System.nanoTime() - deadline >= 0) {
                throw new VhostTimeoutException(what + ": no answer on the control queue within "
                        + VirtioNetDriver.CTRL_TIMEOUT_MS + " ms");
            }
            call.await(50);
            VhostException f = failure.get();
            if (f != null) {
                throw f;
            }
        }
        ring.pollUsed((t, l) -> { });
        int ack = Byte.toUnsignedInt(buf.get(ValueLayout.JAVA_BYTE, ackOff));
        if (ack != VirtioNet.CTRL_OK) {
            throw new VirtioDeviceException(what + " refused by the device (ack " + ack + "): " + lastError.get());
        }
    }

    void closeFds() {
        kick.close();
        call.close();
    }
}
