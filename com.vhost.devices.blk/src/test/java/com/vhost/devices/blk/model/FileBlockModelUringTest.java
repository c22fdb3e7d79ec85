package com.vhost.devices.blk.model;

import static org.assertj.core.api.Assertions.assertThat;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.api.blk.VirtioBlk;
import com.vhost.spi.testing.TestRingDriver.Buf;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Every {@link FileBlockModelTest} again with {@code aio=io_uring} ({@link UringRequests}), and
 * what only io_uring does: a batch in flight at once, O_DIRECT with aligned and unaligned guest
 * buffers, a failed CQE answered IOERR.
 */
class FileBlockModelUringTest extends FileBlockModelTest {
    @BeforeAll
    static void ioUringAvailable() {
        UringAvailable.require();
    }

    @Override
    FileBlockModel.Aio aio() {
        return FileBlockModel.Aio.IO_URING;
    }

    private Path image(Path dir, int bytes) throws IOException {
        Path img = dir.resolve("disk.img");
        Files.write(img, new byte[bytes]);
        return img;
    }

    /** 10 writes in one kick, then 10 reads in one kick (3 descriptors each, ring of 64): each head used once, OK, its own data. */
    @Test
    void aBatchInFlightCompletesEachRequestOnceWithItsData() throws Exception {
        start(open(image(tmp, 1 << 20), false, 1, 64));
        int n = 10;
        long[] status = new long[n];
        MemorySegment[] data = new MemorySegment[n];
        Set<Integer> heads = new HashSet<>();
        for (int i = 0; i < n; i++) {
            data[i] = pattern(driver.at(driver.alloc(4096), 4096), i);
            status[i] = driver.alloc(1);
            heads.add(driver.submit(new Buf(header(VirtioBlk.T_OUT, 8L * i), 16, false),
                    new Buf(gpaOf(data[i]), 4096, false), new Buf(status[i], 1, true)));
        }
        kick.signal();
        assertThat(driver.awaitUsed(n, 5000)).isTrue();
        Set<Integer> used = new HashSet<>();
        for (int i = 0; i < n; i++) {
            used.add(driver.usedId(i));
            assertThat(driver.at(status[i], 1).get(ValueLayout.JAVA_BYTE, 0)).isEqualTo((byte) VirtioBlk.S_OK);
        }
        assertThat(used).isEqualTo(heads);
        for (int i = 0; i < n; i++) {
            driver.takeUsed();
        }
        MemorySegment[] back = new MemorySegment[n];
        for (int i = 0; i < n; i++) {
            back[i] = driver.at(driver.alloc(4096), 4096);
            driver.submit(new Buf(header(VirtioBlk.T_IN, 8L * i), 16, false), new Buf(gpaOf(back[i]), 4096, true),
                    new Buf(status[i], 1, true));
        }
        kick.signal();
        assertThat(driver.awaitUsed(2 * n, 5000)).isTrue();
        for (int i = 0; i < n; i++) {
            assertThat(back[i].mismatch(data[i])).as("block " + i).isEqualTo(-1);
        }
        assertThat(dev.counters(0).requests()).isEqualTo(2L * n);
        assertThat(dev.counters(0).bytesRead()).isEqualTo(n * 4096L);
    }

    /** O_DIRECT: an aligned read and one whose data shares the header's buffer both return the image's bytes. */
    @Test
    void directImageServesAlignedAndUnalignedBuffers() throws Exception {
        Path dir = Files.createTempDirectory(Path.of("/var/tmp"), "vhost-direct");
        try {
            Path img = image(dir, 1 << 20);
            byte[] bytes = new byte[1 << 20];
            for (int i = 0; i < bytes.length; i++) {
                bytes[i] = (byte) (i * 13 + 1);
            }
            Files.write(img, bytes);
            start(FileBlockModel.open(img, false, 1, 64, FileBlockModel.Aio.IO_URING, true));
            long gpa = (driver.alloc(8192) + 4095) & ~4095L;
            MemorySegment aligned = driver.at(gpa, 4096);
            assertThat(read(16, aligned).status()).isEqualTo(VirtioBlk.S_OK);
            assertThat(aligned.toArray(ValueLayout.JAVA_BYTE)).isEqualTo(java.util.Arrays.copyOfRange(bytes, 16 * 512, 16 * 512 + 4096));
            MemorySegment odd = driver.at(driver.alloc(512 + 3) + 3, 512); // not 512-aligned: via the page cache
            assertThat(read(3, odd).status()).isEqualTo(VirtioBlk.S_OK);
            assertThat(odd.toArray(ValueLayout.JAVA_BYTE)).isEqualTo(java.util.Arrays.copyOfRange(bytes, 3 * 512, 4 * 512));
        } finally {
            if (dev != null) {
                dev.close();
                dev = null;
            }
            try (var files = Files.list(dir)) {
                for (Path f : files.toList()) {
                    Files.delete(f);
                }
            }
            Files.delete(dir);
        }
    }

    /**
     * The io_uring request path allocates nothing: 20 000 requests (writes and reads of 4 KiB,
     * each submitted by {@code process} and completed by {@code drain}, which waits for its CQE)
     * on the test thread, after the JIT compiled it, allocate under 1 KiB in all.
     */
    @Test
    void uringRequestPathAllocatesNothing() throws Exception {
        dev = FileBlockModel.open(image(tmp, 1 << 20), false, 1, 64, FileBlockModel.Aio.IO_URING, false);
        dev.ackFeatures(dev.features() & ~VirtioFeatures.bit(VirtioFeatures.F_RING_PACKED)); // a split-ring test driver
        UringRequests uring = dev.uring();
        uring.prepare(0);
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
        while (rounds < 30 && allocated >= 1024) {
            long before = mx.getCurrentThreadAllocatedBytes();
            for (int i = 0; i < 20_000; i++) {
                driver.makeAvailable((i & 1) == 0 ? wHead : rHead);
                uring.process(0, q);
                uring.drain(0, q);
            }
            allocated = mx.getCurrentThreadAllocatedBytes() - before;
            rounds++;
        }
        assertThat(allocated).as("bytes allocated by 20000 io_uring requests").isLessThan(1024);
        assertThat(dev.counters(0).requests()).isEqualTo(rounds * 20_000L);
        assertThat(driver.at(st, 1).get(ValueLayout.JAVA_BYTE, 0)).isEqualTo((byte) VirtioBlk.S_OK);
    }

    /** A read past the end of an image that shrank under the model completes with res 0: IOERR. */
    @Test
    void aReadPastAShrunkImageAnswersIoErr() throws Exception {
        Path img = image(tmp, 1 << 20);
        start(open(img, false, 1, 64));
        try (FileChannel ch = FileChannel.open(img, StandardOpenOption.WRITE)) {
            ch.truncate(4096);
        }
        MemorySegment buf = driver.at(driver.alloc(4096), 4096);
        assertThat(read(64, buf).status()).isEqualTo(VirtioBlk.S_IOERR);
        assertThat(read(0, buf).status()).isEqualTo(VirtioBlk.S_OK);
    }
}
