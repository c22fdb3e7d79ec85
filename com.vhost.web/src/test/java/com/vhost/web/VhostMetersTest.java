package com.vhost.web;

import static org.assertj.core.api.Assertions.assertThat;

import com.vhost.api.daemon.HealthResult;
import com.vhost.api.daemon.ServedBackendInfo;
import com.vhost.api.registry.DeviceInfo;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.felix.hc.api.Result;
import org.junit.jupiter.api.Test;

class VhostMetersTest {
    final VhostMeters meters = new VhostMeters();
    final Map<String, Map<String, Long>> counters = new HashMap<>();

    static DeviceInfo device(String id, DeviceInfo.Status s) {
        return new DeviceInfo(id, "blk", s, "user", "/tmp/" + id + ".sock", null);
    }

    @Test
    void devicesAndServedBackEndsBecomeSeries() {
        counters.put("d0", Map.of("requests", 10L, "bytes", 40960L, "errors", 1L, "swaps", 0L, "last.pause.us", -1L));
        ServedBackendInfo a = new ServedBackendInfo("a", "blk", "/tmp/a.sock", 2, "virtio-blk memory",
                Map.of("requests", 7L, "bytes.read", 100L, "bytes.written", 24L));
        ServedBackendInfo n = new ServedBackendInfo("n", "net", "/tmp/n.sock", 1, "virtio-net loopback",
                Map.of("pair.0.tx.packets", 3L, "pair.0.rx.packets", 4L, "pair.0.tx.bytes", 30L, "pair.0.rx.bytes", 40L));
        meters.sync(List.of(device("d0", DeviceInfo.Status.BOUND)), counters::get, List.of(a, n));
        String text = meters.scrape();
        assertThat(text).contains("vhost_device_requests_total{device=\"d0\",type=\"blk\"} 10.0",
                "vhost_device_bytes_total{device=\"d0\",type=\"blk\"} 40960.0", "vhost_device_errors_total{device=\"d0\",type=\"blk\"} 1.0",
                "vhost_device_swaps_total{device=\"d0\",type=\"blk\"} 0.0", "vhost_device_bound{device=\"d0\",type=\"blk\"} 1.0",
                "vhost_device_swap_pause_seconds_count{device=\"d0\",type=\"blk\"} 0",
                "vhost_served_sessions_total{backend=\"a\",type=\"blk\"} 2.0", "vhost_served_requests_total{backend=\"a\",type=\"blk\"} 7.0",
                "vhost_served_bytes_total{backend=\"a\",type=\"blk\"} 124.0", "vhost_served_requests_total{backend=\"n\",type=\"net\"} 7.0",
                "vhost_served_bytes_total{backend=\"n\",type=\"net\"} 70.0", "# TYPE vhost_device_requests_total counter");
    }

    @Test
    void aSwapAddsItsPauseToTheHistogramOnceAndGoneDevicesLeave() {
        counters.put("d0", Map.of("swaps", 0L, "last.pause.us", -1L, "last.switch.us", -1L));
        meters.sync(List.of(device("d0", DeviceInfo.Status.BOUND)), counters::get, List.of());
        counters.put("d0", Map.of("swaps", 1L, "last.pause.us", 3_000L, "last.switch.us", 9_000L));
        meters.sync(List.of(device("d0", DeviceInfo.Status.BOUND)), counters::get, List.of());
        meters.sync(List.of(device("d0", DeviceInfo.Status.BOUND)), counters::get, List.of());
        String text = meters.scrape();
        assertThat(text).contains("vhost_device_swap_pause_seconds_count{device=\"d0\",type=\"blk\"} 1",
                "vhost_device_swap_pause_seconds_bucket{device=\"d0\",type=\"blk\",le=\"0.002\"} 0",
                "vhost_device_swap_pause_seconds_bucket{device=\"d0\",type=\"blk\",le=\"0.005\"} 1",
                "vhost_device_swap_pause_seconds_sum{device=\"d0\",type=\"blk\"} 0.003");
        counters.put("d0", Map.of("swaps", 2L, "last.pause.us", -1L, "last.switch.us", 700_000L));
        meters.sync(List.of(device("d0", DeviceInfo.Status.WAITING)), counters::get, List.of());
        assertThat(meters.scrape()).as("an idle swap counts its switch time")
                .contains("vhost_device_swap_pause_seconds_count{device=\"d0\",type=\"blk\"} 2",
                        "vhost_device_swap_pause_seconds_bucket{device=\"d0\",type=\"blk\",le=\"0.5\"} 1",
                        "vhost_device_bound{device=\"d0\",type=\"blk\"} 0.0");
        meters.sync(List.of(), counters::get, List.of());
        assertThat(meters.scrape()).doesNotContain("d0");
    }

    @Test
    void daemonOutcomesMapToFelixResults() {
        assertThat(HealthChecks.result(() -> Optional.of(new HealthResult("device d0", HealthResult.Status.CRITICAL, "FAILED")), "gone")
                .getStatus()).isEqualTo(Result.Status.CRITICAL);
        assertThat(HealthChecks.result(() -> Optional.of(new HealthResult("device d0", HealthResult.Status.WARN, "WAITING")), "gone")
                .getStatus()).isEqualTo(Result.Status.WARN);
        Result gone = HealthChecks.result(Optional::empty, "device 'd0' no longer exists");
        assertThat(gone.getStatus()).isEqualTo(Result.Status.TEMPORARILY_UNAVAILABLE);
        assertThat(gone.toString()).contains("no longer exists");
    }

    @Test
    void htmlIsEscaped() {
        assertThat(VhostConsolePlugin.esc("<a href='x'>\"&</a>")).isEqualTo("&lt;a href=&#39;x&#39;&gt;&quot;&amp;&lt;/a&gt;");
        assertThat(VhostConsolePlugin.esc(null)).isEmpty();
    }
}
