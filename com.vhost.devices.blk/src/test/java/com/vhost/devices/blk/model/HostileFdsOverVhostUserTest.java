package com.vhost.devices.blk.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.vhost.api.VhostRefusedException;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.spi.nativeio.EventFd;
import com.vhost.spi.nativeio.Linux;
import com.vhost.spi.nativeio.OwnedFd;
import com.vhost.spi.nativeio.UnixSocket;
import com.vhost.user.backend.VhostUserServer;
import com.vhost.user.testing.CanaryGuest;
import com.vhost.user.testing.StatusFrontEnd;
import com.vhost.user.testing.TestRing;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Front-ends that hand the blk back-end kick, call and error fds that are not eventfds, over a
 * real vhost-user socket (issue #10): a pipe nobody reads as call fd, a pipe as error fd, a pipe
 * at end-of-file, a memfd and a regular file as kick fd, a socket as call fd. Each is refused
 * (REPLY_ACK negotiated: the front-end sees the refusal and the session goes on), the same session
 * then does I/O with eventfds, the worker does not spin, the session ends promptly when the
 * front-end goes, and a fresh front-end is served. A call eventfd whose counter the front-end
 * filled to the maximum (and left blocking) does not block the worker either.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class HostileFdsOverVhostUserTest {
    private static final int MEM = 1 << 20;

    @TempDir
    Path dir;

    private FileBlockModel blk;
    private VhostUserServer server;
    private long sessions;

    @BeforeEach
    void serve() throws Exception {
        blk = FileBlockModel.inMemory(MEM, 1, 64);
        server = new VhostUserServer(dir.resolve("blk.sock"), blk);
        server.start();
    }

    @AfterEach
    void close() throws Exception {
        server.close();
        blk.close();
    }

    /** A front-end with REPLY_ACK, memory and queue 0's layout set, its kick and call not yet. */
    private CanaryGuest guest() throws Exception {
        return new CanaryGuest(server.socketPath(), VirtioFeatures.bit(VirtioFeatures.F_VERSION_1));
    }

    /** One GET_ID request on {@code g}'s queue 0; waits (bounded) for its completion by polling the used ring. */
    private static void request(CanaryGuest g, EventFd kick) throws Exception {
        TestRing ring = g.ring;
        MemorySegment m = g.memory();
        long hdr = ring.buffer(0);
        m.set(TestRing.LE32, hdr, 8); // VIRTIO_BLK_T_GET_ID
        m.set(ValueLayout.JAVA_BYTE, ring.buffer(2), (byte) 0xFF);
        ring.descriptor(0, hdr, 16, 1, 1);
        ring.descriptor(1, ring.buffer(1), 20, 1 | 2, 2);
        ring.descriptor(2, ring.buffer(2), 1, 2, 0);
        int before = ring.usedIdx();
        ring.publish(0);
        kick.signal();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (ring.usedIdx() == before) {
            assertThat(System.nanoTime()).as("request completed within 5 s").isLessThan(deadline);
            Thread.sleep(1);
        }
        assertThat(m.get(ValueLayout.JAVA_BYTE, ring.buffer(2))).as("status OK").isZero();
    }

    /** The front-end went: its session ends within 5 s. */
    private void sessionEnds() throws Exception {
        sessions++;
        assertThat(server.awaitSessionsEnded(sessions, 5000)).as("session " + sessions + " ended within 5 s").isTrue();
    }

    /** CPU time the blk worker thread spends over 300 ms, in ms. */
    private static long workerCpuMsOver300ms() throws InterruptedException {
        ThreadMXBean mx = ManagementFactory.getThreadMXBean();
        Thread worker = Thread.getAllStackTraces().keySet().stream().filter(t -> t.getName().startsWith("vhost-blk-") && t.isAlive())
                .findFirst().orElseThrow(() -> new AssertionError("no blk worker thread"));
        long before = mx.getThreadCpuTime(worker.threadId());
        Thread.sleep(300);
        return (mx.getThreadCpuTime(worker.threadId()) - before) / 1_000_000;
    }

    /**
     * {@code refused} is tried (it must be refused), then the same session runs queue 0 on
     * eventfds and does I/O, the worker idles, the front-end goes and its session ends.
     */
    private void refusedThenServed(ThrowingConsumer<CanaryGuest> refused, String request) throws Exception {
        try (CanaryGuest g = guest(); EventFd kick = EventFd.create(); EventFd call = EventFd.create()) {
            assertThatThrownBy(() -> refused.accept(g)).isInstanceOf(VhostRefusedException.class).hasMessageContaining(request);
            StatusFrontEnd.startQueue0(g.fe, kick.fd(), call.fd());
            request(g, kick);
            request(g, kick);
            assertThat(workerCpuMsOver300ms()).as("worker CPU time over 300 ms").isLessThan(60);
        }
        sessionEnds();
    }

    @FunctionalInterface
    private interface ThrowingConsumer<T> {
        void accept(T t) throws Exception;
    }

    private static OwnedFd[] pipe() throws Exception {
        int[] p = Linux.pipe();
        return new OwnedFd[] {new OwnedFd(p[0]), new OwnedFd(p[1])};
    }

    /** After every hostile session: a fresh, well-behaved front-end is served. */
    private void freshFrontEndServed() throws Exception {
        try (CanaryGuest g = guest(); EventFd kick = EventFd.create(); EventFd call = EventFd.create()) {
            StatusFrontEnd.startQueue0(g.fe, kick.fd(), call.fd());
            request(g, kick);
            assertThat(call.await(1000)).as("the call eventfd was written").isTrue();
        }
        sessionEnds();
    }

    @Test
    void aCallFdThatIsAPipeNobodyReadsIsRefused() throws Exception {
        OwnedFd[] p = pipe();
        try (OwnedFd r = p[0]; OwnedFd w = p[1]) {
            refusedThenServed(g -> g.fe.setVringCall(0, w.fd()), "SET_VRING_CALL");
        }
        freshFrontEndServed();
    }

    @Test
    void anErrFdThatIsAPipeIsRefused() throws Exception {
        OwnedFd[] p = pipe();
        try (OwnedFd r = p[0]; OwnedFd w = p[1]) {
            refusedThenServed(g -> g.fe.setVringErr(0, w.fd()), "SET_VRING_ERR");
        }
        freshFrontEndServed();
    }

    @Test
    void aKickFdThatIsAPipeWhoseWriterClosedIsRefused() throws Exception {
        OwnedFd[] p = pipe();
        p[1].close();
        try (OwnedFd r = p[0]; EventFd call = EventFd.create()) {
            refusedThenServed(g -> {
                g.fe.setVringCall(0, call.fd());
                g.fe.setVringKick(0, r.fd());
            }, "SET_VRING_KICK");
        }
        freshFrontEndServed();
    }

    @Test
    void aKickFdThatIsAMemfdOrARegularFileIsRefused() throws Exception {
        try (OwnedFd memfd = new OwnedFd(Linux.memfdCreate("kick"))) {
            refusedThenServed(g -> g.fe.setVringKick(0, memfd.fd()), "SET_VRING_KICK");
        }
        Path file = Files.writeString(dir.resolve("kick"), "not an eventfd");
        try (OwnedFd f = new OwnedFd(Linux.open(file.toString(), Linux.O_RDWR))) {
            refusedThenServed(g -> g.fe.setVringKick(0, f.fd()), "SET_VRING_KICK");
        }
        freshFrontEndServed();
    }

    @Test
    void aCallFdThatIsASocketIsRefused() throws Exception {
        UnixSocket[] pair = UnixSocket.pair();
        try (UnixSocket a = pair[0]; UnixSocket b = pair[1]) {
            refusedThenServed(g -> g.fe.setVringCall(0, a.fd()), "SET_VRING_CALL");
        }
        freshFrontEndServed();
    }

    @Test
    void aBlockingCallEventFdAtItsMaximumCountDoesNotBlockTheWorker() throws Exception {
        try (OwnedFd call = new OwnedFd(Linux.eventfd(Linux.EFD_CLOEXEC)); CanaryGuest g = guest(); EventFd kick = EventFd.create()) {
            MemorySegment max = Arena.ofAuto().allocate(8, 8);
            max.set(ValueLayout.JAVA_LONG, 0, 0xFFFF_FFFF_FFFF_FFFEL); // the largest count: one more write would block
            assertThat(Linux.write(call.fd(), max, 8)).isEqualTo(8);
            StatusFrontEnd.startQueue0(g.fe, kick.fd(), call.fd());
            for (int i = 0; i < 20; i++) {
                request(g, kick);
            }
            assertThat(workerCpuMsOver300ms()).as("worker CPU time over 300 ms").isLessThan(60);
        }
        sessionEnds();
        freshFrontEndServed();
    }
}
