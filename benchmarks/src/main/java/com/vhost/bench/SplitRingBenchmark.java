package com.vhost.bench;

import com.vhost.api.virtio.GuestMemoryRegion;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.api.virtio.VirtqueueConfig;
import com.vhost.spi.memory.GuestMemoryMap;
import com.vhost.spi.nativeio.SharedMemory;
import com.vhost.spi.virtqueue.DescriptorChain;
import com.vhost.spi.virtqueue.DeviceQueue;
import com.vhost.spi.virtqueue.DriverQueue;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * One request's trip through both sides of a split virtqueue, in one thread, with no
 * notifications: the driver adds a 3-descriptor chain (header, data, status, as virtio-blk does),
 * the device pops and validates it, reads the header, writes the status and returns it used, and
 * the driver reaps it. Run with {@code -prof gc} to see the allocation rate (the data path
 * allocates nothing per request).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class SplitRingBenchmark {
    private static final long BASE_GPA = 0x1000_0000L;

    @Param({"256"})
    public int queueSize;

    @Param({"false", "true"})
    public boolean eventIdx;

    private SharedMemory mem;
    private DriverQueue driver;
    private DeviceQueue device;
    private DescriptorChain chain;
    private final long[] addrs = new long[3];
    private final int[] lens = new int[3];
    private long completed;
    private final DriverQueue.UsedHandler reap = (token, len) -> completed += len;

    @Setup(Level.Trial)
    public void setUp() throws Exception {
        long features = VirtioFeatures.bit(VirtioFeatures.F_VERSION_1)
                | (eventIdx ? VirtioFeatures.bit(VirtioFeatures.F_EVENT_IDX) : 0);
        long ringBytes = DriverQueue.layoutBytes(queueSize, 0);
        long dataOff = (ringBytes + 4095) & ~4095L;
        mem = SharedMemory.create("bench-ring", dataOff + 1 << 16);
        driver = new DriverQueue(0, queueSize, mem.segment(), BASE_GPA, features, 0);
        GuestMemoryMap gm = GuestMemoryMap.of(List.of(
                new GuestMemoryRegion(BASE_GPA, mem.size(), mem.address(), mem.fd(), 0, mem.segment())));
        device = new DeviceQueue(gm, new VirtqueueConfig(0, queueSize, driver.descGpa(), driver.availGpa(),
                driver.usedGpa(), 0, -1, -1, true), features);
        chain = device.newChain();
        addrs[0] = BASE_GPA + dataOff;
        lens[0] = 16;
        addrs[1] = BASE_GPA + dataOff + 512;
        lens[1] = 4096;
        addrs[2] = BASE_GPA + dataOff + 16;
        lens[2] = 1;
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        mem.close();
    }

    @Benchmark
    public long requestRoundTrip() throws Exception {
        driver.add(addrs, lens, 1, 2, 42L);
        driver.kickNeeded();
        device.pop(chain);
        long sector = chain.readLong(8);
        chain.writeByte(chain.writableBytes() - 1, (byte) 0);
        device.addUsed(chain.head(), 4097);
        device.needsNotification();
        driver.pollUsed(reap);
        return sector + completed;
    }
}
