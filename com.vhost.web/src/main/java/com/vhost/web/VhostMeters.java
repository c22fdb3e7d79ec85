package com.vhost.web;

import com.vhost.api.daemon.ServedBackendInfo;
import com.vhost.api.registry.DeviceInfo;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.distribution.pause.NoPauseDetector;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/**
 * The Prometheus metrics of {@code /metrics}, with Micrometer's Prometheus registry. Per device
 * (labels {@code device}, {@code type}): {@code vhost_device_requests_total},
 * {@code vhost_device_bytes_total}, {@code vhost_device_errors_total} (blk: requests answered
 * IOERR/UNSUPP; net: dropped frames), {@code vhost_device_swaps_total}, {@code vhost_device_bound}
 * (1 BOUND, 0 not) and the histogram {@code vhost_device_swap_pause_seconds} (buckets 1 ms to
 * 5 s). Per served back-end (labels {@code backend}, {@code type}):
 * {@code vhost_served_sessions_total}, {@code vhost_served_requests_total},
 * {@code vhost_served_bytes_total}. Counter values are the devices' and models' own counters as of
 * the last {@link #sync}; a device that is re-created starts again from 0 (a counter reset, which
 * Prometheus' {@code rate} handles).
 *
 * <p>Swap pauses are sampled: each {@link #sync} that sees a device's {@code swaps} counter grow
 * records its last pause ({@code last.pause.us}, else {@code last.switch.us}) once, so swaps closer
 * together than the sync interval count in {@code vhost_device_swaps_total} but add one sample.
 * Thread-safe.
 */
final class VhostMeters {
    /** Bucket bounds of the swap pause histogram. */
    static final Duration[] PAUSE_BUCKETS = {ms(1), ms(2), ms(5), ms(10), ms(20), ms(50), ms(100), ms(200), ms(500), ms(1000),
        ms(2000), ms(5000)};

    private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);

    VhostMeters() {
        // Micrometer's default pause detector needs LatencyUtils (not embedded); the swap pauses
        // are measured by the drivers, not inferred from JVM pauses.
        registry.config().pauseDetector(new NoPauseDetector());
    }
    private final Map<String, Tracked> devices = new HashMap<>();
    private final Map<String, Tracked> served = new HashMap<>();

    /** The meters of one device or back-end and its counters as of the last sync. */
    private static final class Tracked {
        final List<Meter> meters = new ArrayList<>();
        volatile Map<String, Long> counters;
        volatile boolean bound;
        long swapsSeen;
        Timer pauses;

        Tracked(Map<String, Long> counters) {
            this.counters = counters;
        }

        double get(String key) {
            Long v = counters.get(key);
            return v == null ? 0 : v;
        }

        double sum(String... keys) {
            double s = 0;
            for (String k : keys) {
                s += get(k);
            }
            return s;
        }

        /** @return the sum of every counter whose name ends in {@code suffix} */
        double sumEnding(String suffix) {
            double s = 0;
            for (Map.Entry<String, Long> e : counters.entrySet()) {
                if (e.getKey().endsWith(suffix)) {
                    s += e.getValue();
                }
            }
            return s;
        }
    }

    private static Duration ms(long ms) {
        return Duration.ofMillis(ms);
    }

    /**
     * Brings the meters up to date: meters for new devices and back-ends, none for those gone,
     * the counters read, a swap pause recorded per device whose swaps grew.
     *
     * @param counters a device's counters by id ({@code DeviceRegistry.counters})
     */
    synchronized void sync(List<DeviceInfo> deviceList, Function<String, Map<String, Long>> counters, List<ServedBackendInfo> servedList) {
        Map<String, DeviceInfo> now = new HashMap<>();
        deviceList.forEach(d -> now.put(d.id(), d));
        devices.keySet().removeIf(id -> {
            if (!now.containsKey(id)) {
                devices.get(id).meters.forEach(registry::remove);
                return true;
            }
            return false;
        });
        for (DeviceInfo d : deviceList) {
            Map<String, Long> c = counters.apply(d.id());
            Tracked t = devices.get(d.id());
            if (t == null) {
                t = new Tracked(c);
                t.swapsSeen = c.getOrDefault("swaps", 0L);
                register(d, t);
                devices.put(d.id(), t);
            }
            t.counters = c;
            t.bound = d.status() == DeviceInfo.Status.BOUND;
            long swaps = c.getOrDefault("swaps", 0L);
            if (swaps > t.swapsSeen) {
                long us = c.getOrDefault("last.pause.us", -1L);
                if (us < 0) {
                    us = c.getOrDefault("last.switch.us", -1L);
                }
                if (us >= 0) {
                    t.pauses.record(us, TimeUnit.MICROSECONDS);
                }
            }
            t.swapsSeen = swaps;
        }
        Map<String, ServedBackendInfo> servedNow = new HashMap<>();
        servedList.forEach(s -> servedNow.put(s.name(), s));
        served.keySet().removeIf(n -> {
            if (!servedNow.containsKey(n)) {
                served.get(n).meters.forEach(registry::remove);
                return true;
            }
            return false;
        });
        for (ServedBackendInfo s : servedList) {
            Map<String, Long> c = new HashMap<>(s.counters());
            c.put("sessions", s.sessions());
            Tracked t = served.get(s.name());
            if (t == null) {
                t = new Tracked(c);
                register(s, t);
                served.put(s.name(), t);
            }
            t.counters = c;
        }
    }

    private void register(DeviceInfo d, Tracked t) {
        Tags tags = Tags.of("device", d.id(), "type", d.deviceType());
        t.meters.add(FunctionCounter.builder("vhost.device.requests", t, x -> x.get("requests")).tags(tags)
                .description("requests completed (blk: with S_OK; net: frames sent and received)").register(registry));
        t.meters.add(FunctionCounter.builder("vhost.device.bytes", t, x -> x.get("bytes")).tags(tags).baseUnit("bytes")
                .description("bytes moved by completed requests").register(registry));
        t.meters.add(FunctionCounter.builder("vhost.device.errors", t, x -> x.sum("errors", "drops")).tags(tags)
                .description("blk: requests answered IOERR or UNSUPP; net: frames dropped").register(registry));
        t.meters.add(FunctionCounter.builder("vhost.device.swaps", t, x -> x.get("swaps")).tags(tags)
                .description("hot-swaps to another back-end").register(registry));
        t.meters.add(Gauge.builder("vhost.device.bound", t, x -> x.bound ? 1 : 0).tags(tags)
                .description("1 while the device is BOUND to a back-end").register(registry));
        t.pauses = Timer.builder("vhost.device.swap.pause").tags(tags).serviceLevelObjectives(PAUSE_BUCKETS)
                .description("I/O pause of hot-swaps (last completion on the old back-end to the first on the new; the switch time when idle)")
                .register(registry);
        t.meters.add(t.pauses);
    }

    private void register(ServedBackendInfo s, Tracked t) {
        Tags tags = Tags.of("backend", s.name(), "type", s.type());
        t.meters.add(FunctionCounter.builder("vhost.served.sessions", t, x -> x.get("sessions")).tags(tags)
                .description("front-end sessions accepted").register(registry));
        t.meters.add(FunctionCounter.builder("vhost.served.requests", t,
                x -> x.counters.containsKey("requests") ? x.get("requests") : x.sumEnding(".packets")).tags(tags)
                .description("requests the model completed (net: packets both ways)").register(registry));
        t.meters.add(FunctionCounter.builder("vhost.served.bytes", t,
                x -> x.counters.containsKey("bytes.read") ? x.sum("bytes.read", "bytes.written") : x.sumEnding(".bytes")).tags(tags)
                .baseUnit("bytes").description("bytes the model moved").register(registry));
    }

    /** @return the metrics in the Prometheus text exposition format 0.0.4 */
    String scrape() {
        return registry.scrape();
    }

    /** @return the content type of {@link #scrape()} */
    static String contentType() {
        return "text/plain; version=0.0.4; charset=utf-8";
    }
}
