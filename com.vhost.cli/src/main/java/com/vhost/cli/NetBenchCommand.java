package com.vhost.cli;

import static com.vhost.cli.NetCommand.RX_BUFFER_BYTES;
import static com.vhost.cli.NetCommand.fill;

import com.vhost.api.net.NetDevice;
import com.vhost.api.net.NetQueueStats;
import com.vhost.api.net.VirtioNet;
import java.io.PrintWriter;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code vhost net bench}: the packet rate on queue pair 0 in one of three modes, as testpmd measures it. */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = {"Measures the packet rate on queue pair 0 and prints Mpps, Gbit/s and drops.",
            "Modes: tx (transmit only), rx (receive only; the peer sends), echo (transmit a burst, receive it back).",
            "Gbit/s counts frame bytes (no preamble, FCS or gap). Drops: tx, frames offered while the transmit ring was "
                + "full; rx, frames the driver dropped; echo, frames that did not come back plus those dropped."},
        footerHeading = "%nExamples:%n",
        footer = {"  vhost net bench --socket /tmp/vun.sock --mode echo --seconds 10",
            "  vhost net bench --socket /tmp/vun.sock --mode tx --pkt-size 1514 --poll --json"})
final class NetBenchCommand extends NetCommand.DeviceCommand<NetBenchCommand.Rate> {
    @Option(names = "--pkt-size", paramLabel = "SIZE", defaultValue = "64", converter = SizeConverter.class,
            description = "frame length in bytes, 18..MTU+18: 64, 1514, 9k for a jumbo MTU (default ${DEFAULT-VALUE})")
    long pktSize;

    @Option(names = "--seconds", paramLabel = "DURATION", defaultValue = "5", converter = DurationConverter.class,
            description = "run time: 5, 500ms, 2m (a number alone is seconds; default ${DEFAULT-VALUE})")
    java.time.Duration time;

    @Option(names = "--burst", paramLabel = "N", defaultValue = "32", description = "frames per call (default ${DEFAULT-VALUE})")
    int burst;

    @Option(names = "--mode", paramLabel = "MODE", defaultValue = "echo", description = "tx, rx or echo (default ${DEFAULT-VALUE})")
    String mode;

    /** What a run measured: packets and frame bytes counted, drops (per mode), seconds it took. */
    record Rate(long pkts, long bytes, long drops, double elapsed) {}

    @picocli.CommandLine.Mixin
    JsonOption json = new JsonOption();

    NetBenchCommand(CliServices services) {
        super(services);
    }

    @Override
    JsonOption json() {
        return json;
    }

    @Override
    void checkOptions() {
        if (!mode.equals("tx") && !mode.equals("rx") && !mode.equals("echo")) {
            throw new UsageException("--mode " + mode + " is not tx, rx or echo");
        }
        if (burst < 1 || burst > 256 || time.isZero()) {
            throw new UsageException("--burst 1..256, --seconds > 0");
        }
        if (pktSize < 18 || pktSize > 65535) {
            throw new UsageException("--pkt-size " + pktSize + " is outside 18..65535");
        }
    }

    @Override
    Rate measure(NetDevice net, Arena a, PrintWriter out) throws Exception {
        long pkts = 0;
        long bytes = 0;
        if (pktSize > net.mtu() + VirtioNet.ETH_HEADER + 4) {
            throw new UsageException("--pkt-size " + pktSize + " exceeds MTU " + net.mtu() + " + 18");
        }
        byte[] mac = net.mac();
        NetCommand.Burst txBurst = NetCommand.Burst.allocate(a, burst, Math.max(pktSize, 64));
        NetCommand.Burst rxBurst = NetCommand.Burst.allocate(a, burst, RX_BUFFER_BYTES);
        MemorySegment[] tx = txBurst.frames();
        MemorySegment[] rx = rxBurst.frames();
        int[] txLen = txBurst.lengths();
        int[] rxLen = rxBurst.lengths();
        for (int i = 0; i < burst; i++) {
            fill(tx[i], mac, i, (int) pktSize);
            txLen[i] = (int) pktSize;
        }
        long sentTotal = 0;
        long start = System.nanoTime();
        long end = start + time.toNanos();
        long now = start;
        int iter = 0;
        Progress progress = new Progress(services.err(), services.terminal());
        long nextTick = start + Progress.INTERVAL_NANOS;
        long lastTick = start;
        long lastPkts = 0;
        while (now < end) {
            switch (mode) {
                case "tx" -> {
                    int s = net.transmit(0, tx, txLen, burst);
                    pkts += s;
                    bytes += (long) s * pktSize;
                }
                case "rx" -> {
                    if (net.awaitReceive(0, 10_000_000L)) {
                        int r = net.receive(0, rx, rxLen, burst);
                        pkts += r;
                        for (int i = 0; i < r; i++) {
                            bytes += rxLen[i];
                        }
                    }
                }
                default -> {
                    int s = net.transmit(0, tx, txLen, burst);
                    sentTotal += s;
                    int got = 0;
                    long until = System.nanoTime() + 100_000_000L;
                    while (got < s && System.nanoTime() < until) {
                        if (!net.awaitReceive(0, 10_000_000L)) {
                            continue;
                        }
                        int r = net.receive(0, rx, rxLen, burst);
                        got += r;
                        for (int i = 0; i < r; i++) {
                            bytes += rxLen[i];
                        }
                    }
                    pkts += got;
                }
            }
            if ((++iter & 63) == 0 || !mode.equals("tx")) {
                now = System.nanoTime();
                if (now >= nextTick && now < end) {
                    progress.line(String.format(Locale.ROOT, "%d s: %.3f Mpps", Math.round((now - start) / 1e9),
                            (pkts - lastPkts) / ((now - lastTick) / 1e9) / 1e6));
                    lastPkts = pkts;
                    lastTick = now;
                    nextTick += Progress.INTERVAL_NANOS;
                }
            }
        }
        progress.done();
        double elapsed = (System.nanoTime() - start) / 1e9;
        NetQueueStats st = net.stats(0);
        long drops = switch (mode) {
            case "tx" -> st.txFull();
            case "rx" -> st.rxErrors();
            default -> Math.max(0, sentTotal - pkts) + st.rxErrors();
        };
        return new Rate(pkts, bytes, drops, elapsed);
    }

    @Override
    int report(Rate r, PrintWriter out) {
        if (json.json) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("mode", mode);
            m.put("pkt_size", pktSize);
            m.put("burst", burst);
            m.put("poll", conn.poll);
            m.put("elapsed_s", JsonOption.round(r.elapsed(), 6));
            m.put("packets", r.pkts());
            m.put("bytes", r.bytes());
            m.put("mpps", JsonOption.round(r.pkts() / r.elapsed() / 1e6, 6));
            m.put("gbit_per_s", JsonOption.round(r.bytes() * 8 / r.elapsed() / 1e9, 6));
            m.put("drops", r.drops());
            JsonOption.print(out, m);
            return 0;
        }
        out.printf(Locale.ROOT, "mode %s, %d-byte frames, burst %d, %s, %.2f s: %d packets, %.3f Mpps, %.3f Gbit/s, drops %d%n",
                mode, pktSize, burst, conn.poll ? "polling" : "eventfd", r.elapsed(), r.pkts(), r.pkts() / r.elapsed() / 1e6,
                r.bytes() * 8 / r.elapsed() / 1e9, r.drops());
        return 0;
    }
}
