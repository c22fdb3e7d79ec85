package com.vhost.user.backend;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.vhost.api.MemoryRegion;
import com.vhost.api.VhostException;
import com.vhost.api.VhostRefusedException;
import com.vhost.api.VhostTarget;
import com.vhost.api.VringAddr;
import com.vhost.api.user.VhostUserBackend;
import com.vhost.api.virtio.VirtioDeviceState;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.spi.nativeio.EventFd;
import com.vhost.spi.nativeio.Linux;
import com.vhost.spi.nativeio.SharedMemory;
import com.vhost.user.VhostUserOps;
import com.vhost.user.testing.RecordingDevice;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue #10: a memory region its fd cannot back (past the end of a memfd or a small file, an
 * fd that is no file at all) is refused before it is mapped, with
 * a message naming the region, and leaves no fd or mapping behind; the server goes on serving.
 * Without the check such a region mapped, and the first ring access faulted (SIGBUS). Memory
 * shrunk after it was mapped faults in the session: the session ends, the server goes on.
 */
@Timeout(30)
class HostileGuestMemoryTest {
    private static final long VERSION_1 = VirtioFeatures.bit(VirtioFeatures.F_VERSION_1);
    private static final long MEM = 0x10000;

    @TempDir
    Path dir;
    private Path sock;
    private RecordingDevice device;
    private VhostUserServer server;
    private long sessions;

    @BeforeEach
    void start() throws Exception {
        sock = dir.resolve("vu.sock");
        device = new RecordingDevice(1);
        server = new VhostUserServer(sock, device);
        server.start();
    }

    @AfterEach
    void stop() {
        server.close();
    }

    static long openFds() throws IOException {
        try (Stream<Path> s = Files.list(Path.of("/proc/self/fd"))) {
            return s.count();
        }
    }

    private VhostUserBackend frontEnd() throws Exception {
        VhostUserBackend fe = new VhostUserOps().open(VhostTarget.of(sock.toString()));
        fe.getFeatures();
        fe.setProtocolFeatures(fe.getProtocolFeatures()); // REPLY_ACK: a refusal is answered
        fe.setFeatures(VERSION_1);
        return fe;
    }

    /**
     * Offers {@code bad} with SET_MEM_TABLE and ADD_MEM_REG; expects both refused (the reason is
     * only logged: a vhost-user ack carries no text; MemoryTableTest checks the messages), no
     * leaked fd, and a working next front-end.
     */
    private void assertRefused(MemoryRegion bad) throws Exception {
        long before = openFds();
        try (VhostUserBackend fe = frontEnd()) {
            assertThatThrownBy(() -> fe.setMemTable(List.of(bad))).isInstanceOf(VhostRefusedException.class)
                    .hasMessageContaining("SET_MEM_TABLE");
            assertThatThrownBy(() -> fe.addMemRegion(bad)).isInstanceOf(VhostRefusedException.class)
                    .hasMessageContaining("ADD_MEM_REG");
        }
        assertThat(server.awaitSessionsEnded(++sessions, 5000)).isTrue();
        assertThat(openFds()).as("fds open after the refused front-end left").isEqualTo(before);
        assertServesARing();
    }

    /** A well-behaved front-end after the hostile one: its ring starts and the model touches it. */
    private void assertServesARing() throws Exception {
        try (VhostUserBackend fe = frontEnd(); SharedMemory mem = SharedMemory.create("good", MEM);
                EventFd kick = EventFd.create(); EventFd call = EventFd.create()) {
            fe.setMemTable(List.of(new MemoryRegion(0, MEM, mem.address(), 0, mem.fd())));
            fe.setVringNum(0, 16);
            fe.setVringAddr(new VringAddr(0, 0, mem.address(), mem.address() + 0x2000, mem.address() + 0x1000, 0));
            fe.setVringCall(0, call.fd());
            fe.setVringKick(0, kick.fd());
            fe.setVringEnable(0, true);
            assertThat(device.state()).isEqualTo(VirtioDeviceState.ACTIVE);
            assertThat(call.await(2000)).isTrue();
        }
        assertThat(server.awaitSessionsEnded(++sessions, 5000)).isTrue();
    }

    @Test
    void aRegionLargerThanItsMemfdIsRefused() throws Exception {
        try (SharedMemory small = SharedMemory.create("small", 0x4000)) {
            assertRefused(new MemoryRegion(0, MEM, small.address(), 0, small.fd()));
        }
    }

    @Test
    void anOffsetPastTheEndOfTheMemfdIsRefused() throws Exception {
        try (SharedMemory m = SharedMemory.create("m", MEM)) {
            assertRefused(new MemoryRegion(0, 0x1000, m.address(), 0x20000, m.fd()));
        }
    }

    @Test
    void aPipeOrAnEventfdAsARegionFdIsRefused() throws Exception {
        int[] p = Linux.pipe();
        try (EventFd e = EventFd.create()) {
            assertRefused(new MemoryRegion(0, 0x1000, 0x1000, 0, p[0]));
            assertRefused(new MemoryRegion(0, 0x1000, 0x1000, 0, e.fd()));
        } finally {
            Linux.close(p[0]);
            Linux.close(p[1]);
        }
    }

    @Test
    void aSmallRegularFileAsARegionFdIsRefused() throws Exception {
        Path f = dir.resolve("small-file");
        Files.write(f, new byte[100]);
        int fd = Linux.open(f.toString(), Linux.O_RDWR);
        try {
            assertRefused(new MemoryRegion(0, MEM, 0x1000, 0, fd));
        } finally {
            Linux.close(fd);
        }
    }

    /**
     * Issue #10, bounds: a region one page past the session's mapped-bytes bound (64 GiB,
     * {@code SessionLimits.DEFAULT_MAX_MAPPED_BYTES}), backed by a sparse memfd that large, is
     * refused before it is mapped; the next front-end is served. Without the bound it mapped.
     */
    @Test
    void aRegionPastTheMappedBytesBoundIsRefusedAndTheServerGoesOn() throws Exception {
        long over = com.vhost.user.backend.session.SessionLimits.DEFAULT_MAX_MAPPED_BYTES + 0x1000;
        int fd = Linux.memfdCreate("huge");
        try {
            Linux.ftruncate(fd, over);
            assertRefused(new MemoryRegion(0, over, 0x1000_0000_0000L, 0, fd));
        } finally {
            Linux.close(fd);
        }
    }

    @Test
    void aRegionExactlyAsLargeAsItsFileIsAccepted() throws Exception {
        try (VhostUserBackend fe = frontEnd(); SharedMemory m = SharedMemory.create("m", 2 * MEM)) {
            fe.setMemTable(List.of(new MemoryRegion(0, MEM, m.address() + MEM, MEM, m.fd())));
            fe.addMemRegion(new MemoryRegion(0x100000, MEM, m.address(), 0, m.fd()));
        }
        assertThat(server.awaitSessionsEnded(++sessions, 5000)).isTrue();
    }

    /**
     * Guest memory truncated after SET_MEM_TABLE: starting a ring makes the model touch it (SIGBUS,
     * an InternalError on the session thread). The session ends with the device marked as needing
     * reset; before issue #10 the error killed the accept thread and every later front-end timed out.
     */
    @Test
    @Timeout(10)
    void memoryTruncatedUnderARingEndsTheSessionAndTheServerGoesOn() throws Exception {
        try (VhostUserBackend fe = frontEnd(); SharedMemory mem = SharedMemory.create("shrinking", MEM);
                EventFd kick = EventFd.create(); EventFd call = EventFd.create()) {
            fe.setMemTable(List.of(new MemoryRegion(0, MEM, mem.address(), 0, mem.fd())));
            fe.setVringNum(0, 16);
            fe.setVringAddr(new VringAddr(0, 0, mem.address(), mem.address() + 0x2000, mem.address() + 0x1000, 0));
            fe.setVringCall(0, call.fd());
            Linux.ftruncate(mem.fd(), 0); // the front-end shrinks guest memory under the mapping
            assertThatThrownBy(() -> {
                fe.setVringKick(0, kick.fd());
                fe.setVringEnable(0, true); // the model starts and writes the used ring
                fe.getFeatures();
            }).isInstanceOf(VhostException.class);
        }
        assertThat(server.awaitSessionsEnded(++sessions, 5000)).isTrue();
        assertThat(device.state()).isNotEqualTo(VirtioDeviceState.ACTIVE);
        assertServesARing();
    }

    /**
     * Not only memory faults: an IndexOutOfBoundsException or an Error (here AssertionError) from
     * the model while a message is handled ends that session alone; an Error used to end the
     * accept thread.
     */
    @Test
    @Timeout(10)
    void aModelFailingWithAnErrorEndsOnlyThatSession() throws Exception {
        server.close();
        java.util.concurrent.atomic.AtomicReference<Throwable> fail = new java.util.concurrent.atomic.AtomicReference<>();
        server = new VhostUserServer(sock, new com.vhost.spi.backend.ForwardingVirtioDevice(device) {
            @Override
            public void readConfig(long offset, byte[] data) {
                Throwable t = fail.getAndSet(null);
                if (t instanceof RuntimeException r) {
                    throw r;
                }
                if (t instanceof Error e) {
                    throw e;
                }
                super.readConfig(offset, data);
            }
        });
        server.start();
        for (Throwable t : List.of(new IndexOutOfBoundsException("config"), new AssertionError("model bug"))) {
            fail.set(t);
            try (VhostUserBackend fe = frontEnd()) {
                assertThatThrownBy(() -> fe.getConfig(0, 4)).isInstanceOf(VhostException.class);
            }
            assertThat(server.awaitSessionsEnded(++sessions, 5000)).isTrue();
        }
        try (VhostUserBackend fe = frontEnd()) {
            assertThat(fe.getConfig(0, 4)).containsExactly(1, 2, 3, 4);
        }
    }
}
