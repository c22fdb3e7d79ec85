package com.vhost.bench;

import com.vhost.api.VhostTarget;
import com.vhost.api.blk.VirtioBlk;
import com.vhost.api.blk.BlockCompletion;
import com.vhost.devices.blk.driver.BlkDriverOptions;
import com.vhost.devices.blk.driver.BlkRequestQueue;
import com.vhost.devices.blk.driver.BlockDevices;
import com.vhost.devices.blk.driver.VirtioBlkDriver;
import com.vhost.devices.blk.model.FileBlockModel;
import com.vhost.user.VhostUserOps;
import com.vhost.user.backend.VhostUserServer;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
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
 * A 4 KiB read at queue depth 1 through the whole stack in one process: the driver's
 * zero-allocation queue path, a vhost-user socket, the back-end server and the in-memory blk
 * model on its worker thread, with eventfd or polled completions. {@code -prof gc} shows the
 * driver thread's allocation per request.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class BlkRequestBenchmark {
    @Param({"false", "true"})
    public boolean poll;

    private Path dir;
    private FileBlockModel model;
    private VhostUserServer server;
    private VirtioBlkDriver blk;
    private BlkRequestQueue q;
    private MemorySegment buf;
    private long done;
    private final BlockCompletion onDone = (tag, status) -> done++;
    private long offset;

    @Setup(Level.Trial)
    public void setUp() throws Exception {
        dir = Files.createTempDirectory("blk-bench");
        model = FileBlockModel.inMemory(64L << 20, 1, 128);
        server = new VhostUserServer(dir.resolve("b.sock"), model);
        server.start();
        blk = BlockDevices.open(new VhostUserOps().open(VhostTarget.of(dir.resolve("b.sock").toString())),
                new BlkDriverOptions(1, 128, poll, 1 << 20));
        q = blk.queue(0);
        buf = blk.allocateBuffer(4096);
    }

    @TearDown(Level.Trial)
    public void tearDown() throws Exception {
        blk.close();
        server.close();
        model.close();
        Files.deleteIfExists(dir.resolve("b.sock"));
        Files.deleteIfExists(dir);
    }

    @Benchmark
    public long read4kQd1() throws Exception {
        offset = (offset + 4096) & ((64L << 20) - 1);
        long before = done;
        q.submit(VirtioBlk.T_IN, offset, buf, offset);
        q.kick();
        while (done == before) {
            q.await(onDone, 1_000_000_000L);
        }
        return done;
    }
}
