package com.vhost.bench;

import com.vhost.api.user.VhostUserBackend;
import com.vhost.api.VhostTarget;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.devices.blk.model.FileBlockModel;
import com.vhost.spi.driver.DeviceStateTransfer;
import com.vhost.user.VhostUserOps;
import com.vhost.user.backend.VhostUserServer;
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
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * What carrying a back-end's state adds to a blk hot-swap between two own back-ends: SAVE from
 * one (SET_DEVICE_STATE_FD, pipe read to EOF, CHECK_DEVICE_STATE) and LOAD into the other, both
 * with every ring stopped, through the real sockets and servers ({@link DeviceStateTransfer}).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class DeviceStateBenchmark {
    private Path dir;
    private FileBlockModel a;
    private FileBlockModel b;
    private VhostUserServer sa;
    private VhostUserServer sb;
    private VhostUserBackend fa;
    private VhostUserBackend fb;

    @Setup(Level.Trial)
    public void setUp() throws Exception {
        dir = Files.createTempDirectory("state-bench");
        a = FileBlockModel.inMemory(1 << 20, 2, 64);
        b = FileBlockModel.inMemory(1 << 20, 2, 64);
        sa = new VhostUserServer(dir.resolve("a.sock"), a);
        sb = new VhostUserServer(dir.resolve("b.sock"), b);
        sa.start();
        sb.start();
        fa = connect(dir.resolve("a.sock"));
        fb = connect(dir.resolve("b.sock"));
    }

    private static VhostUserBackend connect(Path sock) throws Exception {
        VhostUserBackend fe = new VhostUserOps().open(VhostTarget.of(sock.toString()));
        fe.getFeatures();
        fe.setOwner();
        fe.setProtocolFeatures(fe.getProtocolFeatures());
        fe.setFeatures(VirtioFeatures.bit(VirtioFeatures.F_VERSION_1));
        return fe;
    }

    @TearDown(Level.Trial)
    public void tearDown() throws Exception {
        fa.close();
        fb.close();
        sa.close();
        sb.close();
        a.close();
        b.close();
        Files.deleteIfExists(dir.resolve("a.sock"));
        Files.deleteIfExists(dir.resolve("b.sock"));
        Files.deleteIfExists(dir);
    }

    @Benchmark
    public int saveAndLoad() throws Exception {
        byte[] state = DeviceStateTransfer.save(fa, 2000);
        DeviceStateTransfer.load(fb, state, 2000);
        return state.length;
    }
}
