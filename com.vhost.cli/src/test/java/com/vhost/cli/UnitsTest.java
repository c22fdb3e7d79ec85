package com.vhost.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.vhost.api.VhostBackendType;
import com.vhost.api.registry.BackendInfo;
import com.vhost.api.registry.DeviceInfo;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Sizes, latency percentiles (HdrHistogram), feature names and tables. */
class UnitsTest {
    @Test
    void sizesAcceptBinarySuffixes() {
        assertThat(Sizes.parse("4096")).isEqualTo(4096);
        assertThat(Sizes.parse("4k")).isEqualTo(4096);
        assertThat(Sizes.parse("64M")).isEqualTo(64L << 20);
        assertThat(Sizes.parse("1GiB")).isEqualTo(1L << 30);
        assertThat(Sizes.parse(" 2 t ".replace(" t", "t"))).isEqualTo(2L << 40);
        assertThatThrownBy(() -> Sizes.parse("-1")).hasMessageContaining("'-1' is not a size");
        assertThatThrownBy(() -> Sizes.parse("12q")).hasMessageContaining("'12q'");
        assertThatThrownBy(() -> Sizes.parse("99999999999999999999")).hasMessageContaining("too large");
        assertThatThrownBy(() -> Sizes.parse("9000000000000t")).hasMessageContaining("too large");
        assertThat(Sizes.human(512)).isEqualTo("512 B");
        assertThat(Sizes.human(64L << 20)).isEqualTo("64.0 MiB");
    }

    @Test
    void histogramPercentilesAreWithinATenthOfAPercent() {
        LatencyHistogram h = new LatencyHistogram();
        for (int i = 1; i <= 1000; i++) {
            h.record(i * 1000L);
        }
        assertThat(h.count()).isEqualTo(1000);
        assertThat((double) h.max()).isCloseTo(1_000_000, org.assertj.core.data.Percentage.withPercentage(0.1));
        assertThat((double) h.percentile(0.5)).isCloseTo(500_000, org.assertj.core.data.Percentage.withPercentage(0.1));
        assertThat((double) h.percentile(0.99)).isCloseTo(990_000, org.assertj.core.data.Percentage.withPercentage(0.1));
        assertThat(h.mean()).isCloseTo(500_500, org.assertj.core.data.Percentage.withPercentage(0.1));
        assertThat(h.percentile(1.0)).isLessThanOrEqualTo(h.max());
        LatencyHistogram other = LatencyHistogram.concurrent();
        other.record(5);
        other.record(-3);
        h.add(other);
        assertThat(h.count()).isEqualTo(1002);
        assertThat(h.percentile(0.001)).isLessThanOrEqualTo(5);
        h.record(Long.MAX_VALUE);
        assertThat((double) h.max()).isCloseTo(LatencyHistogram.HIGHEST_NANOS, org.assertj.core.data.Percentage.withPercentage(0.1));
        assertThatThrownBy(() -> h.percentile(0)).isInstanceOf(IllegalArgumentException.class);
        h.reset();
        assertThat(h.count()).isZero();
        assertThat(h.percentile(0.5)).isZero();
        assertThat(h.max()).isZero();
    }

    @Test
    void recordingDoesNotAllocate() {
        com.sun.management.ThreadMXBean mx = (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
        for (LatencyHistogram h : new LatencyHistogram[] {new LatencyHistogram(), LatencyHistogram.concurrent()}) {
            for (int i = 0; i < 20_000; i++) {
                h.record(i * 37L);
            }
            long before = mx.getCurrentThreadAllocatedBytes();
            for (int i = 0; i < 200_000; i++) {
                h.record(i * 7919L);
            }
            long allocated = mx.getCurrentThreadAllocatedBytes() - before;
            // one object per sample would be at least 3.2 MB; the JIT and the bean itself allocate a little
            assertThat(allocated).as("bytes allocated by 200000 records").isLessThan(64 * 1024);
        }
    }

    @Test
    void featureNamesFollowTheSpec() {
        assertThat(FeatureNames.blk((1L << 32) | (1L << 12) | (1L << 9))).isEqualTo("FLUSH MQ VERSION_1");
        assertThat(FeatureNames.blk(1L << 50)).isEqualTo("bit50");
        assertThat(FeatureNames.blk(0)).isEqualTo("(none)");
    }

    @Test
    void tablesAlignColumns() {
        StringWriter sw = new StringWriter();
        Tables.devices(List.of(new DeviceInfo("disk0", "blk", DeviceInfo.Status.BOUND, "user", "/tmp/a.sock", "blk 64 MiB"),
                new DeviceInfo("d1", "blk", DeviceInfo.Status.FAILED, null, "/x", "connect failed")), new PrintWriter(sw));
        assertThat(sw.toString().lines()).containsExactly(
                "ID     TYPE  STATUS  BACKEND  TARGET       DETAIL",
                "disk0  blk   BOUND   user     /tmp/a.sock  blk 64 MiB",
                "d1     blk   FAILED  -        /x           connect failed");
        sw.getBuffer().setLength(0);
        Tables.backends(List.of(new BackendInfo("user", VhostBackendType.USER, 0, 42, "com.vhost.user")), new PrintWriter(sw));
        assertThat(sw.toString().lines()).containsExactly("NAME  TYPE  RANKING  SERVICE  BUNDLE",
                "user  user  0        42       com.vhost.user");
        sw.getBuffer().setLength(0);
        Tables.devices(List.of(), new PrintWriter(sw, true));
        assertThat(sw.toString()).contains("no devices configured");
    }
}
