package com.vhost.bench;

import com.vhost.spi.nativeio.EventFd;
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

/** The cost of one kick or call: an eventfd write plus the read that drains it (two syscalls). */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class EventFdBenchmark {
    private EventFd fd;

    @Setup(Level.Trial)
    public void setUp() throws Exception {
        fd = EventFd.create();
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        fd.close();
    }

    @Benchmark
    public long signalAndDrain() throws Exception {
        fd.signal();
        return fd.drain();
    }
}
