package com.vhost.daemon;

import com.vhost.api.blk.BlockDevice;
import com.vhost.api.net.NetDevice;
import com.vhost.api.registry.DeviceInfo;
import com.vhost.api.registry.DeviceRegistry;
import com.vhost.daemon.rpc.Params;
import com.vhost.daemon.rpc.RpcException;
import com.vhost.spi.workload.BlockLoad;
import com.vhost.spi.workload.SequencedStream;
import com.vhost.spi.workload.VerifiedWorkload;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.HdrHistogram.ConcurrentHistogram;

/**
 * {@code device_bench}: a benchmark run in the daemon on one of its devices, so other clients may
 * swap the device meanwhile (the device object stays the same across swaps). A blk device runs
 * {@link BlockLoad} ({@code verify=false}: fio's {@code rw}, {@code bs}, {@code iodepth} per queue,
 * every queue of the device) or {@link VerifiedWorkload} ({@code verify=true}: checksummed writes
 * read back, {@code iodepth} blocks per worker, one worker per queue); a net device runs a
 * {@link SequencedStream} echo on pair 0 (the back-end must return frames, e.g. the loopback
 * model). One result shape: {@code {id, type, rw, bs, iodepth, seconds, verify, ops, iops, mib_s,
 * lat_us: {p50, p99, max} | null, lost, duplicated, corrupted, errors, first_error}}; counts that
 * a mode does not check are null (a plain blk bench checks no data: {@code corrupted} null;
 * {@code duplicated} needs the verified workload's accounting).
 */
final class DeviceBench {
    /** Longest {@code seconds}. */
    static final long MAX_SECONDS = 600;
    private static final long HIGHEST_NANOS = TimeUnit.MINUTES.toNanos(10);

    private final DeviceRegistry registry;

    DeviceBench(DeviceRegistry registry) {
        this.registry = registry;
    }

    Object bench(Params p) throws Exception {
        p.allowOnly("id", "rw", "bs", "iodepth", "seconds", "verify");
        String id = p.string("id");
        DeviceInfo d = registry.device(id).orElseThrow(() -> new RpcException(RpcException.NOT_FOUND, "no device '" + id + "'"));
        String rw = p.oneOf("rw", "randread", "read", "write", "randread", "randwrite");
        long bs = p.integer("bs", 4096, 512, 1 << 20);
        int iodepth = (int) p.integer("iodepth", 16, 1, 1024);
        long seconds = p.integer("seconds", 5, 1, MAX_SECONDS);
        boolean verify = p.bool("verify", false);
        if (d.status() != DeviceInfo.Status.BOUND) {
            throw new RpcException(RpcException.OPERATION_FAILED, "device '" + id + "' is " + d.status() + ", not BOUND: nothing to bench");
        }
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("id", id);
        r.put("type", d.deviceType());
        r.put("rw", verify ? "verify" : rw);
        r.put("bs", bs);
        r.put("iodepth", iodepth);
        r.put("seconds", seconds);
        r.put("verify", verify);
        Optional<BlockDevice> blk = registry.deviceApi(id, BlockDevice.class);
        if (blk.isPresent()) {
            if (verify) {
                verified(blk.get(), id, (int) bs, iodepth, seconds, r);
            } else {
                load(blk.get(), BlockLoad.Mode.valueOf(rw.toUpperCase(Locale.ROOT)), (int) bs, iodepth, seconds, r);
            }
            return r;
        }
        Optional<NetDevice> net = registry.deviceApi(id, NetDevice.class);
        if (net.isPresent()) {
            echo(net.get(), iodepth, seconds, r);
            return r;
        }
        throw new RpcException(RpcException.OPERATION_FAILED, "device '" + id + "' offers neither a BlockDevice nor a NetDevice");
    }

    private static void load(BlockDevice dev, BlockLoad.Mode mode, int bs, int iodepth, long seconds, Map<String, Object> r)
            throws RpcException, InterruptedException {
        ConcurrentHistogram h = new ConcurrentHistogram(HIGHEST_NANOS, 3);
        BlockLoad.Outcome o;
        try (BlockLoad load = start(dev, mode, bs, iodepth, seconds, h)) {
            load.await(TimeUnit.SECONDS.toNanos(seconds + 30));
            o = load.finish();
        }
        r.put("ops", o.ops());
        r.put("iops", round(o.iops()));
        r.put("mib_s", round(o.mibPerSecond()));
        Map<String, Object> lat = new LinkedHashMap<>();
        lat.put("p50", round(h.getValueAtPercentile(50) / 1e3));
        lat.put("p99", round(h.getValueAtPercentile(99) / 1e3));
        lat.put("max", round(h.getMaxValue() / 1e3));
        r.put("lat_us", lat);
        r.put("lost", o.errors());
        r.put("duplicated", null);
        r.put("corrupted", null);
        r.put("errors", o.errors());
        r.put("first_error", o.firstError());
    }

    private static BlockLoad start(BlockDevice dev, BlockLoad.Mode mode, int bs, int iodepth, long seconds, ConcurrentHistogram h)
            throws RpcException {
        try {
            return BlockLoad.start(dev, mode, bs, iodepth, dev.info().numQueues(), TimeUnit.SECONDS.toNanos(seconds),
                    nanos -> h.recordValue(Math.min(nanos, HIGHEST_NANOS)));
        } catch (IllegalArgumentException e) {
            throw new RpcException(RpcException.INVALID_PARAMS, "device_bench: " + e.getMessage());
        }
    }

    private void verified(BlockDevice dev, String id, int bs, int iodepth, long seconds, Map<String, Object> r)
            throws RpcException, InterruptedException {
        VerifiedWorkload w;
        try {
            w = new VerifiedWorkload(dev, Math.min(dev.info().capacityBytes(), 64L << 20), bs, dev.info().numQueues(), iodepth,
                    System.nanoTime(), () -> registry.counters(id).getOrDefault("requests", 0L));
        } catch (IllegalArgumentException e) {
            throw new RpcException(RpcException.INVALID_PARAMS, "device_bench: " + e.getMessage());
        }
        long t0 = System.nanoTime();
        w.start();
        VerifiedWorkload.Result v;
        try {
            Thread.sleep(TimeUnit.SECONDS.toMillis(seconds));
        } finally {
            v = w.stop();
        }
        double secs = (System.nanoTime() - t0) / 1e9;
        long ops = v.writes() + v.reads();
        r.put("ops", ops);
        r.put("iops", round(ops / secs));
        r.put("mib_s", round(ops * (double) bs / secs / (1 << 20)));
        r.put("lat_us", null);
        r.put("lost", v.lost());
        r.put("duplicated", v.duplicated());
        r.put("corrupted", v.corrupted());
        r.put("errors", v.lost());
        r.put("first_error", v.firstError());
    }

    private static void echo(NetDevice net, int window, long seconds, Map<String, Object> r) throws InterruptedException {
        long t0 = System.nanoTime();
        SequencedStream.Result s;
        try (SequencedStream stream = new SequencedStream(net, 0, Math.max(window, 16), 16)) {
            stream.start();
            Thread.sleep(TimeUnit.SECONDS.toMillis(seconds));
            s = stream.stop(2000);
            double secs = (System.nanoTime() - t0) / 1e9;
            r.put("ops", s.received());
            r.put("iops", round(s.received() / secs));
            r.put("mib_s", null);
            r.put("lat_us", null);
            r.put("lost", s.lost());
            r.put("duplicated", s.duplicated());
            r.put("corrupted", s.corrupted());
            r.put("reordered", s.reordered());
            Throwable failed = stream.firstError();
            r.put("errors", failed == null ? 0 : 1);
            r.put("first_error", failed == null ? null : failed.toString());
        }
    }

    private static double round(double v) {
        return Math.round(v * 1000) / 1000.0;
    }
}
