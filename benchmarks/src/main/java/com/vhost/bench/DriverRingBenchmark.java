package com.vhost.bench;

import com.vhost.api.virtio.SplitVirtqueueLayout;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.spi.virtqueue.DriverQueue;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The driver side of a virtqueue alone, split (VIRTIO 1.2 2.7) against packed (2.8), as the
 * net driver's transmit path uses it: a burst of 32 one-descriptor buffers added deferred, one
 * publish, one kick decision, then the device side reduced to writing the 32 used entries in the
 * ring's own format (split: used elements, then {@code used->idx}; packed: used descriptors, the
 * first one's flags last, as DPDK's vhost flushes a burst) and the driver reaping them. Time per buffer, in one thread; the device's writes
 * are the same few stores for both formats.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class DriverRingBenchmark {
    private static final int BURST = 32;
    private static final long BASE_GPA = 0x1000_0000L;
    private static final VarHandle U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN).varHandle();
    private static final VarHandle U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN).varHandle();

    @Param({"split", "packed"})
    public String ring;

    @Param({"256"})
    public int queueSize;

    private Arena arena;
    private MemorySegment mem;
    private DriverQueue q;
    private boolean packed;
    private long usedOff;
    private final long[] addrs = {0x2000_0000L};
    private final int[] lens = {76};
    private final int[] ids = new int[BURST];
    private long completed;
    private final DriverQueue.UsedHandler reap = (token, len) -> completed += token;
    /** The device's used position and wrap counter (packed) or used index (split). */
    private int devUsed;
    private int devWrap = 1;

    @Setup(Level.Trial)
    public void setUp() {
        packed = ring.equals("packed");
        long features = VirtioFeatures.bit(VirtioFeatures.F_VERSION_1) | VirtioFeatures.bit(VirtioFeatures.F_EVENT_IDX)
                | (packed ? VirtioFeatures.bit(VirtioFeatures.F_RING_PACKED) : 0);
        arena = Arena.ofConfined();
        mem = arena.allocate(DriverQueue.layoutBytes(queueSize, 0), 4096);
        q = new DriverQueue(0, queueSize, mem, BASE_GPA, features, 0);
        q.disableNotifications();
        usedOff = SplitVirtqueueLayout.usedOffset(queueSize);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        arena.close();
    }

    @Benchmark
    @OperationsPerInvocation(BURST)
    public long burst() throws Exception {
        for (int i = 0; i < BURST; i++) {
            ids[i] = q.addDeferred(addrs, lens, 1, 0, i);
        }
        q.publish();
        boolean kick = q.kickNeeded();
        if (packed) {
            long first = (long) devUsed * 16;
            short firstFlags = (short) (devWrap == 1 ? 0x8080 : 0);
            for (int i = 0; i < BURST; i++) {
                long d = (long) devUsed * 16;
                U32.set(mem, d + 8, 0);
                U16.set(mem, d + 12, (short) ids[i]);
                if (i > 0) {
                    U16.set(mem, d + 14, (short) (devWrap == 1 ? 0x8080 : 0));
                }
                if (++devUsed == queueSize) {
                    devUsed = 0;
                    devWrap ^= 1;
                }
            }
            VarHandle.releaseFence();
            U16.set(mem, first + 14, firstFlags);
        } else {
            for (int i = 0; i < BURST; i++) {
                long e = usedOff + 4 + 8L * ((devUsed + i) & (queueSize - 1));
                U32.set(mem, e, ids[i]);
                U32.set(mem, e + 4, 0);
            }
            devUsed = (devUsed + BURST) & 0xFFFF;
            VarHandle.releaseFence();
            U16.set(mem, usedOff + 2, (short) devUsed);
        }
        int n = q.pollUsed(reap);
        if (n != BURST) {
            throw new IllegalStateException(ring + ": " + n + " used buffers reaped, " + BURST + " expected");
        }
        return completed + (kick ? 1 : 0);
    }
}
