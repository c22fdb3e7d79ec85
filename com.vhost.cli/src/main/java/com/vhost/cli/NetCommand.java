package com.vhost.cli;

import com.vhost.api.VhostBackend;
import com.vhost.api.VhostOps;
import com.vhost.api.VhostTarget;
import com.vhost.api.net.NetDevice;
import com.vhost.api.net.NetDeviceInfo;
import com.vhost.api.net.NetQueueStats;
import com.vhost.api.net.VirtioNet;
import com.vhost.api.registry.DeviceConfigKeys;
import java.io.PrintWriter;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code vhost net}: the platform's virtio-net driver against a vhost-user-net back-end (this
 * project's {@code vhost serve net --loopback}, DPDK testpmd's vhost PMD, ...).
 *
 * <p>Test frames: destination ff:ff:ff:ff:ff:ff, source the device's MAC, ethertype 0x88b5 (IEEE
 * local experimental), a big-endian 32-bit sequence number, then bytes {@code (seq * 31 + i)}. A
 * peer that swaps the MAC addresses (testpmd macswap) returns frames that still check out: the
 * check starts at the ethertype.
 */
@Command(name = "net", mixinStandardHelpOptions = true,
        description = "Drives a vhost-user-net back-end (or a vDPA device, or the kernel's vhost-net) as a virtio-net "
            + "driver: info, send, recv, echo, bench.",
        footerHeading = "%nExamples:%n",
        footer = {"  vhost serve net --socket /tmp/vun.sock --loopback &",
            "  vhost net info --socket /tmp/vun.sock",
            "  vhost net echo --socket /tmp/vun.sock --count 10000 --queues 2",
            "  vhost net bench --socket /tmp/vun.sock --mode echo --pkt-size 64 --seconds 10",
            "  vhost net info --kernel --tap tap0"},
        subcommands = {NetCommand.Info.class, NetCommand.Send.class, NetCommand.Recv.class, NetCommand.Echo.class,
            NetBenchCommand.class})
final class NetCommand extends ParentCommand {
    static final int ETHERTYPE = 0x88B5;
    private static final ValueLayout.OfInt BE32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final ValueLayout.OfShort BE16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);


    /** Options every net subcommand shares (with {@code --queue-size} and {@code --connect-timeout} from {@link DriverConnection}). */
    static final class Connection extends DriverConnection {
        @picocli.CommandLine.ArgGroup(exclusive = true, multiplicity = "1")
        Where where;

        /** Exactly one back-end: a vhost-user socket, a vhost-vdpa node, or the kernel's vhost-net with a TAP. */
        static final class Where {
            @Option(names = "--socket", paramLabel = "PATH", required = true, description = "the back-end's vhost-user socket")
            Path socket;

            @Option(names = "--vdpa", paramLabel = "NODE", required = true,
                    description = "a vhost-vdpa net device node, e.g. /dev/vhost-vdpa-0")
            Path vdpa;

            @picocli.CommandLine.ArgGroup(exclusive = false, multiplicity = "1")
            Kernel kernel;
        }

        /** {@code --kernel --tap NAME}: /dev/vhost-net serving the rings into TAP interface NAME. */
        static final class Kernel {
            @Option(names = "--kernel", required = true, description = "use the kernel's vhost-net (/dev/vhost-net); needs --tap")
            boolean kernel;

            @Option(names = "--tap", paramLabel = "NAME", required = true, description = "the TAP interface vhost-net attaches to")
            String tap;
        }

        @Option(names = "--queues", paramLabel = "Q", defaultValue = "1", description = "queue pairs to use (default ${DEFAULT-VALUE})")
        int queues;

        @Option(names = "--poll", description = "busy-poll the used rings (no call eventfd waits)")
        boolean poll;

        @Option(names = "--packed", description = {"ask for packed virtqueues (VIRTIO_F_RING_PACKED, VIRTIO 1.2 2.8);",
            "split ones, with a notice, when the back-end does not offer them"})
        boolean packed;

        @Option(names = "--no-in-order", description = {"leave VIRTIO_F_IN_ORDER out (VIRTIO 1.2 2.7.9, 2.8.8), negotiated by default",
            "when the back-end offers it; a --reconnect driver then also moves to back-ends without it"})
        boolean noInOrder;

        /**
         * Connects and starts the driver; with {@code swapWaitMs >= 0} one that detaches when its
         * back-end goes away and waits that many milliseconds for a rebind
         * ({@link NetTools#openReconnectable}).
         */
        NetDevice open(CliServices services, long swapWaitMs) throws Exception {
            Checks.queues(queues, queueSize);
            Checks.packedOneShot(packed, swapWaitMs);
            VhostBackend backend = opener(services, connectTimeoutMs).open();
            if (swapWaitMs >= 0) {
                return services.netTools().openReconnectable(backend, queues, queueSize, poll, swapWaitMs, !noInOrder);
            }
            NetDevice dev = services.netTools().openDevice(backend, queues, queueSize, poll, packed, !noInOrder);
            Checks.packedNotice(packed, dev.info().features(), dev.info().backend(), services.err());
            return dev;
        }

        /**
         * @return what opens a new back-end where {@code --socket}, {@code --vdpa} or
         *     {@code --kernel --tap} say, retrying a vhost-user connect for {@code timeoutMs}
         */
        Reconnector.Reopen opener(CliServices services, long timeoutMs) throws Exception {
            if (where.vdpa != null) {
                VhostOps ops = services.backend("vdpa", BlkCommand.BACKEND_WAIT);
                VhostTarget target = VhostTarget.of(where.vdpa.toString());
                return () -> ops.open(target);
            }
            if (where.kernel != null) {
                // one /dev/vhost-net fd and TAP queue per pair (VhostKernelOps option queue-pairs)
                VhostOps ops = services.backend("kernel", BlkCommand.BACKEND_WAIT);
                VhostTarget target = new VhostTarget("/dev/vhost-net", java.util.Map.of(DeviceConfigKeys.OPTION_TAP,
                        where.kernel.tap, DeviceConfigKeys.OPTION_QUEUE_PAIRS, Integer.toString(queues)));
                return () -> ops.open(target);
            }
            VhostOps ops = services.backend("user", BlkCommand.BACKEND_WAIT);
            VhostTarget target = connectTarget(where.socket, timeoutMs);
            return () -> ops.open(target);
        }
    }

    /**
     * Writes the Ethernet header of a test frame (IEEE 802.3): destination ff:ff:ff:ff:ff:ff,
     * source {@code srcMac}, ethertype {@link #ETHERTYPE}; 14 bytes.
     */
    static void header(MemorySegment f, byte[] srcMac) {
        for (int i = 0; i < 6; i++) {
            f.set(ValueLayout.JAVA_BYTE, i, (byte) 0xFF);
            f.set(ValueLayout.JAVA_BYTE, 6 + i, srcMac[i]);
        }
        f.set(BE16, 12, (short) ETHERTYPE);
    }

    /** Writes test frame {@code seq} of {@code len} bytes. */
    static void fill(MemorySegment f, byte[] srcMac, int seq, int len) {
        header(f, srcMac);
        f.set(BE32, 14, seq);
        for (int i = 18; i < len; i++) {
            f.set(ValueLayout.JAVA_BYTE, i, (byte) (seq * 31 + i));
        }
    }

    /** @return the sequence number of a test frame whose bytes from the ethertype on check out, or -1 */
    static int check(MemorySegment f, int len) {
        if (len < 18 || (f.get(BE16, 12) & 0xFFFF) != ETHERTYPE) {
            return -1;
        }
        int seq = f.get(BE32, 14);
        for (int i = 18; i < len; i++) {
            if (f.get(ValueLayout.JAVA_BYTE, i) != (byte) (seq * 31 + i)) {
                return -1;
            }
        }
        return seq;
    }

    static void printInfo(PrintWriter out, NetDevice net) {
        NetDeviceInfo i = net.info();
        out.printf(Locale.ROOT, "mac         %s%n", i.mac());
        out.printf(Locale.ROOT, "mtu         %d%n", i.mtu());
        out.printf(Locale.ROOT, "link        %s%n", net.linkUp() ? "up" : "down");
        out.printf(Locale.ROOT, "queue pairs %d of %d, %d descriptors each%n", net.queuePairs(), i.maxQueuePairs(), i.queueSize());
        out.printf(Locale.ROOT, "rx buffers  %d bytes%s%n", i.rxBufferBytes(), i.mergeableRxBuffers() ? ", mergeable (MRG_RXBUF)" : "");
        out.printf(Locale.ROOT, "features    0x%x%n", i.features());
        out.printf(Locale.ROOT, "mode        %s%n", i.poll() ? "polling" : "eventfd notifications");
        out.printf(Locale.ROOT, "backend     %s%n", i.backend());
    }

    /** Bytes of a receive buffer: the largest frame a back-end may deliver, with room to spare. */
    static final int RX_BUFFER_BYTES = 65536;

    /**
     * Frame buffers for one burst, as {@link NetDevice#transmit} and {@link NetDevice#receive} take
     * them: {@code frames[i]} holds frame {@code i}, {@code lengths[i]} its length in bytes.
     */
    record Burst(MemorySegment[] frames, int[] lengths) {
        /** @return {@code count} buffers of {@code bytes} each from {@code arena}, lengths 0 */
        static Burst allocate(Arena arena, int count, long bytes) {
            MemorySegment[] frames = new MemorySegment[count];
            for (int i = 0; i < count; i++) {
                frames[i] = arena.allocate(bytes);
            }
            return new Burst(frames, new int[count]);
        }
    }

    /**
     * The shape of every net subcommand: check the options, open the device through the
     * {@link Connection} options with a confined arena for buffers, work on it, close both, then
     * print the result and flush. An exception on the way ends the command (exit code 1, through
     * {@link VhostCli}'s handler) with the device and arena closed.
     *
     * @param <R> what {@link #measure} hands to {@link #report}
     */
    abstract static class DeviceCommand<R> implements Callable<Integer> {
        final CliServices services;

        @Mixin
        Connection conn;

        DeviceCommand(CliServices services) {
            this.services = services;
        }

        /**
         * Rejects options that are wrong whatever the device, before connecting.
         *
         * @throws IllegalArgumentException naming the option
         */
        void checkOptions() {}

        /**
         * Works on the open device; may print as it goes.
         *
         * @param arena confined to this thread, closed with the device when this returns
         * @return what {@link #report} prints
         */
        abstract R measure(NetDevice net, Arena arena, PrintWriter out) throws Exception;

        /**
         * @return how long a device that lost its back-end waits for a reconnect, in milliseconds,
         *     or -1 (the default) for a device that fails at once
         */
        long swapWaitMs() {
            return -1;
        }

        /** Prints the result after the device is closed; @return the exit code (default 0) */
        int report(R result, PrintWriter out) {
            return 0;
        }

        /** @return the command's {@code --json} option, or null (the default) when it has none */
        JsonOption json() {
            return null;
        }

        /** @return whether {@code --json} was given */
        final boolean jsonWanted() {
            return json() != null && json().json;
        }

        @Override
        public final Integer call() throws Exception {
            checkOptions();
            PrintWriter out = services.out();
            R result;
            try (NetDevice net = conn.open(services, swapWaitMs()); Arena arena = Arena.ofConfined()) {
                // with --json, what measure prints on the way goes to standard error
                result = measure(net, arena, jsonWanted() ? services.err() : out);
            }
            int code = report(result, out);
            out.flush();
            return code;
        }
    }

    /** {@code vhost net info}. */
    @Command(name = "info", mixinStandardHelpOptions = true, description = "Connects, negotiates and prints MAC, MTU, link, queues and features.")
    static final class Info extends DeviceCommand<Map<String, Object>> {
        @Mixin
        JsonOption json = new JsonOption();

        Info(CliServices services) {
            super(services);
        }

        @Override
        JsonOption json() {
            return json;
        }

        /** @return the device as {@code --json} prints it, or null after printing the text */
        @Override
        Map<String, Object> measure(NetDevice net, Arena arena, PrintWriter out) {
            if (!json.json) {
                printInfo(out, net);
                return null;
            }
            NetDeviceInfo i = net.info();
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("mac", i.mac());
            m.put("mtu", i.mtu());
            m.put("link_up", net.linkUp());
            m.put("queue_pairs", net.queuePairs());
            m.put("max_queue_pairs", i.maxQueuePairs());
            m.put("queue_size", i.queueSize());
            m.put("rx_buffer_bytes", i.rxBufferBytes());
            m.put("mergeable_rx_buffers", i.mergeableRxBuffers());
            m.put("features", i.features());
            m.put("poll", i.poll());
            m.put("backend", i.backend());
            return m;
        }

        @Override
        int report(Map<String, Object> doc, PrintWriter out) {
            if (doc != null) {
                JsonOption.print(out, doc);
            }
            return 0;
        }
    }

    /** {@code vhost net send}. */
    @Command(name = "send", mixinStandardHelpOptions = true, description = "Transmits N sequence-numbered test frames of one size on one pair.")
    static final class Send extends DeviceCommand<Void> {
        @Option(names = "--count", paramLabel = "N", defaultValue = "1", description = "frames (default ${DEFAULT-VALUE})")
        int count;

        @Option(names = "--size", paramLabel = "SIZE", defaultValue = "60", converter = SizeConverter.class,
                description = "frame length in bytes without FCS, 18..mtu+18: 60, 1514, 9k (default ${DEFAULT-VALUE})")
        long size;

        @Option(names = "--pair", paramLabel = "P", defaultValue = "0", description = "queue pair (default ${DEFAULT-VALUE})")
        int pair;

        Send(CliServices services) {
            super(services);
        }

        @Override
        void checkOptions() {
            if (count < 0 || size < 18 || size > 65535) {
                throw new UsageException("--count " + count + " must be >= 0 and --size " + size + " in 18..65535");
            }
        }

        @Override
        Void measure(NetDevice net, Arena arena, PrintWriter out) throws Exception {
            byte[] mac = net.mac();
            int len = (int) size;
            Burst f = Burst.allocate(arena, 32, Math.max(len, 64));
            int sent = 0;
            long deadline = System.nanoTime() + 10_000_000_000L;
            while (sent < count && System.nanoTime() < deadline) {
                int b = Math.min(f.frames().length, count - sent);
                for (int i = 0; i < b; i++) {
                    fill(f.frames()[i], mac, sent + i, len);
                    f.lengths()[i] = len;
                }
                int s = net.transmit(pair, f.frames(), f.lengths(), b);
                sent += s;
                if (s < b) {
                    Thread.onSpinWait();
                }
            }
            NetQueueStats st = net.stats(pair);
            out.printf(Locale.ROOT, "sent %d of %d frames of %d bytes on pair %d (transmit ring full %d times)%n",
                    sent, count, size, pair, st.txFull());
            return null;
        }
    }

    /** {@code vhost net recv}. */
    @Command(name = "recv", mixinStandardHelpOptions = true, description = "Receives up to N frames on one pair and prints a line per frame.")
    static final class Recv extends DeviceCommand<Integer> {
        @Option(names = "--count", paramLabel = "N", defaultValue = "10", description = "frames to wait for (default ${DEFAULT-VALUE})")
        int count;

        @Option(names = "--timeout", paramLabel = "DURATION", defaultValue = "5", converter = DurationConverter.class,
                description = "longest wait: 5, 500ms, 1m (a number alone is seconds; default ${DEFAULT-VALUE})")
        java.time.Duration timeout;

        @Option(names = "--pair", paramLabel = "P", defaultValue = "0", description = "queue pair (default ${DEFAULT-VALUE})")
        int pair;

        Recv(CliServices services) {
            super(services);
        }

        /** @return frames received */
        @Override
        Integer measure(NetDevice net, Arena arena, PrintWriter out) throws Exception {
            int got = 0;
            Burst f = Burst.allocate(arena, 32, RX_BUFFER_BYTES);
            long deadline = System.nanoTime() + timeout.toNanos();
            HexFormat hex = HexFormat.ofDelimiter(":");
            while (got < count && System.nanoTime() < deadline) {
                if (!net.awaitReceive(pair, Math.max(1, deadline - System.nanoTime()))) {
                    break;
                }
                int r = net.receive(pair, f.frames(), f.lengths(), Math.min(f.frames().length, count - got));
                for (int i = 0; i < r; i++) {
                    MemorySegment m = f.frames()[i];
                    int len = f.lengths()[i];
                    out.printf(Locale.ROOT, "frame %d: %d bytes, dst %s src %s type 0x%04x%s%n", got + i, len,
                            hex.formatHex(m.asSlice(0, 6).toArray(ValueLayout.JAVA_BYTE)),
                            hex.formatHex(m.asSlice(6, 6).toArray(ValueLayout.JAVA_BYTE)), m.get(BE16, 12) & 0xFFFF,
                            check(m, len) >= 0 ? ", test frame seq " + m.get(BE32, 14) : "");
                }
                got += r;
            }
            return got;
        }

        @Override
        int report(Integer got, PrintWriter out) {
            out.printf(Locale.ROOT, "received %d frame(s)%n", got);
            return 0;
        }
    }

    /** {@code vhost net echo}. */
    @Command(name = "echo", mixinStandardHelpOptions = true,
            description = {"Sends N sequence-numbered frames to a peer that returns them and checks each. Peers: vhost serve "
                + "net --loopback, testpmd in io or macswap mode. Frames go round-robin over the queue pairs in bursts. Prints "
                + "'sent N received R lost L reordered O corrupted C'; exit code 0 only when all came back intact and in order.",
                "With --reconnect the driver survives a back-end killed and restarted on the same socket: it detaches, frames "
                + "wait in its rings and it reconnects ('reconnected after N ms'). Frames then carry a 64-bit sequence "
                + "number, their length and a CRC-32C; they stream (at most --window unanswered per pair) for --seconds or "
                + "until --count were sent, with progress each second on stderr, and the last line is 'sent S received R lost "
                + "L duplicated D corrupted C reconnects K'. Net has no exactly-once guarantee: frames in flight when the "
                + "back-end dies may be lost (lost counts only frames that never came back). Exit code 0 only when D and C "
                + "are 0 and L is at most --max-lost (default: --queue-size x queue pairs x reconnects, every frame the rings "
                + "hold at each reconnect; 0 without a reconnect)."},
            footerHeading = "%nExamples:%n",
            footer = {"  vhost net echo --socket /tmp/vun.sock --count 10000 --sizes 60-1514 --queues 2",
                "  vhost net echo --socket /tmp/vun.sock --reconnect --seconds 1m --json"})
    static final class Echo extends DeviceCommand<NetEchoRun.Printed> {
        @Option(names = "--count", paramLabel = "N", defaultValue = "-1",
                description = "frames to send (required without --reconnect)")
        long count;

        @Option(names = "--sizes", paramLabel = "MIN-MAX", defaultValue = "60-1514",
                description = "frame lengths, cycled through the range (default ${DEFAULT-VALUE})")
        String sizes;

        @Option(names = "--burst", paramLabel = "B", defaultValue = "32", description = "frames per burst (default ${DEFAULT-VALUE})")
        int burst;

        /** {@code --wait} in milliseconds. */
        long waitMs;

        @Option(names = "--wait", paramLabel = "DURATION", defaultValue = "1s", converter = DurationConverter.class,
                description = "how long to wait for a burst (with --reconnect: the stream's end) to come back before "
                    + "counting the rest lost: 500ms, 2s (a number alone is seconds; default ${DEFAULT-VALUE})")
        void waitFor(java.time.Duration d) {
            waitMs = d.toMillis();
        }

        @Mixin
        NetEchoRun.Options reconnect;

        @Mixin
        JsonOption json = new JsonOption();

        /** {@code --sizes} as {min, max}. */
        private int[] range;

        Echo(CliServices services) {
            super(services);
        }

        @Override
        void checkOptions() {
            range = parseRange(sizes);
            if (burst < 1 || burst > 256) {
                throw new UsageException("--burst " + burst + " must be in 1..256");
            }
            if (reconnect.reconnect) {
                reconnect.check(conn.queueSize, count);
            } else if (count < 0 || count > Integer.MAX_VALUE) {
                throw new UsageException("--count N (0.." + Integer.MAX_VALUE + ") is required without --reconnect");
            }
        }

        @Override
        long swapWaitMs() {
            return reconnect.reconnect ? reconnect.waitMs : -1;
        }

        @Override
        JsonOption json() {
            return json;
        }

        @Override
        NetEchoRun.Printed measure(NetDevice net, Arena arena, PrintWriter out) throws Exception {
            if (reconnect.reconnect) {
                return NetEchoRun.run(services, out, conn, net, reconnect, range, burst, count, waitMs);
            }
            long[] r = echo(net, (int) count, range[0], range[1], burst, waitMs);
            boolean ok = r[2] == 0 && r[3] == 0 && r[4] == 0 && r[0] == count;
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("sent", r[0]);
            m.put("received", r[1]);
            m.put("lost", r[2]);
            m.put("reordered", r[3]);
            m.put("corrupted", r[4]);
            m.put("ok", ok);
            return new NetEchoRun.Printed(String.format(Locale.ROOT, "sent %d received %d lost %d reordered %d corrupted %d",
                    r[0], r[1], r[2], r[3], r[4]), ok, m);
        }

        @Override
        int report(NetEchoRun.Printed r, PrintWriter out) {
            if (json.json) {
                JsonOption.print(out, r.fields());
            } else {
                out.println(r.line());
            }
            return r.ok() ? 0 : 1;
        }
    }

    /**
     * Sends {@code count} test frames of {@code min..max} bytes round-robin over the pairs in
     * bursts, waits for each burst to come back (at most {@code 2 × waitMs}) and checks them.
     *
     * @return {sent, received, lost, reordered, corrupted}
     */
    static long[] echo(NetDevice net, int count, int min, int max, int burst, long waitMs) throws Exception {
        if (max > net.mtu() + VirtioNet.ETH_HEADER + 4) {
            throw new UsageException("--sizes max " + max + " exceeds MTU " + net.mtu() + " + 18");
        }
        long sent = 0;
        long received = 0;
        long reordered = 0;
        long corrupted = 0;
        try (Arena a = Arena.ofConfined()) {
            int pairs = net.queuePairs();
            byte[] mac = net.mac();
            Burst txBurst = Burst.allocate(a, burst, max);
            Burst rxBurst = Burst.allocate(a, burst, RX_BUFFER_BYTES);
            MemorySegment[] tx = txBurst.frames();
            MemorySegment[] rx = rxBurst.frames();
            int[] txLen = txBurst.lengths();
            int[] rxLen = rxBurst.lengths();
            int[] lastSeq = new int[pairs];
            java.util.Arrays.fill(lastSeq, -1);
            java.util.BitSet seen = new java.util.BitSet(count);
            int span = max - min + 1;
            int seq = 0;
            int turn = 0;
            while (seq < count) {
                int pair = turn++ % pairs;
                int b = Math.min(burst, count - seq);
                for (int i = 0; i < b; i++) {
                    txLen[i] = min + (int) (((long) (seq + i) * 97) % span);
                    fill(tx[i], mac, seq + i, txLen[i]);
                }
                int s = 0;
                long until = System.nanoTime() + waitMs * 1_000_000L;
                while (s < b && System.nanoTime() < until) {
                    s += net.transmit(pair, shift(tx, s), shift(txLen, s), b - s);
                }
                sent += s;
                int back = 0;
                while (back < s && System.nanoTime() < until + waitMs * 1_000_000L) {
                    if (!net.awaitReceive(pair, 10_000_000L)) {
                        continue;
                    }
                    int r = net.receive(pair, rx, rxLen, burst);
                    for (int i = 0; i < r; i++) {
                        int q = check(rx[i], rxLen[i]);
                        if (q < 0 || q >= count || rxLen[i] != min + (int) (((long) q * 97) % span)) {
                            corrupted++;
                            continue;
                        }
                        if (seen.get(q) || q <= lastSeq[pair]) {
                            reordered++;
                        }
                        if (!seen.get(q)) {
                            seen.set(q);
                            received++;
                            back++;
                        }
                        lastSeq[pair] = Math.max(lastSeq[pair], q);
                    }
                }
                seq += b;
            }
        }
        return new long[] {sent, received, sent - received, reordered, corrupted};
    }

    private static final MemorySegment[] NO_SEGMENTS = new MemorySegment[0];

    /** @return the arrays from index {@code from} (a copy only when {@code from > 0}) */
    static MemorySegment[] shift(MemorySegment[] a, int from) {
        return from == 0 ? a : from >= a.length ? NO_SEGMENTS : java.util.Arrays.copyOfRange(a, from, a.length);
    }

    static int[] shift(int[] a, int from) {
        return from == 0 ? a : java.util.Arrays.copyOfRange(a, Math.min(from, a.length), a.length);
    }

    static int[] parseRange(String s) {
        String[] p = s.split("-");
        try {
            int min = Integer.parseInt(p[0].trim());
            int max = p.length > 1 ? Integer.parseInt(p[1].trim()) : min;
            if (p.length > 2 || min < 18 || max < min) {
                throw new NumberFormatException();
            }
            return new int[] {min, max};
        } catch (NumberFormatException e) {
            throw new UsageException("--sizes '" + s + "' is not MIN-MAX with 18 <= MIN <= MAX");
        }
    }
}
