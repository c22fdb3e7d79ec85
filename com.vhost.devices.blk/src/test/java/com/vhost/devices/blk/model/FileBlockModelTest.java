package com.vhost.devices.blk.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.vhost.api.VhostNativeException;
import com.vhost.api.blk.VirtioBlk;
import com.vhost.api.virtio.GuestMemoryRegion;
import com.vhost.api.virtio.SplitVirtqueueLayout;
import com.vhost.api.virtio.VirtioDeviceState;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.spi.memory.GuestMemoryMap;
import com.vhost.spi.nativeio.EventFd;
import com.vhost.spi.nativeio.SharedMemory;
import com.vhost.spi.testing.RecordingInterrupt;
import com.vhost.spi.testing.TestRingDriver;
import com.vhost.spi.testing.TestRingDriver.Buf;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class FileBlockModelTest {
    /** The test driver lays out split rings: RING_PACKED, which the model offers, is not acked. */
    private static final long SPLIT_ONLY_MASK = VirtioFeatures.bit(VirtioFeatures.F_RING_PACKED);
    private static final ValueLayout.OfInt LE32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong LE64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final long GUEST_BASE = 0x200000;
    private static final long CAPACITY = 1 << 20;

    @TempDir
    Path tmp;

    SharedMemory shm;
    GuestMemoryMap memory;
    private final RecordingInterrupt irq = new RecordingInterrupt();
    EventFd kick;
    TestRingDriver driver;
    FileBlockModel dev;
    private final List<AutoCloseable> closeables = new ArrayList<>();

    /** Status byte and used length of one completed request. */
    record Result(int status, int usedLen) {}

    /** @return the I/O engine under test ({@code FileBlockModelUringTest}: io_uring) */
    FileBlockModel.Aio aio() {
        return FileBlockModel.Aio.THREADS;
    }

    private FileBlockModel inMemory(long capacity, int queues, int queueSize) throws Exception {
        return FileBlockModel.inMemory(capacity, queues, queueSize, aio());
    }

    FileBlockModel open(Path image, boolean readOnly, int queues, int queueSize) throws Exception {
        return FileBlockModel.open(image, readOnly, queues, queueSize, aio(), false);
    }

    @BeforeEach
    void setUp() throws Exception {
        shm = SharedMemory.create("blk-test-guest", 4 << 20);
        memory = GuestMemoryMap.of(List.of(
                new GuestMemoryRegion(GUEST_BASE, shm.size(), shm.address(), shm.fd(), 0, shm.segment())));
        kick = EventFd.create();
        driver = new TestRingDriver(memory, 0, 64, GUEST_BASE, 4 << 20);
    }

    @AfterEach
    void tearDown() throws Exception {
        if (dev != null) {
            dev.close();
        }
        for (AutoCloseable c : closeables) {
            c.close();
        }
        kick.close();
        shm.close();
    }

    private void start(FileBlockModel model, long features) throws Exception {
        dev = model;
        dev.ackFeatures(features);
        dev.activate(memory, irq, List.of(driver.config(kick.fd(), -1)));
    }

    void start(FileBlockModel model) throws Exception {
        start(model, model.features() & ~SPLIT_ONLY_MASK);
    }

    long header(int type, long sector) {
        long hdr = driver.alloc(16);
        MemorySegment h = driver.at(hdr, 16);
        h.set(LE32, 0, type);
        h.set(LE32, 4, 0);
        h.set(LE64, 8, sector);
        return hdr;
    }

    /** Submits {@code bufs} + a status byte, kicks, waits; returns status and used length. */
    private Result run(Buf... bufs) throws Exception {
        long status = driver.alloc(1);
        driver.at(status, 1).set(ValueLayout.JAVA_BYTE, 0, (byte) 0xEE);
        Buf[] all = Arrays.copyOf(bufs, bufs.length + 1);
        all[bufs.length] = new Buf(status, 1, true);
        int before = driver.usedIdx();
        driver.submit(all);
        kick.signal();
        assertThat(driver.awaitUsed(before + 1, 5000)).as("request completed").isTrue();
        return new Result(driver.at(status, 1).get(ValueLayout.JAVA_BYTE, 0), driver.usedLen(before));
    }

    static MemorySegment pattern(MemorySegment seg, int seed) {
        for (long i = 0; i < seg.byteSize(); i++) {
            seg.set(ValueLayout.JAVA_BYTE, i, (byte) (i * 31 + seed));
        }
        return seg;
    }

    private Result write(long sector, MemorySegment... data) throws Exception {
        List<Buf> bufs = new ArrayList<>();
        bufs.add(new Buf(header(VirtioBlk.T_OUT, sector), 16, false));
        for (MemorySegment d : data) {
            bufs.add(new Buf(gpaOf(d), (int) d.byteSize(), false));
        }
        return run(bufs.toArray(Buf[]::new));
    }

    long gpaOf(MemorySegment d) {
        return GUEST_BASE + (d.address() - shm.address());
    }

    MemorySegment buffer(int len) {
        return driver.at(driver.alloc(len), len);
    }

    Result read(long sector, MemorySegment... into) throws Exception {
        List<Buf> bufs = new ArrayList<>();
        bufs.add(new Buf(header(VirtioBlk.T_IN, sector), 16, false));
        for (MemorySegment d : into) {
            bufs.add(new Buf(gpaOf(d), (int) d.byteSize(), true));
        }
        return run(bufs.toArray(Buf[]::new));
    }

    private Result segments(int type, long[]... segs) throws Exception {
        long body = driver.alloc(16L * segs.length);
        MemorySegment b = driver.at(body, 16L * segs.length);
        for (int i = 0; i < segs.length; i++) {
            b.set(LE64, 16L * i, segs[i][0]);
            b.set(LE32, 16L * i + 8, (int) segs[i][1]);
            b.set(LE32, 16L * i + 12, (int) segs[i][2]);
        }
        return run(new Buf(header(type, 0), 16, false), new Buf(body, 16 * segs.length, false));
    }

    @Test
    void writeThenReadBackThroughTheRings() throws Exception {
        start(inMemory(CAPACITY, 1, 64));
        MemorySegment a = pattern(buffer(1536), 1);
        MemorySegment b = pattern(buffer(2560), 2);
        assertThat(write(8, a, b)).isEqualTo(new Result(VirtioBlk.S_OK, 1));

        MemorySegment r1 = buffer(1000);
        MemorySegment r2 = buffer(3096);
        assertThat(read(8, r1, r2)).isEqualTo(new Result(VirtioBlk.S_OK, 4097));
        byte[] expected = new byte[4096];
        MemorySegment.copy(a, ValueLayout.JAVA_BYTE, 0, expected, 0, 1536);
        MemorySegment.copy(b, ValueLayout.JAVA_BYTE, 0, expected, 1536, 2560);
        byte[] got = new byte[4096];
        MemorySegment.copy(r1, ValueLayout.JAVA_BYTE, 0, got, 0, 1000);
        MemorySegment.copy(r2, ValueLayout.JAVA_BYTE, 0, got, 1000, 3096);
        assertThat(got).isEqualTo(expected);

        QueueCounters c = dev.counters(0);
        assertThat(c.requests()).isEqualTo(2);
        assertThat(c.bytesWritten()).isEqualTo(4096);
        assertThat(c.bytesRead()).isEqualTo(4096);
        assertThat(irq.awaitUsedSignals(0, 1, 5000)).isPositive();
    }

    /** {@code complete.order=random}: every request completes, not in the order it was made available. */
    @Test
    void randomCompletionOrderCompletesEveryRequestOutOfOrder() throws Exception {
        FileBlockModel m = FileBlockModel.inMemory(CAPACITY, 1, 64);
        assertThat(VirtioFeatures.has(m.features(), VirtioFeatures.F_IN_ORDER)).isTrue();
        m.completeInRandomOrder(42);
        assertThat(VirtioFeatures.has(m.features(), VirtioFeatures.F_IN_ORDER)).as("no IN_ORDER when shuffling").isFalse();
        start(m);
        // 16 requests of 3 descriptors fit the 64-entry table this test driver fills in order
        // (32 overran it: the last requests overwrote the first ones' descriptors whenever the
        // worker had not popped those yet, which it read as other requests, answered IOERR)
        int n = 16;
        int before = driver.usedIdx();
        int[] heads = new int[n];
        long[] status = new long[n];
        for (int i = 0; i < n; i++) {
            status[i] = driver.alloc(1);
            heads[i] = driver.submit(new Buf(header(VirtioBlk.T_OUT, i), 16, false), new Buf(driver.alloc(512), 512, false),
                    new Buf(status[i], 1, true));
        }
        kick.signal();
        assertThat(driver.awaitUsed(before + n, 5000)).isTrue();
        java.util.List<Integer> order = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            order.add(driver.usedId(before + i));
            assertThat(driver.at(status[i], 1).get(ValueLayout.JAVA_BYTE, 0)).isEqualTo((byte) VirtioBlk.S_OK);
        }
        java.util.List<Integer> submitted = java.util.Arrays.stream(heads).boxed().toList();
        assertThat(order).containsExactlyInAnyOrderElementsOf(submitted).isNotEqualTo(submitted);
        assertThatThrownBy(() -> m.completeInRandomOrder(1)).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("set before activation");
    }

    @Test
    void headerSharingABufferWithDataAndStatusSharingTheLastOne() throws Exception {
        start(inMemory(CAPACITY, 1, 64));
        // OUT: header + 512 data bytes in one descriptor
        long out = driver.alloc(16 + 512);
        MemorySegment o = driver.at(out, 16 + 512);
        o.set(LE32, 0, VirtioBlk.T_OUT);
        o.set(LE64, 8, 3);
        pattern(o.asSlice(16), 7);
        long st = driver.alloc(1);
        int before = driver.usedIdx();
        driver.submit(new Buf(out, 16 + 512, false), new Buf(st, 1, true));
        kick.signal();
        assertThat(driver.awaitUsed(before + 1, 5000)).isTrue();
        assertThat(driver.at(st, 1).get(ValueLayout.JAVA_BYTE, 0)).isEqualTo((byte) VirtioBlk.S_OK);

        // IN: data + status in one writable descriptor
        long in = driver.alloc(513);
        driver.submit(new Buf(header(VirtioBlk.T_IN, 3), 16, false), new Buf(in, 513, true));
        kick.signal();
        assertThat(driver.awaitUsed(before + 2, 5000)).isTrue();
        MemorySegment got = driver.at(in, 513);
        assertThat(got.get(ValueLayout.JAVA_BYTE, 512)).isEqualTo((byte) VirtioBlk.S_OK);
        assertThat(got.asSlice(0, 512).mismatch(o.asSlice(16))).isEqualTo(-1);
        assertThat(driver.usedLen(before + 1)).isEqualTo(513);
    }

    @Test
    void indirectRequestWithEventIdx() throws Exception {
        start(inMemory(CAPACITY, 1, 64));
        assertThat(VirtioFeatures.has(dev.ackedFeatures(), VirtioFeatures.F_INDIRECT_DESC)).isTrue();
        MemorySegment data = pattern(buffer(1024), 9);
        assertThat(write(0, data).status()).isEqualTo(VirtioBlk.S_OK);
        long table = driver.alloc(48);
        MemorySegment t = driver.at(table, 48);
        MemorySegment into = buffer(1024);
        long st = driver.alloc(1);
        TestRingDriver.writeDescriptor(t, 0, header(VirtioBlk.T_IN, 0), 16, SplitVirtqueueLayout.VIRTQ_DESC_F_NEXT, 1);
        TestRingDriver.writeDescriptor(t, 1, gpaOf(into), 1024,
                SplitVirtqueueLayout.VIRTQ_DESC_F_NEXT | SplitVirtqueueLayout.VIRTQ_DESC_F_WRITE, 2);
        TestRingDriver.writeDescriptor(t, 2, st, 1, SplitVirtqueueLayout.VIRTQ_DESC_F_WRITE, 0);
        driver.writeDescriptor(40, table, 48, SplitVirtqueueLayout.VIRTQ_DESC_F_INDIRECT, 0);
        int before = driver.usedIdx();
        driver.makeAvailable(40);
        kick.signal();
        assertThat(driver.awaitUsed(before + 1, 5000)).isTrue();
        assertThat(driver.usedId(before)).isEqualTo(40);
        assertThat(into.mismatch(data)).isEqualTo(-1);
        assertThat(driver.availEvent()).as("EVENT_IDX: device re-armed avail_event").isEqualTo(driver.availIdx());
    }

    @Test
    void flushGetIdAndUnknownType() throws Exception {
        start(inMemory(CAPACITY, 1, 64));
        assertThat(run(new Buf(header(VirtioBlk.T_FLUSH, 0), 16, false)).status()).isEqualTo(VirtioBlk.S_OK);

        MemorySegment id = buffer(VirtioBlk.ID_BYTES);
        id.fill((byte) 0x55);
        Result r = run(new Buf(header(VirtioBlk.T_GET_ID, 0), 16, false), new Buf(gpaOf(id), VirtioBlk.ID_BYTES, true));
        assertThat(r).isEqualTo(new Result(VirtioBlk.S_OK, 21));
        byte[] expected = Arrays.copyOf("vhost-blk-mem".getBytes(StandardCharsets.US_ASCII), 20);
        assertThat(id.toArray(ValueLayout.JAVA_BYTE)).isEqualTo(expected);

        assertThat(run(new Buf(header(99, 0), 16, false)).status()).isEqualTo(VirtioBlk.S_UNSUPP);
        assertThat(run(new Buf(header(VirtioBlk.T_GET_LIFETIME, 0), 16, false)).status())
                .isEqualTo(VirtioBlk.S_UNSUPP);
    }

    @Test
    void beyondCapacityAndPartialSectorsAreIoErrors() throws Exception {
        start(inMemory(CAPACITY, 1, 64));
        long sectors = CAPACITY / 512;
        assertThat(read(sectors - 1, buffer(512)).status()).isEqualTo(VirtioBlk.S_OK);
        assertThat(read(sectors - 1, buffer(1024)).status()).isEqualTo(VirtioBlk.S_IOERR);
        assertThat(read(sectors, buffer(512))).isEqualTo(new Result(VirtioBlk.S_IOERR, 1));
        assertThat(read(-1L, buffer(512)).status()).isEqualTo(VirtioBlk.S_IOERR);
        assertThat(write(sectors, buffer(512)).status()).isEqualTo(VirtioBlk.S_IOERR);
        assertThat(write(Long.MAX_VALUE / 256, buffer(512)).status()).isEqualTo(VirtioBlk.S_IOERR);
        assertThat(write(0, buffer(100)).status()).isEqualTo(VirtioBlk.S_IOERR);
        assertThat(read(0, buffer(100)).status()).isEqualTo(VirtioBlk.S_IOERR);
        assertThat(segments(VirtioBlk.T_WRITE_ZEROES, new long[] {sectors - 1, 2, 0}).status())
                .isEqualTo(VirtioBlk.S_IOERR);
        assertThat(segments(VirtioBlk.T_DISCARD, new long[] {sectors, 1, 0}).status()).isEqualTo(VirtioBlk.S_IOERR);
        assertThat(irq.needsReset()).isEmpty();
    }

    @Test
    void writeZeroesAndDiscard() throws Exception {
        start(inMemory(CAPACITY, 1, 64));
        MemorySegment data = pattern(buffer(8192), 3);
        assertThat(write(100, data).status()).isEqualTo(VirtioBlk.S_OK);

        // zero sectors 101 and 104..105 (without unmap: zero range or written zeroes), 110..111 with unmap
        assertThat(segments(VirtioBlk.T_WRITE_ZEROES, new long[] {101, 1, 0}, new long[] {104, 2, 0},
                new long[] {110, 2, 1}).status()).isEqualTo(VirtioBlk.S_OK);
        MemorySegment back = buffer(8192);
        assertThat(read(100, back).status()).isEqualTo(VirtioBlk.S_OK);
        for (int s = 0; s < 16; s++) {
            boolean zeroed = s == 1 || s == 4 || s == 5 || s == 10 || s == 11;
            MemorySegment sec = back.asSlice(512L * s, 512);
            if (zeroed) {
                assertThat(sec.mismatch(buffer(512))).as("sector %d zeroed", 100 + s).isEqualTo(-1);
            } else {
                assertThat(sec.mismatch(data.asSlice(512L * s, 512))).as("sector %d kept", 100 + s).isEqualTo(-1);
            }
        }
        assertThat(dev.counters(0).bytesWritten()).isEqualTo(8192 + 5 * 512);

        assertThat(segments(VirtioBlk.T_DISCARD, new long[] {100, 16, 0}).status()).isEqualTo(VirtioBlk.S_OK);
        assertThat(segments(VirtioBlk.T_DISCARD, new long[] {100, 1, 1}).status())
                .as("unmap flag on discard").isEqualTo(VirtioBlk.S_UNSUPP);
        assertThat(segments(VirtioBlk.T_WRITE_ZEROES, new long[] {100, 1, 4}).status())
                .as("unknown flag").isEqualTo(VirtioBlk.S_UNSUPP);
        assertThat(run(new Buf(header(VirtioBlk.T_DISCARD, 0), 16, false)).status())
                .as("no segments").isEqualTo(VirtioBlk.S_IOERR);
        long[][] tooMany = new long[FileBlockModel.MAX_DISCARD_SEG + 1][];
        Arrays.fill(tooMany, new long[] {0, 1, 0});
        assertThat(segments(VirtioBlk.T_DISCARD, tooMany).status()).isEqualTo(VirtioBlk.S_IOERR);
        assertThat(segments(VirtioBlk.T_WRITE_ZEROES, new long[] {0, FileBlockModel.MAX_DISCARD_SECTORS + 1L, 0})
                .status()).isEqualTo(VirtioBlk.S_IOERR);
    }

    @Test
    void fileImageReadWriteFlushAndZeroes() throws Exception {
        Path img = tmp.resolve("disk0.raw");
        byte[] initial = new byte[(int) CAPACITY];
        Arrays.fill(initial, (byte) 0x11);
        Files.write(img, initial);
        start(open(img, false, 1, 64));
        assertThat(dev.capacitySectors()).isEqualTo(CAPACITY / 512);
        MemorySegment data = pattern(buffer(4096), 5);
        assertThat(write(16, data).status()).isEqualTo(VirtioBlk.S_OK);
        assertThat(run(new Buf(header(VirtioBlk.T_FLUSH, 0), 16, false)).status()).isEqualTo(VirtioBlk.S_OK);
        assertThat(segments(VirtioBlk.T_WRITE_ZEROES, new long[] {17, 1, 0}, new long[] {18, 1, 1}).status())
                .isEqualTo(VirtioBlk.S_OK);
        assertThat(segments(VirtioBlk.T_DISCARD, new long[] {40, 8, 0}).status()).isEqualTo(VirtioBlk.S_OK);

        byte[] file = Files.readAllBytes(img);
        assertThat(file).hasSize((int) CAPACITY);
        assertThat(Arrays.copyOfRange(file, 16 * 512, 17 * 512)).isEqualTo(data.asSlice(0, 512).toArray(ValueLayout.JAVA_BYTE));
        assertThat(Arrays.copyOfRange(file, 17 * 512, 19 * 512)).containsOnly(0);
        assertThat(Arrays.copyOfRange(file, 19 * 512, 24 * 512))
                .isEqualTo(data.asSlice(3 * 512, 2560).toArray(ValueLayout.JAVA_BYTE));
        assertThat(file[15 * 512]).isEqualTo((byte) 0x11);
        assertThat(Arrays.copyOfRange(file, 40 * 512, 48 * 512)).as("discarded: zero or unchanged")
                .satisfiesAnyOf(b -> assertThat(b).containsOnly(0), b -> assertThat(b).containsOnly(0x11));

        MemorySegment id = buffer(20);
        run(new Buf(header(VirtioBlk.T_GET_ID, 0), 16, false), new Buf(gpaOf(id), 20, true));
        assertThat(new String(id.toArray(ValueLayout.JAVA_BYTE), StandardCharsets.US_ASCII)).startsWith("vhost-blk-disk0.raw");
    }

    @Test
    void readOnlyImageRefusesWrites() throws Exception {
        Path img = tmp.resolve("ro.raw");
        byte[] initial = new byte[64 * 1024];
        Arrays.fill(initial, (byte) 0x22);
        Files.write(img, initial);
        FileBlockModel ro = open(img, true, 1, 64);
        assertThat(VirtioFeatures.has(ro.features(), VirtioBlk.F_RO)).isTrue();
        assertThat(VirtioFeatures.has(ro.features(), VirtioBlk.F_DISCARD)).isFalse();
        start(ro);
        assertThat(write(0, buffer(512)).status()).isEqualTo(VirtioBlk.S_IOERR);
        assertThat(segments(VirtioBlk.T_WRITE_ZEROES, new long[] {0, 1, 0}).status()).isEqualTo(VirtioBlk.S_IOERR);
        MemorySegment r = buffer(512);
        assertThat(read(0, r).status()).isEqualTo(VirtioBlk.S_OK);
        assertThat(r.toArray(ValueLayout.JAVA_BYTE)).containsOnly(0x22);
        assertThat(Files.readAllBytes(img)).containsOnly(0x22);
    }

    @Test
    void malformedRequestNeedsReset() throws Exception {
        start(inMemory(CAPACITY, 1, 64));
        long shortHdr = driver.alloc(8);
        long st = driver.alloc(1);
        driver.submit(new Buf(shortHdr, 8, false), new Buf(st, 1, true));
        kick.signal();
        assertThat(irq.awaitNeedsReset(5000)).isTrue();
        assertThat(irq.needsReset().get(0)).contains("queue 0").contains("header needs 16 readable bytes, chain has 8");
        assertThat(driver.usedIdx()).isZero();
    }

    @Test
    void missingStatusByteNeedsReset() throws Exception {
        start(inMemory(CAPACITY, 1, 64));
        driver.submit(new Buf(header(VirtioBlk.T_FLUSH, 0), 16, false));
        kick.signal();
        assertThat(irq.awaitNeedsReset(5000)).isTrue();
        assertThat(irq.needsReset().get(0)).contains("no writable status byte");
    }

    @Test
    void configSpaceAndFeatures() throws Exception {
        FileBlockModel m = inMemory(CAPACITY, 4, 128);
        closeables.add(m);
        long f = m.features();
        for (int bit : new int[] {VirtioFeatures.F_VERSION_1, VirtioFeatures.F_INDIRECT_DESC, VirtioFeatures.F_EVENT_IDX, VirtioFeatures.F_RING_PACKED,
                VirtioBlk.F_SEG_MAX, VirtioBlk.F_SIZE_MAX, VirtioBlk.F_BLK_SIZE, VirtioBlk.F_FLUSH, VirtioBlk.F_MQ,
                VirtioBlk.F_DISCARD, VirtioBlk.F_WRITE_ZEROES}) {
            assertThat(VirtioFeatures.has(f, bit)).as("feature bit %d", bit).isTrue();
        }
        assertThat(VirtioFeatures.has(f, VirtioBlk.F_RO)).isFalse();
        assertThat(m.queueMaxSizes()).containsExactly(128, 128, 128, 128);
        byte[] cfg = new byte[VirtioBlk.CONFIG_SIZE + 4];
        m.readConfig(0, cfg);
        ByteBuffer b = ByteBuffer.wrap(cfg).order(ByteOrder.LITTLE_ENDIAN);
        assertThat(b.getLong(VirtioBlk.CFG_CAPACITY)).isEqualTo(CAPACITY / 512);
        assertThat(b.getInt(VirtioBlk.CFG_SEG_MAX)).isEqualTo(126);
        assertThat(b.getInt(VirtioBlk.CFG_BLK_SIZE)).isEqualTo(512);
        assertThat(b.getShort(VirtioBlk.CFG_NUM_QUEUES)).isEqualTo((short) 4);
        assertThat(b.getInt(VirtioBlk.CFG_MAX_DISCARD_SEG)).isEqualTo(FileBlockModel.MAX_DISCARD_SEG);
        assertThat(cfg[VirtioBlk.CFG_WRITEBACK]).isEqualTo((byte) 1);
        assertThat(b.getInt(VirtioBlk.CONFIG_SIZE)).isZero();

        m.writeConfig(VirtioBlk.CFG_WRITEBACK, new byte[] {0});
        m.writeConfig(VirtioBlk.CFG_CAPACITY, new byte[] {9, 9}); // read-only field: ignored
        byte[] two = new byte[2];
        m.readConfig(VirtioBlk.CFG_WRITEBACK, two);
        assertThat(two[0]).isZero();
        m.readConfig(VirtioBlk.CFG_CAPACITY, two);
        assertThat(two).containsExactly(0, 8); // 2048 sectors = 0x0800

        // IN_ORDER (VIRTIO 1.2 2.7.9): the threads worker completes in pop order, io_uring does not
        assertThat(VirtioFeatures.has(f, VirtioFeatures.F_IN_ORDER)).as("IN_ORDER offered")
                .isEqualTo(aio() == FileBlockModel.Aio.THREADS);
        m.ackFeatures(f | VirtioFeatures.bit(VirtioFeatures.F_IN_ORDER) | VirtioFeatures.bit(VirtioFeatures.F_ACCESS_PLATFORM));
        assertThat(m.ackedFeatures()).isEqualTo(f);
    }

    @Test
    void writeThroughModeAfterWritebackCleared() throws Exception {
        start(inMemory(CAPACITY, 1, 64));
        dev.writeConfig(VirtioBlk.CFG_WRITEBACK, new byte[] {0});
        MemorySegment data = pattern(buffer(512), 4);
        assertThat(write(1, data).status()).isEqualTo(VirtioBlk.S_OK);
        dev.sleep();
        byte[] snap = dev.snapshot();
        dev.writeConfig(VirtioBlk.CFG_WRITEBACK, new byte[] {1});
        dev.restore(snap);
        byte[] wb = new byte[1];
        dev.readConfig(VirtioBlk.CFG_WRITEBACK, wb);
        assertThat(wb[0]).as("writeback restored from the snapshot").isZero();
    }

    @Test
    void activateRejectsBadQueues() throws Exception {
        FileBlockModel m = inMemory(CAPACITY, 1, 64);
        closeables.add(m);
        TestRingDriver big = new TestRingDriver(memory, 0, 128, GUEST_BASE, 1 << 20);
        assertThatThrownBy(() -> m.activate(memory, irq, List.of(big.config(-1, -1))))
                .hasMessageContaining("queue 0").hasMessageContaining("size 128 exceeds the maximum 64");
        TestRingDriver q1 = new TestRingDriver(memory, 1, 64, GUEST_BASE, 1 << 20);
        assertThatThrownBy(() -> m.activate(memory, irq, List.of(q1.config(-1, -1))))
                .hasMessageContaining("queue 1");
        assertThat(m.state()).isEqualTo(VirtioDeviceState.NEW);
        assertThatThrownBy(() -> open(tmp.resolve("missing.raw"), false, 1, 64))
                .isInstanceOf(VhostNativeException.class).hasMessageContaining("missing.raw");
        assertThatThrownBy(() -> inMemory(1000, 1, 64)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> inMemory(CAPACITY, 1, 48)).isInstanceOf(IllegalArgumentException.class);
    }

    /** The request path (pop, header, pread/pwrite into guest memory, status, addUsed) allocates nothing. */
    @Test
    void requestPathAllocatesNothing() throws Exception {
        dev = FileBlockModel.inMemory(CAPACITY, 1, 64, FileBlockModel.Aio.THREADS); // calls process() itself
        dev.ackFeatures(dev.features() & ~SPLIT_ONLY_MASK);
        var mx = (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
        MemorySegment data = pattern(buffer(4096), 6);
        long st = driver.alloc(1);
        int wHead = driver.writeChain(new Buf(header(VirtioBlk.T_OUT, 64), 16, false), new Buf(gpaOf(data), 4096, false),
                new Buf(st, 1, true));
        int rHead = driver.writeChain(new Buf(header(VirtioBlk.T_IN, 64), 16, false), new Buf(gpaOf(data), 4096, true),
                new Buf(st, 1, true));
        com.vhost.spi.virtqueue.DeviceQueue q =
                new com.vhost.spi.virtqueue.DeviceQueue(memory, driver.config(-1, -1), dev.ackedFeatures());
        long allocated = Long.MAX_VALUE;
        int rounds = 0;
        while (rounds < 30 && allocated >= 1024) { // steady state once the JIT compiled the path
            long before = mx.getCurrentThreadAllocatedBytes();
            for (int i = 0; i < 20_000; i++) {
                driver.makeAvailable((i & 1) == 0 ? wHead : rHead);
                dev.process(0, q);
            }
            allocated = mx.getCurrentThreadAllocatedBytes() - before;
            rounds++;
        }
        assertThat(allocated).as("bytes allocated by 20000 requests").isLessThan(1024);
        assertThat(dev.counters(0).requests()).isEqualTo(rounds * 20_000L);
        assertThat(dev.counters(0).bytesRead()).isEqualTo(rounds * 10_000 * 4096L);
        assertThat(driver.at(st, 1).get(ValueLayout.JAVA_BYTE, 0)).isEqualTo((byte) VirtioBlk.S_OK);
    }

    /**
     * The worker thread's allocation per request through eventfd kicks. The request path is
     * allocation-free (above); what remains is the native layer's epoll_wait and kick read, each
     * of which (JDK 25) slices its errno capture segment: 40 bytes per capturing downcall.
     */
    @Test
    void workerAllocationPerRequestIsBounded() throws Exception {
        start(inMemory(CAPACITY, 1, 64));
        var mx = (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
        MemorySegment data = pattern(buffer(4096), 6);
        long st = driver.alloc(1);
        int wHead = driver.writeChain(new Buf(header(VirtioBlk.T_OUT, 64), 16, false), new Buf(gpaOf(data), 4096, false),
                new Buf(st, 1, true));
        int rHead = driver.writeChain(new Buf(header(VirtioBlk.T_IN, 64), 16, false), new Buf(gpaOf(data), 4096, true),
                new Buf(st, 1, true));
        long workerId = -1;
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            if (t.getName().equals("vhost-blk-mem")) {
                workerId = t.threadId();
            }
        }
        assertThat(workerId).isNotEqualTo(-1);
        int n = 0;
        long perRequest = Long.MAX_VALUE;
        for (int round = 0; round < 10 && perRequest > 100; round++) { // until the JIT compiled it
            long before = mx.getThreadAllocatedBytes(workerId);
            for (int i = 0; i < 1000; i++) {
                driver.makeAvailable((i & 1) == 0 ? wHead : rHead);
                kick.signal();
                n++;
                assertThat(driver.awaitUsed(n, 5000)).isTrue();
            }
            perRequest = (mx.getThreadAllocatedBytes(workerId) - before) / 1000;
        }
        assertThat(perRequest).as("bytes allocated per request by the worker").isLessThanOrEqualTo(100);
        assertThat(dev.counters(0).requests()).isEqualTo(n);
    }

    /** A snapshot taken on one device resumes on another: restore, rebind memory, wake, data intact. */
    @Test
    void snapshotMovesToAnotherDevice() throws Exception {
        Path img = tmp.resolve("moved.raw");
        Files.write(img, new byte[(int) CAPACITY]);
        start(open(img, false, 1, 64));
        MemorySegment data = pattern(buffer(1024), 8);
        assertThat(write(4, data).status()).isEqualTo(VirtioBlk.S_OK);
        List<com.vhost.api.virtio.VirtqueueConfig> slept = dev.sleep();
        byte[] snap = dev.snapshot();
        dev.close();

        FileBlockModel other = open(img, false, 1, 64);
        dev = other;
        other.sleep();
        other.restore(snap);
        assertThat(other.state()).isEqualTo(VirtioDeviceState.ASLEEP_ACTIVE);
        assertThat(other.ackedFeatures()).isEqualTo(other.features() & ~SPLIT_ONLY_MASK);
        assertThatThrownBy(() -> other.wake(slept)).hasMessageContaining("rebind");
        FileBlockModel fresh = inMemory(CAPACITY, 2, 64);
        closeables.add(fresh);
        assertThatThrownBy(() -> fresh.restore(snap)).hasMessageContaining("not allowed in state NEW");
        other.rebind(memory, irq);
        other.wake(slept);
        MemorySegment back = buffer(1024);
        assertThat(read(4, back).status()).isEqualTo(VirtioBlk.S_OK);
        assertThat(back.mismatch(data)).isEqualTo(-1);

        other.sleep();
        FileBlockModel twoQueues = inMemory(CAPACITY, 2, 64);
        closeables.add(twoQueues);
        twoQueues.sleep();
        assertThatThrownBy(() -> twoQueues.restore(snap)).hasMessageContaining("does not fit");
        other.wake(slept);
        assertThatThrownBy(() -> other.rebind(memory, irq)).hasMessageContaining("not allowed in state ACTIVE");
    }
}
