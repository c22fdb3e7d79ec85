package com.vhost.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.vhost.api.VirtioDeviceException;
import java.io.PrintWriter;
import java.io.StringWriter;
import org.junit.jupiter.api.Test;

/** The bench and the write/verify workload on an in-memory device. */
class WorkloadTest {
    @Test
    void verifyWorkloadWritesAndChecksEveryWord() throws Exception {
        MemoryBlockDevice dev = new MemoryBlockDevice(1 << 20, 2);
        StringWriter progress = new StringWriter();
        VerifyWorkload.Result r = VerifyWorkload.run(dev, 1 << 20, 64 * 1024, 4, 99, new Progress(new PrintWriter(progress), true));
        assertThat(r.bytes()).isEqualTo(1 << 20);
        assertThat(r.writeMiBs()).isPositive();
        assertThat(progress.toString()).contains("write", "verify", "(100%)");
        assertThat(dev.contents().get(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, 8))
                .isEqualTo(VerifyWorkload.word(8, 99));
    }

    @Test
    void verifyWorkloadNamesTheFirstBadOffset() {
        MemoryBlockDevice dev = new MemoryBlockDevice(1 << 20, 1);
        dev.corruptAt = 300_000;
        assertThatThrownBy(() -> VerifyWorkload.run(dev, 1 << 20, 64 * 1024, 4, 5, new Progress(new PrintWriter(new StringWriter()), false)))
                .isInstanceOf(VirtioDeviceException.class)
                .hasMessageContaining("verify failed at byte offset 300000");
    }

    @Test
    void failedRequestsSurfaceWithTheirOffset() {
        MemoryBlockDevice dev = new MemoryBlockDevice(1 << 20, 1);
        dev.close();
        assertThatThrownBy(() -> VerifyWorkload.run(dev, 1 << 20, 64 * 1024, 4, 5, new Progress(new PrintWriter(new StringWriter()), false)))
                .isInstanceOf(VirtioDeviceException.class)
                .hasMessageContaining("write at offset 0 failed: device closed");
    }

    @Test
    void benchKeepsEverySlotBusyAndReportsLatency() throws Exception {
        MemoryBlockDevice dev = new MemoryBlockDevice(1 << 20, 2);
        Bench.Result r = Bench.run(dev, Bench.Mode.RANDREAD, 4096, 8, 2, 1);
        assertThat(r.errors()).isZero();
        assertThat(r.ops()).isPositive().isEqualTo(dev.requests.get());
        assertThat(r.bytes()).isEqualTo(r.ops() * 4096);
        assertThat(r.latency().percentile(0.5)).isLessThanOrEqualTo(r.latency().percentile(0.99));
        assertThat(r.latency().percentile(0.99)).isLessThanOrEqualTo(r.latency().max());
        assertThat(r.summary()).startsWith("IOPS ");
    }

    @Test
    void benchStopsASlotOnAnErrorAndReportsIt() throws Exception {
        MemoryBlockDevice dev = new MemoryBlockDevice(1 << 20, 1);
        dev.close();
        Bench.Result r = Bench.run(dev, Bench.Mode.WRITE, 4096, 2, 1, 1);
        assertThat(r.errors()).isEqualTo(2);
        assertThat(r.firstError()).isEqualTo("device closed");
    }

    @Test
    void benchRejectsParametersOutsideTheDevice() {
        MemoryBlockDevice dev = new MemoryBlockDevice(1 << 20, 1);
        assertThatThrownBy(() -> Bench.run(dev, Bench.Mode.READ, 1000, 1, 1, 1)).hasMessageContaining("--bs 1000");
        assertThatThrownBy(() -> Bench.run(dev, Bench.Mode.READ, 4096, 1, 2, 1)).hasMessageContaining("--queues 2 is outside 1..1");
        assertThatThrownBy(() -> Bench.run(dev, Bench.Mode.READ, 4096, 0, 1, 1)).hasMessageContaining("--iodepth 0");
        assertThatThrownBy(() -> Bench.run(dev, Bench.Mode.READ, 4096, 1, 1, 0)).hasMessageContaining("--seconds 0");
    }
}
