package com.vhost.bench;

import com.vhost.api.MemoryRegion;
import com.vhost.api.user.VhostUserBackend;
import com.vhost.api.VhostTarget;
import com.vhost.api.VringAddr;
import com.vhost.api.virtio.VirtioDevice;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.devices.blk.model.FileBlockModel;
import com.vhost.spi.nativeio.EventFd;
import com.vhost.spi.nativeio.SharedMemory;
import com.vhost.user.VhostUserOps;
import com.vhost.user.backend.VhostUserServer;
import java.nio.file.Files;
import java.nio.file.Path;
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
 * One vhost-user ring stop and start as a hot-swap does it (SET_VRING_ENABLE(0) + GET_VRING_BASE,
 * then SET_VRING_BASE + SET_VRING_KICK + SET_VRING_ENABLE(1)) on queue 0 of a two-queue in-memory
 * blk model whose queue 1 keeps running, through the real socket and back-end server.
 * {@code perQueue=true} serves the model itself (it stops and starts single queues);
 * {@code perQueue=false} serves it behind a plain {@link VirtioDevice}, so the server falls back
 * to putting the whole model to sleep and waking it for each change (the behaviour before
 * per-queue ring control).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class RingStopStartBenchmark {
    @Param({"true", "false"})
    public boolean perQueue;

    private Path dir;
    private FileBlockModel model;
    private VhostUserServer server;
    private VhostUserBackend fe;
    private SharedMemory mem;
    private EventFd kick0;
    private EventFd kick1;
    private EventFd call0;
    private EventFd call1;

    @Setup(Level.Trial)
    public void setUp() throws Exception {
        dir = Files.createTempDirectory("ring-bench");
        model = FileBlockModel.inMemory(1 << 20, 2, 64);
        server = new VhostUserServer(dir.resolve("r.sock"), perQueue ? model : new WholeModelOnly(model));
        server.start();
        fe = new VhostUserOps().open(VhostTarget.of(dir.resolve("r.sock").toString()));
        mem = SharedMemory.create("ring-bench", 1 << 20);
        kick0 = EventFd.create();
        kick1 = EventFd.create();
        call0 = EventFd.create();
        call1 = EventFd.create();
        fe.getFeatures();
        fe.setOwner();
        fe.setProtocolFeatures(fe.getProtocolFeatures());
        fe.setFeatures(VirtioFeatures.bit(VirtioFeatures.F_VERSION_1));
        long ua = mem.address();
        fe.setMemTable(List.of(new MemoryRegion(0, 1 << 20, ua, 0, mem.fd())));
        for (int q = 0; q < 2; q++) {
            long base = 0x10000L * q;
            fe.setVringNum(q, 64);
            fe.setVringBase(q, 0);
            fe.setVringAddr(new VringAddr(q, 0, ua + base, ua + base + 0x2000, ua + base + 0x1000, 0));
            fe.setVringCall(q, (q == 0 ? call0 : call1).fd());
            fe.setVringKick(q, (q == 0 ? kick0 : kick1).fd());
            fe.setVringEnable(q, true);
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() throws Exception {
        fe.close();
        server.close();
        model.close();
        mem.close();
        kick0.close();
        kick1.close();
        call0.close();
        call1.close();
        Files.deleteIfExists(dir.resolve("r.sock"));
        Files.deleteIfExists(dir);
    }

    @Benchmark
    public int stopAndStartOneRing() throws Exception {
        fe.setVringEnable(0, false);
        int base = fe.getVringBase(0);
        fe.setVringBase(0, base);
        fe.setVringKick(0, kick0.fd());
        fe.setVringEnable(0, true);
        return base;
    }

    /** The model behind the plain {@link VirtioDevice} interface only. */
    static final class WholeModelOnly extends com.vhost.spi.backend.ForwardingVirtioDevice {
        WholeModelOnly(VirtioDevice m) {
            super(m);
        }
    }
}
