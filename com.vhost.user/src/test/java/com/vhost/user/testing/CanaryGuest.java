package com.vhost.user.testing;

import static org.assertj.core.api.Assertions.assertThat;

import com.vhost.api.user.VhostUserBackend;
import com.vhost.api.user.VhostUserProtocolFeature;
import com.vhost.api.virtio.DeviceStatus;
import com.vhost.spi.nativeio.EventFd;
import com.vhost.spi.nativeio.Linux;
import com.vhost.spi.nativeio.SharedMemory;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A hand-driven vhost-user front-end for hostile-driver tests: 1 MiB of memfd guest memory at
 * guest address 0 filled with a canary pattern, queue 0 of 16 entries laid out as {@link TestRing}
 * (descriptors at 0, avail at 0x1000, used at 0x2000; zeroed), kick, call and error eventfds. A
 * test writes descriptors and buffers, declares what the device may write ({@link #mayWrite}),
 * {@link #seal seals} (memory is snapshotted), publishes and kicks; afterwards {@link
 * #assertCanaries} checks that no other byte changed: only the used ring's flags, and its index
 * and first element when the request was completed. Negotiates STATUS, REPLY_ACK and
 * RESET_DEVICE, so a refusal reaches the test as a {@code VhostRefusedException}, GET_STATUS shows
 * DEVICE_NEEDS_RESET and {@link #resetDevice} can recover from it.
 */
public final class CanaryGuest implements AutoCloseable {
    /** Guest memory size, bytes. */
    public static final int MEM = 1 << 20;
    /** Queue 0's size, descriptors. */
    public static final int QUEUE_SIZE = 16;

    public final VhostUserBackend fe;
    public final SharedMemory mem;
    /** Queue 0's ring; a new one after {@link #resetDevice}. */
    public TestRing ring;
    public final EventFd kick;
    public final EventFd call;
    public final EventFd err;
    private final List<long[]> writable = new ArrayList<>();
    private final long features;
    private byte[] sealed;
    private boolean disconnected;

    /**
     * Connects to {@code socket}, negotiates {@code features} with STATUS, REPLY_ACK and
     * RESET_DEVICE ({@link StatusFrontEnd#negotiate}) and lays out queue 0; the ring is not started
     * yet ({@link #start}). Everything is closed again when a step fails.
     */
    public CanaryGuest(Path socket, long features) throws Exception {
        this.features = features;
        fe = FaultyBackends.connect(socket);
        SharedMemory m = null;
        EventFd k = null;
        EventFd c = null;
        EventFd e = null;
        try {
            m = SharedMemory.create("canary-guest", MEM);
            k = EventFd.create();
            c = EventFd.create();
            e = EventFd.create();
        } catch (Exception | Error x) {
            for (AutoCloseable a : new AutoCloseable[] {e, c, k, m, fe}) {
                if (a != null) {
                    a.close();
                }
            }
            throw x;
        }
        mem = m;
        kick = k;
        call = c;
        err = e;
        ring = new TestRing(mem.segment(), 0, QUEUE_SIZE, 0);
        MemorySegment g = mem.segment();
        for (long i = 0; i < MEM; i++) {
            g.set(ValueLayout.JAVA_BYTE, i, canary(i));
        }
        zeroRing();
        try {
            StatusFrontEnd.negotiate(fe, mem, VhostUserProtocolFeature.RESET_DEVICE.mask(), features);
            StatusFrontEnd.layQueue0(fe, mem, ring);
        } catch (Exception | Error x) {
            close();
            throw x;
        }
    }

    private void zeroRing() {
        MemorySegment g = mem.segment();
        g.asSlice(ring.desc(), 16L * QUEUE_SIZE).fill((byte) 0);
        g.asSlice(ring.avail(), 6 + 2L * QUEUE_SIZE).fill((byte) 0);
        g.asSlice(ring.used(), 6 + 8L * QUEUE_SIZE).fill((byte) 0);
    }

    /**
     * What a driver does after DEVICE_NEEDS_RESET (VIRTIO 1.2 section 2.1.2), as QEMU's vhost-user
     * front-end carries it out: GET_VRING_BASE (the ring stops), RESET_DEVICE, SET_STATUS 0; then
     * SET_FEATURES again and queue 0 laid out afresh (a zeroed ring from index 0); {@link #start}
     * starts it.
     */
    public void resetDevice() throws Exception {
        fe.getVringBase(0);
        fe.resetDevice();
        fe.setStatus(0);
        ring = new TestRing(mem.segment(), 0, QUEUE_SIZE, 0);
        zeroRing();
        writable.clear();
        fe.setFeatures(features);
        StatusFrontEnd.layQueue0(fe, mem, ring);
    }

    /** The canary byte at guest address {@code gpa}. */
    public static byte canary(long gpa) {
        return (byte) (0x5A ^ gpa ^ (gpa >>> 8) * 13);
    }

    /** SET_VRING_ERR, CALL, KICK and ENABLE of queue 0 with this guest's eventfds, then DRIVER_OK. */
    public void start() throws Exception {
        fe.setVringErr(0, err.fd());
        StatusFrontEnd.startQueue0(fe, kick.fd(), call.fd());
        StatusFrontEnd.driverOk(fe);
    }

    /** @return the guest memory */
    public MemorySegment memory() {
        return mem.segment();
    }

    /** The device may write {@code [gpa, gpa + len)} (a data-in buffer, a status byte). */
    public void mayWrite(long gpa, long len) {
        writable.add(new long[] {gpa, len});
    }

    /** Forgets the {@link #mayWrite} ranges declared so far. */
    public void clearMayWrite() {
        writable.clear();
    }

    /** Snapshots guest memory: what {@link #assertCanaries} compares against. */
    public void seal() {
        sealed = mem.segment().toArray(ValueLayout.JAVA_BYTE);
    }

    /** Makes chain {@code head} available (the snapshot follows the avail ring) and kicks. */
    public void publishAndKick(int head) throws Exception {
        ring.publish(head);
        resealAvail();
        kick.signal();
    }

    /** Writes avail {@code idx} = {@code idx} directly (no ring entry), then kicks. */
    public void availIdxAndKick(int idx) throws Exception {
        mem.segment().set(TestRing.LE16, ring.avail() + 2, (short) idx);
        resealAvail();
        kick.signal();
    }

    private void resealAvail() {
        long a = ring.avail();
        for (long i = a; i < a + 4 + 2L * QUEUE_SIZE; i++) {
            sealed[(int) i] = mem.segment().get(ValueLayout.JAVA_BYTE, i);
        }
    }

    /** Shrinks the guest memory's memfd to {@code bytes} (what lies beyond then faults). */
    public void shrink(long bytes) throws Exception {
        Linux.ftruncate(mem.fd(), bytes);
    }

    /** Shrinks guest memory to its lower half, then publishes chain {@code head} and kicks. */
    public void shrinkHalfAndKick(int head) throws Exception {
        shrink(MEM / 2);
        publishAndKick(head);
    }

    /** Waits (bounded) until the used index reaches {@code n}; fails otherwise. */
    public void awaitUsed(int n, int seconds) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (ring.usedIdx() != n) {
            assertThat(System.nanoTime()).as("used idx %d within %d s (now %d)", n, seconds, ring.usedIdx())
                    .isLessThan(deadline);
            call.await(20);
        }
    }

    /** @return the id of used element {@code slot} */
    public int usedId(int slot) {
        return mem.segment().get(TestRing.LE32, ring.used() + 4 + 8L * slot);
    }

    /** @return the len of used element {@code slot} */
    public int usedLen(int slot) {
        return mem.segment().get(TestRing.LE32, ring.used() + 8 + 8L * slot);
    }

    /** @return whether GET_STATUS shows DEVICE_NEEDS_RESET */
    public boolean needsReset() throws Exception {
        return (fe.getStatus() & DeviceStatus.DEVICE_NEEDS_RESET.bit()) != 0;
    }

    /**
     * Every byte of guest memory below {@code limit} that changed since {@link #seal} is in a
     * {@link #mayWrite} range, the used ring's flags, or (when {@code completed}: one request was
     * completed) its index and first element; without a completion the used index is still 0.
     */
    public void assertCanaries(long limit, boolean completed) {
        assertThat(sealed).as("sealed before the kick").isNotNull();
        MemorySegment g = mem.segment();
        long used = ring.used();
        List<String> changed = new ArrayList<>();
        for (long i = 0; i < limit; i++) {
            byte now = g.get(ValueLayout.JAVA_BYTE, i);
            if (now == sealed[(int) i] || inside(i, used, 2) || completed && inside(i, used + 2, 10)) {
                continue;
            }
            long at = i;
            if (writable.stream().noneMatch(r -> inside(at, r[0], r[1]))) {
                changed.add(String.format("0x%x: 0x%02x -> 0x%02x", i, sealed[(int) i], now));
            }
        }
        assertThat(changed).as("guest memory outside the buffers the device may write").isEmpty();
        if (!completed && limit > used + 4) {
            assertThat(ring.usedIdx()).as("used idx of an uncompleted request").isZero();
        }
    }

    private static boolean inside(long at, long from, long len) {
        return at >= from && at - from < len;
    }

    /** Closes the vhost-user connection (the back-end ends the session); memory stays readable. Idempotent. */
    public void disconnect() throws Exception {
        if (!disconnected) {
            disconnected = true;
            fe.close();
        }
    }

    @Override
    public void close() throws Exception {
        try {
            disconnect();
        } finally {
            kick.close();
            call.close();
            err.close();
            mem.close();
        }
    }
}
