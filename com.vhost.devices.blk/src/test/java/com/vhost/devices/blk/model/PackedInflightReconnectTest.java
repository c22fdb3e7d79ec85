package com.vhost.devices.blk.model;

import static org.assertj.core.api.Assertions.assertThat;

import com.vhost.api.VringAddr;
import com.vhost.api.blk.VirtioBlk;
import com.vhost.api.user.InflightRegion;
import com.vhost.api.user.VhostUserBackend;
import com.vhost.api.user.VhostUserProtocolFeature;
import com.vhost.api.virtio.GuestMemoryRegion;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.spi.memory.GuestMemoryMap;
import com.vhost.spi.memory.InflightPackedRegion;
import com.vhost.spi.nativeio.EventFd;
import com.vhost.spi.nativeio.Linux;
import com.vhost.spi.nativeio.SharedMemory;
import com.vhost.spi.testing.TestPackedDriver;
import com.vhost.spi.testing.TestPackedDriver.Buf;
import com.vhost.spi.testing.TestPackedDriver.Used;
import com.vhost.user.testing.FaultyBackends;
import com.vhost.user.testing.ServerProcess;
import com.vhost.user.testing.StatusFrontEnd;
import java.io.RandomAccessFile;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Packed-ring inflight I/O tracking end to end (vhost-user spec, "Inflight I/O tracking", packed
 * virtqueue): the file-backed blk model served over vhost-user by {@link ServeBlk} in a process of
 * its own, a packed ring of 16 driven by hand ({@link TestPackedDriver} in a memfd), the region
 * GET_INFLIGHT_FD sized for the packed layout handed over with SET_INFLIGHT_FD. The back-end is
 * killed (SIGKILL) several times mid-workload, at a moment the region shows requests it took and
 * did not complete; each new back-end gets the same memory, ring and region and no GET_VRING_BASE
 * answer. Every write (its own sector, its own bytes) completes exactly once with status OK, and
 * the image holds every one.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class PackedInflightReconnectTest {
    private static final long MEM = 8 << 20;
    private static final int SIZE = 16;
    private static final int QUEUE = 0;
    private static final int LIVES = 4;
    private static final int WRITES = 400;
    private static final int BLOCK = 8 * 1024;
    private static final int SECTORS_PER_BLOCK = BLOCK / VirtioBlk.SECTOR_SIZE;
    private static final long FEATURES = VirtioFeatures.bit(VirtioFeatures.F_VERSION_1)
            | VirtioFeatures.bit(VirtioFeatures.F_RING_PACKED);

    @TempDir
    Path dir;

    private TestPackedDriver drv;
    private long hdr;
    private long data;
    private long status;
    /** Per buffer id in flight: the write's number. */
    private final Map<Integer, Integer> outstanding = new HashMap<>();
    private int submitted;
    private int completed;

    private static byte pattern(int write, int i) {
        return (byte) (write * 31 + i * 7 + (i >> 9));
    }

    /** Submits write {@code submitted}: its own header, block of bytes and status byte. */
    private void submitWrite() {
        int w = submitted;
        long h = hdr + 16L * w;
        long d = data + (long) BLOCK * w;
        long s = status + w;
        MemorySegment hs = drv.at(h, 16);
        hs.set(ValueLayout.JAVA_INT_UNALIGNED, 0, VirtioBlk.T_OUT);
        hs.set(ValueLayout.JAVA_INT_UNALIGNED, 4, 0);
        hs.set(ValueLayout.JAVA_LONG_UNALIGNED, 8, (long) w * SECTORS_PER_BLOCK);
        MemorySegment ds = drv.at(d, BLOCK);
        for (int i = 0; i < BLOCK; i++) {
            ds.set(ValueLayout.JAVA_BYTE, i, pattern(w, i));
        }
        drv.at(s, 1).set(ValueLayout.JAVA_BYTE, 0, (byte) 0x7F);
        int id = drv.submit(new Buf(h, 16, false), new Buf(d, BLOCK, false), new Buf(s, 1, true));
        outstanding.put(id, w);
        submitted++;
    }

    private void reap() {
        Used u;
        while ((u = drv.pollUsed()) != null) { // a used id not in flight (a duplicate) throws here
            Integer w = outstanding.remove(u.id());
            assertThat(w).as("used id %d", u.id()).isNotNull();
            assertThat(u.len()).as("write %d: bytes written (the status)", w).isEqualTo(1);
            assertThat(drv.at(status + w, 1).get(ValueLayout.JAVA_BYTE, 0)).as("write %d status", w)
                    .isEqualTo((byte) VirtioBlk.S_OK);
            completed++;
        }
    }

    @Test
    void killedBackEndsResubmitWhatTheyTookAndNothingIsLostOrDoubled() throws Exception {
        Path image = dir.resolve("disk.img");
        try (RandomAccessFile f = new RandomAccessFile(image.toFile(), "rw")) {
            f.setLength((long) BLOCK * WRITES);
        }
        try (SharedMemory mem = SharedMemory.create("packed-inflight-guest", MEM);
                EventFd kick = EventFd.create();
                EventFd call = EventFd.create()) {
            GuestMemoryMap gm = GuestMemoryMap.of(List.of(new GuestMemoryRegion(0, MEM, mem.address(), mem.fd(), 0, mem.segment())));
            drv = new TestPackedDriver(gm, QUEUE, SIZE, 0, MEM);
            hdr = drv.alloc(16 * WRITES);
            data = drv.alloc(BLOCK * WRITES);
            status = drv.alloc(WRITES);
            InflightRegion region = null;
            SharedMemory view = null;
            int resubmitted = 0;
            try {
                for (int life = 0; life < LIVES; life++) {
                    Path sock = dir.resolve("blk" + life + ".sock");
                    ServerProcess server = ServerProcess.start(ServeBlk.class, dir.resolve("blk" + life + ".log"), "serve", "blk",
                            "--image", image.toString(), "--socket", sock.toString(), "--queues", "1", "--queue-size", "" + SIZE);
                    VhostUserBackend fe = FaultyBackends.connect(sock);
                    try {
                        StatusFrontEnd.negotiate(fe, mem, VhostUserProtocolFeature.INFLIGHT_SHMFD.mask(), FEATURES);
                        assertThat(VhostUserProtocolFeature.INFLIGHT_SHMFD.in(fe.negotiatedProtocolFeatures())).isTrue();
                        if (region == null) {
                            region = fe.getInflightFd(1, SIZE);
                            assertThat(region.mmapSize()).as("sized by the back-end for the packed layout")
                                    .isEqualTo(InflightPackedRegion.queueBytes(SIZE));
                            view = SharedMemory.map(region.fd(), region.mmapOffset(), region.mmapSize());
                        }
                        fe.setInflightFd(region);
                        long ua = mem.address();
                        var cfg = drv.config(-1, -1);
                        fe.setVringNum(QUEUE, SIZE);
                        // the lost back-end answered no GET_VRING_BASE: the driver's position, which the region overrides
                        fe.setVringBase(QUEUE, drv.availPosition());
                        fe.setVringAddr(new VringAddr(QUEUE, 0, ua + cfg.descAddr(), ua + cfg.usedAddr(), ua + cfg.availAddr(), 0));
                        StatusFrontEnd.startQueue0(fe, kick.fd(), call.fd());
                        StatusFrontEnd.driverOk(fe);
                        kick.signal();
                        resubmitted += runLife(life, server, view.segment(), kick, call);
                    } finally {
                        fe.close();
                        server.close();
                    }
                }
            } finally {
                if (view != null) {
                    view.close();
                }
                if (region != null) {
                    Linux.closeQuietly(region.fd());
                }
            }
            System.out.printf("PackedInflightReconnectTest: %d writes, %d back-end lives, %d requests resubmitted from the region%n",
                    completed, LIVES, resubmitted);
            assertThat(resubmitted).as("requests left in flight by the killed back-ends").isGreaterThan(0);
        }
        assertThat(outstanding).isEmpty();
        assertThat(completed).isEqualTo(submitted).isEqualTo(WRITES);
        byte[] img = Files.readAllBytes(image);
        for (int w = 0; w < WRITES; w++) {
            for (int i = 0; i < BLOCK; i += 509) {
                assertThat(img[w * BLOCK + i]).as("write %d byte %d in the image", w, i).isEqualTo(pattern(w, i));
            }
        }
    }

    /**
     * Runs writes on one back-end: the last life until all are done, the others until, after 30
     * completions, the region shows requests taken and not completed while the back-end is
     * stopped (SIGSTOP; else it continues, SIGCONT), then kills it (SIGKILL).
     *
     * @return the requests the next back-end resubmits: what the killed one took and did not
     *     complete, as recovery from a copy of the region finds them (0 for the last life)
     */
    private int runLife(int life, ServerProcess server, MemorySegment region, EventFd kick, EventFd call) throws Exception {
        boolean last = life == LIVES - 1;
        int cap = WRITES - 40 * (LIVES - 1 - life);
        int lifeStart = completed;
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (true) {
            reap();
            if (last && completed == WRITES) {
                return 0;
            }
            while (submitted < cap && outstanding.size() < 5) {
                submitWrite();
            }
            kick.signal();
            if (!last && completed >= lifeStart + 30
                    && (InflightPackedRegion.countInflight(region, SIZE) > 0 || outstanding.isEmpty())) {
                signal(server, "STOP");
                if (InflightPackedRegion.countInflight(region, SIZE) > 0 || outstanding.isEmpty()) {
                    server.kill();
                    reap(); // what it published before it died
                    int again = resubmittable(region);
                    assertThat(again).as("resubmitted: taken, not completed").isLessThanOrEqualTo(outstanding.size());
                    return again;
                }
                signal(server, "CONT");
            }
            assertThat(System.nanoTime()).as("progress within 60 s (%d of %d done)", completed, WRITES).isLessThan(deadline);
            call.await(1);
        }
    }

    /** @return the chains a back-end started now over (a copy of) {@code region} and the ring would resubmit */
    private int resubmittable(MemorySegment region) {
        MemorySegment copy = java.lang.foreign.Arena.ofAuto().allocate(region.byteSize());
        copy.copyFrom(region);
        return InflightPackedRegion.open(copy, SIZE, 0, drv.at(drv.descGpa(), 16L * SIZE)).inflightAtOpen();
    }

    private static void signal(ServerProcess p, String sig) throws Exception {
        Process k = new ProcessBuilder("kill", "-" + sig, Long.toString(p.pid())).inheritIO().start();
        assertThat(k.waitFor(5, TimeUnit.SECONDS)).isTrue();
        assertThat(k.exitValue()).as("kill -%s", sig).isZero();
    }
}
