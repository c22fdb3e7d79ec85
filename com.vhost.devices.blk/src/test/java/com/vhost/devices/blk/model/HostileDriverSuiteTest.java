package com.vhost.devices.blk.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.vhost.api.MemoryRegion;
import com.vhost.api.VhostRefusedException;
import com.vhost.api.VringAddr;
import com.vhost.api.blk.VirtioBlk;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.spi.nativeio.EventFd;
import com.vhost.spi.nativeio.Linux;
import com.vhost.spi.nativeio.OwnedFd;
import com.vhost.spi.nativeio.UnixSocket;
import com.vhost.user.backend.VhostUserServer;
import com.vhost.user.testing.CanaryGuest;
import com.vhost.user.testing.ReasonRecordingDevice;
import com.vhost.user.testing.ServerProcess;
import com.vhost.user.testing.StatusFrontEnd;
import com.vhost.user.testing.TestRing;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Issue #10, the hostile-driver suite: a hand-driven front-end ({@link CanaryGuest}: memfd guest
 * memory full of canaries, a split ring of 16) publishes hostile descriptor chains to the blk
 * model served over a real vhost-user socket by one {@link VhostUserServer} over a real image
 * file. For each case: the outcome VIRTIO 1.2 asks for (an error status in the status byte for a
 * malformed request on a well-formed chain, section 5.2.6; DEVICE_NEEDS_RESET, section 2.1.2, seen
 * with GET_STATUS, the ring's error eventfd written and the reason naming the problem, for a
 * chain that is not well-formed, sections 2.7.5 and 2.7.5.3, or a request the device cannot
 * answer), no byte of guest memory outside the buffers the device may write changed, the image
 * unchanged, and then a fresh front-end on the same socket reads correctly. The server stays up
 * across all cases (one image, one socket). Besides the parameterised cases: the driver's reset
 * after DEVICE_NEEDS_RESET (section 2.1.2) brings the same session back; a bad chain on queue 1
 * writes queue 1's error eventfd only while queue 0 goes on; a good request and a bad one in one
 * kick (the first completes); an OUT whose buffer is truncated in its middle answers IOERR having
 * written at most the part before the hole; three of the cases against the back-end in a process
 * of its own ({@link ServerProcess}).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class HostileDriverSuiteTest {
    private static final long FEATURES = VirtioFeatures.bit(VirtioFeatures.F_VERSION_1)
            | VirtioFeatures.bit(VirtioFeatures.F_INDIRECT_DESC) | VirtioFeatures.bit(VirtioBlk.F_DISCARD)
            | VirtioFeatures.bit(VirtioBlk.F_WRITE_ZEROES);
    private static final long NO_INDIRECT = VirtioFeatures.bit(VirtioFeatures.F_VERSION_1);
    private static final int IMAGE_BYTES = 1 << 20;
    private static final long SECTORS = IMAGE_BYTES / VirtioBlk.SECTOR_SIZE;
    private static final long MEM = CanaryGuest.MEM;
    /** Guest addresses: header, data, status byte, an indirect table, and a buffer in the upper half. */
    private static final long HDR = 0x3000;
    private static final long DATA = 0x4000;
    private static final long STATUS = 0x10000;
    private static final long TABLE = 0x20000;
    private static final long HALF = MEM / 2;
    private static final long UPPER = HALF + 0x40000;
    private static final int R = 0;
    private static final int W = 2;
    private static final int N = 1;
    private static final int IND = 4;

    @TempDir
    static Path dir;

    private Path image;
    private byte[] imageBytes;
    private FileBlockModel model;
    private ReasonRecordingDevice device;
    private VhostUserServer server;
    private long sessions;
    private int goodReads;

    /** What the hostile driver writes before the kick: descriptors, buffers, what the device may write. */
    @FunctionalInterface
    interface Chain {
        /** @return the head to publish */
        int write(CanaryGuest g) throws Exception;
    }

    /** What the front-end does before it starts the ring (hand over fds of the wrong kind). */
    @FunctionalInterface
    interface Prelude {
        void run(CanaryGuest g) throws Exception;
    }

    /** How the chain is made available: published and kicked, or worse. */
    @FunctionalInterface
    interface Kick {
        void kick(CanaryGuest g, int head) throws Exception;
    }

    sealed interface Outcome permits Status, NeedsReset {}

    /** The request completes: {@code status} at {@code statusAt}, used length {@code usedLen}. */
    record Status(int status, long statusAt, int usedLen) implements Outcome {}

    /** DEVICE_NEEDS_RESET, the err eventfd written, a reason containing {@code reason}, nothing completed. */
    record NeedsReset(String reason) implements Outcome {}

    record Case(String name, long features, Prelude prelude, Chain chain, Kick kick, long checkedBytes, Outcome outcome) {
        Case(String name, long features, Chain chain, Kick kick, long checkedBytes, Outcome outcome) {
            this(name, features, g -> { }, chain, kick, checkedBytes, outcome);
        }

        @Override
        public String toString() {
            return name;
        }
    }

    private static Case status(String name, Chain chain, int status, long statusAt, int usedLen) {
        return new Case(name, FEATURES, chain, CanaryGuest::publishAndKick, MEM, new Status(status, statusAt, usedLen));
    }

    private static Case reset(String name, Chain chain, String reason) {
        return reset(name, FEATURES, chain, reason);
    }

    private static Case reset(String name, long features, Chain chain, String reason) {
        return new Case(name, features, chain, CanaryGuest::publishAndKick, MEM, new NeedsReset(reason));
    }

    /** @return the I/O engine the suite's model runs ({@code HostileDriverSuiteUringTest}: io_uring) */
    FileBlockModel.Aio aio() {
        return FileBlockModel.Aio.THREADS;
    }

    @BeforeAll
    void serve() throws Exception {
        if (aio() == FileBlockModel.Aio.IO_URING) {
            UringAvailable.require(); // before the model needs it (a subclass's @BeforeAll runs after this one)
        }
        image = dir.resolve("disk.img");
        imageBytes = new byte[IMAGE_BYTES];
        new Random(10).nextBytes(imageBytes);
        Files.write(image, imageBytes);
        model = FileBlockModel.open(image, false, 2, 256, aio(), false);
        device = new ReasonRecordingDevice(model);
        server = new VhostUserServer(dir.resolve("blk.sock"), device);
        server.start();
    }

    @AfterAll
    void close() throws Exception {
        server.close();
        model.close();
    }

    // ---- chain building ------------------------------------------------------------------------

    private static void header(CanaryGuest g, long at, int type, long sector) {
        MemorySegment m = g.memory();
        m.set(TestRing.LE32, at, type);
        m.set(TestRing.LE32, at + 4, 0);
        m.set(TestRing.LE64, at + 8, sector);
    }

    /** Descriptor {@code i} of the table at guest address {@code table}. */
    private static void desc(CanaryGuest g, long table, int i, long addr, long len, int flags, int next) {
        MemorySegment m = g.memory();
        long d = table + 16L * i;
        m.set(TestRing.LE64, d, addr);
        m.set(TestRing.LE32, d + 8, (int) len);
        m.set(TestRing.LE16, d + 12, (short) flags);
        m.set(TestRing.LE16, d + 14, (short) next);
    }

    /** header (readable) → data ({@code dataFlags}) → status (writable); the device may write a writable data buffer and the status. */
    private static Chain request(int type, long sector, long data, long len, int dataFlags) {
        return g -> {
            header(g, HDR, type, sector);
            desc(g, 0, 0, HDR, 16, N, 1);
            desc(g, 0, 1, data, len, dataFlags | N, 2);
            desc(g, 0, 2, STATUS, 1, W, 0);
            if ((dataFlags & W) != 0) {
                g.mayWrite(data, len);
            }
            g.mayWrite(STATUS, 1);
            return 0;
        };
    }

    /** A request whose status byte is the only thing the device may write (an error expected). */
    private static Chain statusOnly(int type, long sector, long len, int dataFlags) {
        return g -> {
            request(type, sector, DATA, len, dataFlags).write(g);
            g.clearMayWrite();
            g.mayWrite(STATUS, 1);
            return 0;
        };
    }

    /** A segment list for DISCARD / WRITE_ZEROES at DATA. */
    private static Chain segments(int type, long payloadBytes, long sector, int sectors, int flags) {
        return g -> {
            header(g, HDR, type, 0);
            MemorySegment m = g.memory();
            m.set(TestRing.LE64, DATA, sector);
            m.set(TestRing.LE32, DATA + 8, sectors);
            m.set(TestRing.LE32, DATA + 12, flags);
            desc(g, 0, 0, HDR, 16, N, 1);
            desc(g, 0, 1, DATA, payloadBytes, N, 2);
            desc(g, 0, 2, STATUS, 1, W, 0);
            g.mayWrite(STATUS, 1);
            return 0;
        };
    }

    /** Descriptor 0 points to an indirect table at TABLE with {@code len} bytes; the table's entries are written by {@code table}. */
    private static Chain indirect(long tableAddr, long len, int flags, Chain table) {
        return g -> {
            table.write(g);
            desc(g, 0, 0, tableAddr, len, IND | flags, 0);
            return 0;
        };
    }

    /** A well-formed IN of 512 bytes at sector 1 laid out in the indirect table at TABLE. */
    private static Chain inTable() {
        return g -> {
            header(g, HDR, VirtioBlk.T_IN, 1);
            desc(g, TABLE, 0, HDR, 16, N, 1);
            desc(g, TABLE, 1, DATA, 512, W | N, 2);
            desc(g, TABLE, 2, STATUS, 1, W, 0);
            return 0;
        };
    }

    // ---- the cases ---------------------------------------------------------------------------

    Stream<Case> cases() {
        List<Case> c = new ArrayList<>();
        int in = VirtioBlk.T_IN;
        int out = VirtioBlk.T_OUT;
        // well-formed chains, malformed requests: an error status, nothing else written (5.2.6)
        c.add(status("IN past the capacity", statusOnly(in, SECTORS, 512, W), VirtioBlk.S_IOERR, STATUS, 1));
        c.add(status("IN straddling the end of the disk", statusOnly(in, SECTORS - 1, 1024, W), VirtioBlk.S_IOERR, STATUS, 1));
        c.add(status("OUT past the capacity", statusOnly(out, SECTORS, 512, R), VirtioBlk.S_IOERR, STATUS, 1));
        c.add(status("OUT at sector 2^64-1", statusOnly(out, -1L, 512, R), VirtioBlk.S_IOERR, STATUS, 1));
        c.add(status("IN of 500 bytes (not a multiple of 512)", statusOnly(in, 0, 500, W), VirtioBlk.S_IOERR, STATUS, 1));
        c.add(status("OUT of 100 bytes (not a multiple of 512)", statusOnly(out, 0, 100, R), VirtioBlk.S_IOERR, STATUS, 1));
        c.add(status("OUT whose data buffer is device-writable (wrong direction)", statusOnly(out, 0, 512, W),
                VirtioBlk.S_IOERR, STATUS, 1));
        c.add(status("IN whose data buffer is device-readable (wrong direction)", statusOnly(in, 0, 512, R),
                VirtioBlk.S_IOERR, STATUS, 1));
        c.add(status("unknown request type 0x7f", statusOnly(0x7F, 0, 512, W), VirtioBlk.S_UNSUPP, STATUS, 1));
        c.add(status("DISCARD with an unknown flag", segments(VirtioBlk.T_DISCARD, 16, 0, 8, 2), VirtioBlk.S_UNSUPP, STATUS, 1));
        c.add(status("DISCARD payload of 24 bytes (not a multiple of 16)", segments(VirtioBlk.T_DISCARD, 24, 0, 8, 0),
                VirtioBlk.S_IOERR, STATUS, 1));
        c.add(status("WRITE_ZEROES past the capacity", segments(VirtioBlk.T_WRITE_ZEROES, 16, SECTORS - 4, 8, 0),
                VirtioBlk.S_IOERR, STATUS, 1));
        c.add(status("IN without a status descriptor (the status is the data buffer's last byte)", g -> {
            header(g, HDR, in, 0);
            desc(g, 0, 0, HDR, 16, N, 1);
            desc(g, 0, 1, DATA, 512, W, 0);
            g.mayWrite(DATA + 511, 1);
            return 0;
        }, VirtioBlk.S_IOERR, DATA + 511, 1));
        c.add(status("GET_ID into a 4-byte buffer", request(VirtioBlk.T_GET_ID, 0, DATA, 4, W), VirtioBlk.S_OK, STATUS, 5));
        c.add(status("header split over 3 descriptors with zero-length ones between", g -> {
            header(g, HDR, in, 2);
            desc(g, 0, 0, HDR, 4, N, 5);
            desc(g, 0, 5, DATA + 0x800, 0, N, 1);
            desc(g, 0, 1, HDR + 4, 12, N, 6);
            desc(g, 0, 6, STATUS + 0x100, 0, W | N, 2);
            desc(g, 0, 2, DATA, 512, W | N, 3);
            desc(g, 0, 3, STATUS, 1, W, 0);
            g.mayWrite(DATA, 512);
            g.mayWrite(STATUS, 1);
            return 0;
        }, VirtioBlk.S_OK, STATUS, 513));
        // chains that are not well-formed: DEVICE_NEEDS_RESET, nothing written (2.7.5, 2.1.2)
        c.add(reset("chain that loops 0 -> 1 -> 0", g -> {
            header(g, HDR, in, 0);
            desc(g, 0, 0, HDR, 16, N, 1);
            desc(g, 0, 1, DATA, 512, N, 0);
            return 0;
        }, "a loop"));
        c.add(reset("descriptor whose next is itself", g -> {
            desc(g, 0, 0, HDR, 16, N, 0);
            return 0;
        }, "a loop"));
        c.add(reset("next 16 in a ring of 16", g -> {
            desc(g, 0, 0, HDR, 16, N, 16);
            return 0;
        }, "next index 16 is not below queue size 16"));
        c.add(reset("next 0xffff", g -> {
            desc(g, 0, 0, HDR, 16, N, 0xFFFF);
            return 0;
        }, "next index 65535 is not below queue size 16"));
        c.add(reset("head 16 in a ring of 16", g -> 16, "head index 16 is not below queue size 16"));
        c.add(reset("head 0xffff", g -> 0xFFFF, "head index 65535 is not below queue size 16"));
        c.add(reset("data buffer outside guest memory", request(in, 0, 64L << 20, 512, W), "is not inside guest memory"));
        c.add(reset("data buffer straddling the end of guest memory", request(in, 0, MEM - 256, 512, W),
                "is not inside guest memory"));
        c.add(reset("data buffer of 0xffffffff bytes", request(in, 0, DATA, 0xFFFF_FFFFL, W), "is not inside guest memory"));
        c.add(reset("data buffer whose address + length wraps past 2^64", request(in, 0, -0x100L, 512, W),
                "is not inside guest memory"));
        c.add(reset("OUT data buffer of 0xffffffff bytes", request(out, 0, DATA, 0xFFFF_FFFFL, R), "is not inside guest memory"));
        c.add(reset("device-readable buffer after a device-writable one", g -> {
            header(g, HDR, out, 0);
            desc(g, 0, 0, HDR, 16, N, 1);
            desc(g, 0, 1, STATUS, 1, W | N, 2);
            desc(g, 0, 2, DATA, 512, N & 0, 0);
            return 0;
        }, "device-readable buffer at 0x4000 after a device-writable one"));
        c.add(reset("unknown descriptor flag 0x8", request(in, 0, DATA, 512, W | 8), "unknown flag bits 0x8"));
        c.add(reset("short header (8 bytes)", g -> {
            header(g, HDR, out, 0);
            desc(g, 0, 0, HDR, 8, N, 1);
            desc(g, 0, 1, STATUS, 1, W, 0);
            return 0;
        }, "header needs 16 readable bytes, chain has 8"));
        c.add(reset("missing status (FLUSH header alone)", g -> {
            header(g, HDR, VirtioBlk.T_FLUSH, 0);
            desc(g, 0, 0, HDR, 16, 0, 0);
            return 0;
        }, "no writable status byte"));
        c.add(reset("read-only status byte (OUT)", g -> {
            header(g, HDR, out, 0);
            desc(g, 0, 0, HDR, 16, N, 1);
            desc(g, 0, 1, DATA, 512, N, 2);
            desc(g, 0, 2, STATUS, 1, 0, 0);
            return 0;
        }, "no writable status byte"));
        // bad indirect tables (2.7.5.3)
        c.add(reset("indirect table of 40 bytes (not a multiple of 16)", indirect(TABLE, 40, 0, inTable()),
                "indirect table length 40 is not a non-zero multiple of 16"));
        c.add(reset("indirect table of 0 bytes", indirect(TABLE, 0, 0, inTable()),
                "indirect table length 0 is not a non-zero multiple of 16"));
        c.add(reset("nested indirect table", indirect(TABLE, 48, 0, g -> {
            inTable().write(g);
            desc(g, TABLE, 1, TABLE + 0x100, 48, IND, 0);
            return 0;
        }), "nested tables are not allowed"));
        c.add(reset("indirect table outside guest memory", indirect(64L << 20, 48, 0, inTable()), "is not inside guest memory"));
        c.add(reset("indirect table straddling the end of guest memory", indirect(MEM - 32, 48, 0, inTable()),
                "is not inside guest memory"));
        c.add(status("indirect descriptor with the WRITE flag (the device ignores it, 2.7.5.3.2)", indirect(TABLE, 48, W, g -> {
            inTable().write(g);
            g.mayWrite(DATA, 512);
            g.mayWrite(STATUS, 1);
            return 0;
        }), VirtioBlk.S_OK, STATUS, 513));
        c.add(reset("indirect descriptor with NEXT", indirect(TABLE, 48, N, inTable()), "INDIRECT and NEXT flags both set"));
        c.add(reset("indirect table without VIRTIO_F_INDIRECT_DESC", NO_INDIRECT, indirect(TABLE, 48, 0, inTable()),
                "VIRTIO_F_INDIRECT_DESC was not negotiated"));
        c.add(reset("indirect table that loops", indirect(TABLE, 48, 0, g -> {
            inTable().write(g);
            desc(g, TABLE, 2, STATUS, 1, W | N, 0);
            return 0;
        }), "a loop"));
        c.add(reset("indirect next past the table", indirect(TABLE, 48, 0, g -> {
            inTable().write(g);
            desc(g, TABLE, 2, STATUS, 1, W | N, 3);
            return 0;
        }), "next index 3 is not below indirect table size 3"));
        // Longer than the ring is accepted up to the chain capacity (the model's largest ring, 256),
        // as QEMU and libvhost-user bound tables by their iovec size: a Linux guest sizes its
        // tables by seg_max, which the model advertises for its largest ring.
        c.add(reset("indirect table of 257 descriptors, past the chain capacity 256", indirect(TABLE, 257 * 16, 0, inTable()),
                "indirect table of 257 descriptors exceeds queue size 16 and chain capacity 256"));
        c.add(reset("indirect table with a buffer outside guest memory", indirect(TABLE, 48, 0, g -> {
            inTable().write(g);
            desc(g, TABLE, 1, 64L << 20, 512, W | N, 2);
            return 0;
        }), "is not inside guest memory"));
        // the avail index (2.7.6)
        c.add(new Case("avail idx 17 ahead in a ring of 16", FEATURES, request(in, 0, DATA, 512, W),
                (g, head) -> g.availIdxAndKick(17), MEM, new NeedsReset("avail idx 17 is 17 entries ahead")));
        c.add(new Case("avail idx 0x8000 ahead", FEATURES, request(in, 0, DATA, 512, W),
                (g, head) -> g.availIdxAndKick(0x8000), MEM, new NeedsReset("more than queue size 16")));
        // guest memory shrunk under the running ring (the memfd truncated after SET_MEM_TABLE)
        c.add(new Case("memory truncated to 0 before the kick", FEATURES, request(in, 0, DATA, 512, W), (g, head) -> {
            g.ring.publish(head);
            g.shrink(0);
            g.kick.signal();
        }, 0, new NeedsReset("fault in guest memory")));
        c.add(new Case("IN into a data buffer truncated away", FEATURES, request(in, 0, UPPER, 512, W),
                CanaryGuest::shrinkHalfAndKick, HALF, new Status(VirtioBlk.S_IOERR, STATUS, 1)));
        c.add(new Case("OUT from a data buffer truncated away", FEATURES, request(out, 0, UPPER, 512, R),
                CanaryGuest::shrinkHalfAndKick, HALF, new Status(VirtioBlk.S_IOERR, STATUS, 1)));
        c.add(new Case("IN whose status byte was truncated away", FEATURES, g -> {
            header(g, HDR, in, 0);
            desc(g, 0, 0, HDR, 16, N, 1);
            desc(g, 0, 1, DATA, 512, W | N, 2);
            desc(g, 0, 2, UPPER, 1, W, 0);
            g.mayWrite(DATA, 512);
            return 0;
        }, CanaryGuest::shrinkHalfAndKick, HALF, new NeedsReset("fault in guest memory")));
        // the memory table replaced by a smaller one under the running ring (SET_MEM_TABLE)
        c.add(new Case("memory table shrunk to 512 KiB, IN into a buffer beyond it", FEATURES, request(in, 0, UPPER, 512, W),
                (g, head) -> {
                    g.fe.setMemTable(List.of(new MemoryRegion(0, HALF, g.mem.address(), 0, g.mem.fd())));
                    g.publishAndKick(head);
                }, MEM, new NeedsReset("is not inside guest memory")));
        c.add(new Case("memory table shrunk below the used ring: refused, the old table serves", FEATURES,
                request(in, 0, DATA, 512, W), (g, head) -> {
                    assertThatThrownBy(() -> g.fe.setMemTable(List.of(new MemoryRegion(0, 0x2000, g.mem.address(), 0, g.mem.fd()))))
                            .isInstanceOf(VhostRefusedException.class).hasMessageContaining("SET_MEM_TABLE");
                    g.publishAndKick(head);
                }, MEM, new Status(VirtioBlk.S_OK, STATUS, 513)));
        // fds of the wrong kind (refused with REPLY_ACK; the session goes on with eventfds and is served)
        c.add(refusedFd("kick fd that is a memfd", g -> {
            try (OwnedFd memfd = new OwnedFd(Linux.memfdCreate("kick"))) {
                g.fe.setVringKick(0, memfd.fd());
            }
        }, "SET_VRING_KICK"));
        c.add(refusedFd("call fd that is a pipe nobody reads", g -> {
            int[] p = Linux.pipe();
            try (OwnedFd r = new OwnedFd(p[0]); OwnedFd w = new OwnedFd(p[1])) {
                g.fe.setVringCall(0, w.fd());
            }
        }, "SET_VRING_CALL"));
        c.add(refusedFd("error fd that is a socket", g -> {
            UnixSocket[] pair = UnixSocket.pair();
            try (UnixSocket a = pair[0]; UnixSocket b = pair[1]) {
                g.fe.setVringErr(0, a.fd());
            }
        }, "SET_VRING_ERR"));
        return c.stream();
    }

    /** {@code handOver} is refused naming {@code request}; then a well-formed IN on eventfds completes. */
    private static Case refusedFd(String name, Prelude handOver, String request) {
        Prelude refused = g -> assertThatThrownBy(() -> handOver.run(g)).isInstanceOf(VhostRefusedException.class)
                .hasMessageContaining(request);
        return new Case(name, FEATURES, refused, request(VirtioBlk.T_IN, 3, DATA, 512, W), CanaryGuest::publishAndKick, MEM,
                new Status(VirtioBlk.S_OK, STATUS, 513));
    }

    // ---- running a case ----------------------------------------------------------------------

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    @Timeout(value = 30, unit = TimeUnit.SECONDS)
    void hostileChainIsContainedAndTheNextFrontEndIsServed(Case k) throws Exception {
        device.clear();
        tryCase(k, server.socketPath(), true);
        assertThat(Files.readAllBytes(image)).as("image unchanged").isEqualTo(imageBytes);
        nextFrontEndReads(server.socketPath(), true);
    }

    /**
     * Case {@code k} from a fresh front-end at {@code sock}: its outcome, then (the session ended)
     * the canaries. {@code ownServer}: the suite's server, whose reasons and sessions are checked
     * too; else a back-end in another process.
     */
    private void tryCase(Case k, Path sock, boolean ownServer) throws Exception {
        try (CanaryGuest g = new CanaryGuest(sock, k.features())) {
            k.prelude().run(g);
            g.start();
            int head = k.chain().write(g);
            g.seal();
            k.kick().kick(g, head);
            switch (k.outcome()) {
                case Status s -> {
                    g.awaitUsed(1, 5);
                    assertThat(g.usedId(0)).as("used id").isEqualTo(head);
                    assertThat(g.usedLen(0)).as("used len").isEqualTo(s.usedLen());
                    assertThat(Byte.toUnsignedInt(g.memory().get(ValueLayout.JAVA_BYTE, s.statusAt()))).as("status byte")
                            .isEqualTo(s.status());
                    assertThat(g.needsReset()).as("DEVICE_NEEDS_RESET").isFalse();
                    assertThat(g.err.drain()).as("error eventfd").isZero();
                }
                case NeedsReset n -> {
                    StatusFrontEnd.awaitNeedsReset(g.fe, 5);
                    assertThat(g.err.await(2000)).as("the ring's error eventfd was written").isTrue();
                    if (ownServer) {
                        assertThat(device.reasons()).as("needs-reset reasons").anyMatch(r -> r.startsWith("[queue 0] ")
                                && r.contains(n.reason()));
                    }
                    g.kick.signal(); // a kick on the stopped queue is dropped; the session still answers
                    assertThat(g.needsReset()).as("DEVICE_NEEDS_RESET stays set").isTrue();
                }
            }
            g.disconnect();
            if (ownServer) {
                assertThat(server.awaitSessionsEnded(++sessions, 5000)).as("hostile session ended").isTrue();
            }
            g.assertCanaries(k.checkedBytes(), k.outcome() instanceof Status);
        }
    }

    /** A fresh, well-behaved front-end at {@code sock} reads 1 KiB correctly, nothing else of its memory changes. */
    private void nextFrontEndReads(Path sock, boolean ownServer) throws Exception {
        long sector = (goodReads++ * 37L) % (SECTORS - 2);
        try (CanaryGuest g = new CanaryGuest(sock, FEATURES)) {
            g.start();
            assertThat(g.needsReset()).as("a new session starts clean").isFalse();
            readsCorrectly(g, sector, ownServer);
        }
    }

    /**
     * The three kinds of outcome against the blk back-end in a process of its own ({@code ServeBlk},
     * what {@code vhost serve blk} runs; SIGKILLed by PID at the end): a chain that loops, data in
     * the wrong direction, guest memory truncated to 0 (a SIGBUS in that JVM). The process
     * survives each, its image is unchanged, and it serves the next front-end.
     */
    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void aBackEndProcessOfItsOwnContainsThemToo() throws Exception {
        Path img = Files.write(dir.resolve("process.img"), imageBytes);
        Path sock = dir.resolve("process.sock");
        List<String> names = List.of("chain that loops 0 -> 1 -> 0", "OUT whose data buffer is device-writable (wrong direction)",
                "memory truncated to 0 before the kick");
        List<Case> picked = cases().filter(k -> names.contains(k.name())).toList();
        assertThat(picked).hasSize(names.size());
        try (ServerProcess p = ServerProcess.start(ServeBlk.class, dir.resolve("process.log"), "serve", "blk", "--image",
                img.toString(), "--socket", sock.toString(), "--queues", "2", "--aio", aio().name())) {
            for (Case k : picked) {
                tryCase(k, sock, false);
                assertThat(p.isAlive()).as("back-end process after " + k.name()).isTrue();
                assertThat(Files.readAllBytes(img)).as("image unchanged after " + k.name()).isEqualTo(imageBytes);
                nextFrontEndReads(sock, false);
            }
        }
    }

    /**
     * On {@code g}'s started queue 0 (first request on a fresh ring): reads 1 KiB at {@code
     * sector}, which equals the image; the session then ends and nothing but the data, the status
     * and the used ring changed.
     */
    private void readsCorrectly(CanaryGuest g, long sector) throws Exception {
        readsCorrectly(g, sector, true);
    }

    private void readsCorrectly(CanaryGuest g, long sector, boolean ownServer) throws Exception {
        request(VirtioBlk.T_IN, sector, DATA, 1024, W).write(g);
        g.seal();
        g.publishAndKick(0);
        g.awaitUsed(1, 5);
        assertThat(g.memory().get(ValueLayout.JAVA_BYTE, STATUS)).as("status").isEqualTo((byte) VirtioBlk.S_OK);
        assertThat(g.usedLen(0)).isEqualTo(1025);
        byte[] want = new byte[1024];
        System.arraycopy(imageBytes, (int) (sector * 512), want, 0, 1024);
        assertThat(g.memory().asSlice(DATA, 1024).toArray(ValueLayout.JAVA_BYTE)).as("data read").isEqualTo(want);
        g.disconnect();
        if (ownServer) {
            assertThat(server.awaitSessionsEnded(++sessions, 5000)).isTrue();
        }
        g.assertCanaries(MEM, true);
    }

    /** A chain that loops on itself on queue 0 of a started guest; waits for DEVICE_NEEDS_RESET. */
    private static void loopOnQueue0(CanaryGuest g) throws Exception {
        desc(g, 0, 0, HDR, 16, N, 0);
        g.seal();
        g.publishAndKick(0);
        StatusFrontEnd.awaitNeedsReset(g.fe, 5);
    }

    /**
     * VIRTIO 1.2 section 2.1.2: after DEVICE_NEEDS_RESET the driver resets the device. The same
     * front-end does (GET_VRING_BASE, RESET_DEVICE, SET_STATUS 0, the ring laid out afresh) and
     * its session serves again, DEVICE_NEEDS_RESET cleared.
     */
    @Test
    @Timeout(value = 30, unit = TimeUnit.SECONDS)
    void afterNeedsResetTheDriverResetsTheDeviceAndTheSameSessionServesAgain() throws Exception {
        try (CanaryGuest g = new CanaryGuest(server.socketPath(), FEATURES)) {
            g.start();
            loopOnQueue0(g);
            assertThat(g.err.await(2000)).as("queue 0's error eventfd").isTrue();
            g.resetDevice();
            assertThat(g.needsReset()).as("DEVICE_NEEDS_RESET after the reset").isFalse();
            g.start();
            readsCorrectly(g, 5);
        }
        assertThat(Files.readAllBytes(image)).isEqualTo(imageBytes);
    }

    /**
     * A good IN and then a chain that loops, made available by one kick: the first completes (its
     * data, status and used element), the second stops the queue with DEVICE_NEEDS_RESET and
     * nothing of it is written; GET_VRING_BASE reports the bad entry as the next to process.
     */
    @Test
    @Timeout(value = 30, unit = TimeUnit.SECONDS)
    void aGoodRequestCompletesAndTheBadOneAfterItStopsTheQueue() throws Exception {
        device.clear();
        try (CanaryGuest g = new CanaryGuest(server.socketPath(), FEATURES)) {
            g.start();
            request(VirtioBlk.T_IN, 7, DATA, 512, W).write(g);
            desc(g, 0, 5, HDR + 0x100, 16, N, 5);
            g.seal();
            g.ring.publish(0);
            g.publishAndKick(5);
            StatusFrontEnd.awaitNeedsReset(g.fe, 5);
            assertThat(g.err.await(2000)).as("queue 0's error eventfd").isTrue();
            assertThat(device.reasons()).anyMatch(r -> r.startsWith("[queue 0] ") && r.contains("descriptor 5") && r.contains("a loop"));
            assertThat(g.ring.usedIdx()).as("the good request only").isEqualTo(1);
            assertThat(g.usedId(0)).isZero();
            assertThat(g.usedLen(0)).isEqualTo(513);
            assertThat(g.memory().get(ValueLayout.JAVA_BYTE, STATUS)).isEqualTo((byte) VirtioBlk.S_OK);
            assertThat(g.memory().asSlice(DATA, 512).toArray(ValueLayout.JAVA_BYTE))
                    .isEqualTo(Arrays.copyOfRange(imageBytes, 7 * 512, 8 * 512));
            assertThat(g.fe.getVringBase(0)).as("next avail: the bad entry").isEqualTo(1);
            g.disconnect();
            assertThat(server.awaitSessionsEnded(++sessions, 5000)).isTrue();
            g.assertCanaries(MEM, true);
        }
        nextFrontEndReads(server.socketPath(), true);
    }

    /**
     * An OUT of 1 KiB whose buffer loses its second half to a truncation: the kernel copies what is
     * still backed and pwrite then fails with EFAULT, so the answer is IOERR and at most the first
     * sector (the part before the hole) reaches the image (VIRTIO 1.2 section 5.2.6 makes no
     * atomicity promise for a failed write); nothing else of the image or of guest memory changes.
     */
    @Test
    @Timeout(value = 30, unit = TimeUnit.SECONDS)
    void anOutWhoseBufferIsTruncatedInItsMiddleWritesAtMostThePartBeforeTheHole() throws Exception {
        long at = HALF - 512;
        byte[] before = imageBytes.clone();
        byte[] head;
        try (CanaryGuest g = new CanaryGuest(server.socketPath(), FEATURES)) {
            g.start();
            request(VirtioBlk.T_OUT, 0, at, 1024, R).write(g);
            head = g.memory().asSlice(at, 512).toArray(ValueLayout.JAVA_BYTE);
            g.seal();
            g.shrinkHalfAndKick(0);
            g.awaitUsed(1, 5);
            assertThat(g.memory().get(ValueLayout.JAVA_BYTE, STATUS)).as("status").isEqualTo((byte) VirtioBlk.S_IOERR);
            assertThat(g.usedLen(0)).isEqualTo(1);
            assertThat(g.needsReset()).isFalse();
            g.disconnect();
            assertThat(server.awaitSessionsEnded(++sessions, 5000)).isTrue();
            g.assertCanaries(HALF, true);
        }
        byte[] now = Files.readAllBytes(image);
        byte[] first = Arrays.copyOf(now, 512);
        assertThat(first).as("the first sector: as it was, or the part before the hole").isIn(Arrays.copyOf(before, 512), head);
        assertThat(Arrays.copyOfRange(now, 512, IMAGE_BYTES)).as("the rest of the image")
                .isEqualTo(Arrays.copyOfRange(before, 512, IMAGE_BYTES));
        System.arraycopy(first, 0, imageBytes, 0, 512);
        nextFrontEndReads(server.socketPath(), true);
    }

    /**
     * The error eventfd written is the failed ring's: a loop on queue 1 writes queue 1's error fd,
     * not queue 0's, and queue 0 goes on serving in the same session (the device is marked
     * DEVICE_NEEDS_RESET as a whole, GET_STATUS has one status).
     */
    @Test
    @Timeout(value = 30, unit = TimeUnit.SECONDS)
    void aBadChainOnQueue1WritesQueue1sErrorFdAndQueue0GoesOn() throws Exception {
        device.clear();
        try (CanaryGuest g = new CanaryGuest(server.socketPath(), FEATURES); EventFd kick1 = EventFd.create();
                EventFd call1 = EventFd.create(); EventFd err1 = EventFd.create()) {
            g.start();
            TestRing r1 = new TestRing(g.memory(), 0x40000, CanaryGuest.QUEUE_SIZE, 0);
            g.memory().asSlice(r1.desc(), 0x3000).fill((byte) 0);
            long ua = g.mem.address();
            g.fe.setVringNum(1, CanaryGuest.QUEUE_SIZE);
            g.fe.setVringBase(1, 0);
            g.fe.setVringAddr(new VringAddr(1, 0, ua + r1.desc(), ua + r1.used(), ua + r1.avail(), 0));
            g.fe.setVringErr(1, err1.fd());
            g.fe.setVringCall(1, call1.fd());
            g.fe.setVringKick(1, kick1.fd());
            g.fe.setVringEnable(1, true);
            r1.descriptor(0, HDR, 16, N, 0); // loops on itself
            r1.publish(0);
            kick1.signal();
            StatusFrontEnd.awaitNeedsReset(g.fe, 5);
            assertThat(err1.await(2000)).as("queue 1's error eventfd").isTrue();
            assertThat(g.err.drain()).as("queue 0's error eventfd").isZero();
            assertThat(device.reasons()).anyMatch(r -> r.startsWith("[queue 1] ") && r.contains("a loop"));
            assertThat(r1.usedIdx()).isZero();
            readsCorrectly(g, 11);
        }
    }
}
