package com.vhost.spi.nativeio;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.vhost.api.VhostDisconnectedException;
import com.vhost.api.VhostNativeException;
import com.vhost.api.VhostTimeoutException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class NativeLayerTest {
    @TempDir
    Path dir;

    @Test
    void eventFdCountsSignalsAndDrains() throws Exception {
        try (EventFd e = EventFd.create()) {
            assertThat(e.drain()).isZero();
            e.signal();
            e.signal();
            assertThat(e.drain()).isEqualTo(2);
            assertThat(e.await(10)).isFalse();
            e.signal();
            assertThat(e.await(1000)).isTrue();
        }
    }

    @Test
    void sharedMemoryIsVisibleThroughASecondMappingOfItsFd() throws Exception {
        try (SharedMemory m = SharedMemory.create("test", 3 * 4096)) {
            m.segment().set(ValueLayout.JAVA_LONG, 4096 + 8, 0x1122334455667788L);
            try (SharedMemory view = SharedMemory.map(m.fd(), 4096 + 8, 8)) {
                assertThat(view.segment().get(ValueLayout.JAVA_LONG, 0)).isEqualTo(0x1122334455667788L);
                assertThat(view.fd()).isEqualTo(-1);
            }
        }
    }

    @Test
    void fdsTravelOverSocketPairAndStillWork() throws Exception {
        UnixSocket[] p = UnixSocket.pair();
        try (UnixSocket a = p[0]; UnixSocket b = p[1]; EventFd e = EventFd.create(); Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(64);
            buf.set(ValueLayout.JAVA_INT, 0, 42);
            a.sendMsg(buf, 0, 4, new int[] {e.fd()});
            MemorySegment in = arena.allocate(64);
            List<OwnedFd> fds = new ArrayList<>();
            b.recvFully(in, 0, 4, fds);
            assertThat(in.get(ValueLayout.JAVA_INT, 0)).isEqualTo(42);
            assertThat(fds).hasSize(1);
            try (EventFd received = EventFd.wrap(fds.get(0).release())) {
                received.signal();
                assertThat(e.drain()).isEqualTo(1);
            }
        }
    }

    @Test
    void peerCloseMidMessageIsADisconnect() throws Exception {
        UnixSocket[] p = UnixSocket.pair();
        try (UnixSocket b = p[1]; Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(16);
            p[0].sendMsg(buf, 0, 4, null);
            p[0].close();
            assertThatThrownBy(() -> b.recvFully(buf, 0, 12, new ArrayList<>()))
                    .isInstanceOf(VhostDisconnectedException.class)
                    .hasMessageContaining("after 4 of 12 bytes");
        }
    }

    @Test
    void receiveTimeoutIsTyped() throws Exception {
        UnixSocket[] p = UnixSocket.pair();
        try (UnixSocket a = p[0]; UnixSocket b = p[1]; Arena arena = Arena.ofConfined()) {
            b.setReceiveTimeout(50);
            assertThatThrownBy(() -> b.recvMsg(arena.allocate(8), 0, 8, new ArrayList<>()))
                    .isInstanceOf(VhostTimeoutException.class);
        }
    }

    @Test
    void serverAcceptsAndConnectReportsMissingSocket() throws Exception {
        Path sock = dir.resolve("s.sock");
        assertThatThrownBy(() -> UnixSocket.connect(dir.resolve("missing.sock"), 100))
                .isInstanceOf(VhostNativeException.class)
                .hasMessageContaining("missing.sock")
                .satisfies(t -> assertThat(((VhostNativeException) t).errno()).isEqualTo(Linux.ENOENT));
        try (UnixServer server = UnixServer.listen(sock)) {
            assertThat(server.accept(10)).isNull();
            try (UnixSocket c = UnixSocket.connect(sock, 1000); UnixSocket s = server.accept(1000)) {
                assertThat(s).isNotNull();
            }
        }
        assertThat(Files.exists(sock)).isFalse();
    }

    @Test
    void epollReportsTokensOfReadyFds() throws Exception {
        try (Epoll ep = Epoll.create(); EventFd a = EventFd.create(); EventFd b = EventFd.create()) {
            ep.add(a.fd(), 7);
            ep.add(b.fd(), 9);
            long[] tokens = new long[4];
            assertThat(ep.await(tokens, 0)).isZero();
            b.signal();
            assertThat(ep.await(tokens, 1000)).isEqualTo(1);
            assertThat(tokens[0]).isEqualTo(9);
            ep.remove(b.fd());
        }
    }

    @Test
    void ioctlOnABadFdNamesTheRequestAndErrno() {
        assertThatThrownBy(() -> Linux.ioctl(-1, 0xAF01, 0L, "VHOST_SET_OWNER"))
                .isInstanceOf(VhostNativeException.class)
                .hasMessageContaining("ioctl(VHOST_SET_OWNER)")
                .hasMessageContaining("errno 9");
    }

    @Test
    void readlinkOfProcSelfFdNamesTheFdKindAndSetNonBlockingSetsTheFlag() throws Exception {
        int[] pipe = Linux.pipe();
        try (EventFd e = EventFd.create(); OwnedFd r = new OwnedFd(pipe[0]); OwnedFd w = new OwnedFd(pipe[1])) {
            assertThat(Linux.readlink("/proc/self/fd/" + e.fd())).isEqualTo("anon_inode:[eventfd]");
            assertThat(Linux.readlink("/proc/self/fd/" + r.fd())).startsWith("pipe:[");
            assertThat(Linux.fileStatusFlags(r.fd()) & Linux.O_NONBLOCK).isZero();
            Linux.setNonBlocking(r.fd());
            assertThat(Linux.fileStatusFlags(r.fd()) & Linux.O_NONBLOCK).isEqualTo(Linux.O_NONBLOCK);
            assertThat(Linux.read(r.fd(), Arena.ofAuto().allocate(8), 8)).as("empty non-blocking pipe: EAGAIN").isEqualTo(-1);
        }
        assertThatThrownBy(() -> Linux.readlink("/proc/self/fd/-1")).isInstanceOf(VhostNativeException.class)
                .hasMessageContaining("readlink(/proc/self/fd/-1)");
        assertThatThrownBy(() -> Linux.setNonBlocking(-1)).isInstanceOf(VhostNativeException.class).hasMessageContaining("errno 9");
    }

    @Test
    void fstatTellsAMemfdAndARegularFileFromAPipeAndAnEventfd() throws Exception {
        try (SharedMemory m = SharedMemory.create("stat", 3 * 4096)) {
            FileStat st = Linux.fstat(m.fd());
            assertThat(st.isRegularFile()).isTrue();
            assertThat(st.size()).isEqualTo(3 * 4096);
            Linux.ftruncate(m.fd(), 4096 + 17);
            assertThat(Linux.fstat(m.fd()).size()).isEqualTo(4096 + 17);
        }
        Path f = dir.resolve("small");
        Files.write(f, new byte[123]);
        int fd = Linux.open(f.toString(), Linux.O_RDWR);
        try {
            FileStat st = Linux.fstat(fd);
            assertThat(st.type()).isEqualTo(FileStat.S_IFREG);
            assertThat(st.size()).isEqualTo(123);
            assertThat(st.mode() & 0400).isNotZero(); // the owner may read it
        } finally {
            Linux.close(fd);
        }
        int[] p = Linux.pipe();
        try {
            assertThat(Linux.fstat(p[0]).type()).isEqualTo(FileStat.S_IFIFO);
            assertThat(Linux.fstat(p[1]).isRegularFile()).isFalse();
            assertThat(Linux.fstat(p[0]).typeName()).isEqualTo("FIFO");
        } finally {
            Linux.close(p[0]);
            Linux.close(p[1]);
        }
        try (EventFd e = EventFd.create()) {
            FileStat st = Linux.fstat(e.fd());
            assertThat(st.isRegularFile()).isFalse();
            assertThat(st.size()).isZero();
            assertThat(st.typeName()).contains("anonymous");
        }
        assertThatThrownBy(() -> Linux.fstat(fd)).isInstanceOf(VhostNativeException.class).hasMessageContaining("fstat");
    }
}
