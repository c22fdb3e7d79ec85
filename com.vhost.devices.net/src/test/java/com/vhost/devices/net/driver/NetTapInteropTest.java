package com.vhost.devices.net.driver;

import static org.assertj.core.api.Assertions.assertThat;

import com.vhost.api.VhostTarget;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.devices.net.model.TapNetModel;
import com.vhost.user.VhostUserOps;
import com.vhost.user.backend.VhostUserServer;
import com.vhost.user.interop.Peers;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The TAP back-end against the Linux network stack: {@link TapNetModel} opens a TAP interface,
 * the test moves it into a network namespace it creates and gives it 10.213.7.1/24 there; this
 * project's driver, over the vhost-user socket, sends an ARP request for that address from
 * 10.213.7.2 and gets the kernel's ARP reply back through the TAP. Only addresses inside the
 * test's own namespace are used. Needs root and {@code ip} (iproute2): skipped otherwise (a
 * failure under CI=true).
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class NetTapInteropTest {
    private static final ValueLayout.OfShort BE16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);

    @TempDir
    Path dir;

    private static void ip(Path log, String... args) throws Exception {
        List<String> cmd = new java.util.ArrayList<>(List.of("ip"));
        cmd.addAll(List.of(args));
        int rc = Peers.run(cmd, log, 10);
        assertThat(rc).as("%s: %s", String.join(" ", cmd), java.nio.file.Files.exists(log) ? java.nio.file.Files.readString(log) : "")
                .isZero();
    }

    @Test
    void arpRequestThroughTheTapIsAnsweredByTheKernelInANamespace() throws Exception {
        Peers.require("ip", "iproute2");
        if (!"root".equals(System.getProperty("user.name")) || !java.nio.file.Files.isWritable(Path.of("/dev/net/tun"))) {
            String why = "needs root and /dev/net/tun to create a TAP interface and a network namespace";
            if ("true".equals(System.getenv("CI"))) {
                throw new AssertionError("CI=true and " + why);
            }
            Assumptions.abort(why);
        }
        long id = ProcessHandle.current().pid() % 100000;
        String ns = "vhnet" + id;
        String tapName = "vht" + id;
        Path log = dir.resolve("ip.log");
        Path sock = dir.resolve("tap.sock");
        ip(log, "netns", "add", ns);
        try (TapNetModel model = new TapNetModel(tapName, 256, new byte[] {0x52, 0x54, 0, 0x12, 0x34, 0x56}, 1500);
                VhostUserServer server = new VhostUserServer(sock, model)) {
            ip(log, "link", "set", tapName, "netns", ns);
            ip(log, "-n", ns, "addr", "add", "10.213.7.1/24", "dev", tapName);
            ip(log, "-n", ns, "link", "set", tapName, "up");
            server.start();
            try (VirtioNetDriver net = VirtioNetDriver.open(new VhostUserOps().open(VhostTarget.of(sock.toString())),
                    NetDriverOptions.defaults());
                    Arena a = Arena.ofConfined()) {
                byte[] mac = net.mac();
                MemorySegment req = a.allocate(64);
                for (int i = 0; i < 6; i++) {
                    req.set(ValueLayout.JAVA_BYTE, i, (byte) 0xFF);
                    req.set(ValueLayout.JAVA_BYTE, 6 + i, mac[i]);
                    req.set(ValueLayout.JAVA_BYTE, 22 + i, mac[i]); // sender hardware address
                }
                req.set(BE16, 12, (short) 0x0806); // ARP
                req.set(BE16, 14, (short) 1); // Ethernet
                req.set(BE16, 16, (short) 0x0800); // IPv4
                req.set(ValueLayout.JAVA_BYTE, 18, (byte) 6);
                req.set(ValueLayout.JAVA_BYTE, 19, (byte) 4);
                req.set(BE16, 20, (short) 1); // request
                byte[] sender = {10, (byte) 213, 7, 2};
                byte[] target = {10, (byte) 213, 7, 1};
                for (int i = 0; i < 4; i++) {
                    req.set(ValueLayout.JAVA_BYTE, 28 + i, sender[i]);
                    req.set(ValueLayout.JAVA_BYTE, 38 + i, target[i]);
                }
                MemorySegment[] rx = {a.allocate(2048)};
                int[] rxLen = new int[1];
                boolean answered = false;
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
                while (!answered && System.nanoTime() < deadline) {
                    assertThat(net.transmit(0, new MemorySegment[] {req}, new int[] {60}, 1)).isEqualTo(1);
                    long until = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(500);
                    while (!answered && System.nanoTime() < until) {
                        if (!net.awaitReceive(0, 100_000_000L)) {
                            continue;
                        }
                        while (net.receive(0, rx, rxLen, 1) == 1) {
                            MemorySegment f = rx[0];
                            if (rxLen[0] >= 42 && f.get(BE16, 12) == 0x0806 && f.get(BE16, 20) == 2) {
                                for (int i = 0; i < 6; i++) {
                                    assertThat(f.get(ValueLayout.JAVA_BYTE, i)).as("reply to our MAC").isEqualTo(mac[i]);
                                }
                                for (int i = 0; i < 4; i++) {
                                    assertThat(f.get(ValueLayout.JAVA_BYTE, 28 + i)).as("sender is 10.213.7.1").isEqualTo(target[i]);
                                }
                                answered = true;
                            }
                        }
                    }
                }
                assertThat(answered).as("ARP reply from the kernel in namespace %s (tap %s)", ns, model.counters(0)).isTrue();
                assertThat(model.counters(0).txPackets()).isPositive();
                assertThat(model.counters(0).rxPackets()).isPositive();

                // IN_ORDER (VIRTIO 1.2 2.7.9): the TAP model returns each transmit burst with one used
                // element; bursts of 32 over 10 laps of the 256-entry ring all go out only if the
                // driver takes every batch apart and frees its descriptors
                assertThat(VirtioFeatures.has(net.info().features(), VirtioFeatures.F_IN_ORDER)).as("IN_ORDER negotiated").isTrue();
                MemorySegment[] burst = new MemorySegment[32];
                int[] lens = new int[32];
                java.util.Arrays.fill(burst, req);
                java.util.Arrays.fill(lens, 60);
                long before = model.counters(0).txPackets();
                int sent = 0;
                long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
                while (sent < 2560 && System.nanoTime() < until) {
                    sent += net.transmit(0, burst, lens, 32);
                    while (net.receive(0, rx, rxLen, 1) == 1) {
                        // drain the kernel's ARP replies
                    }
                }
                assertThat(sent).as("frames transmitted (tap %s)", model.counters(0)).isEqualTo(2560);
                long deadlineTx = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
                while (model.counters(0).txPackets() - before < 2560 && System.nanoTime() < deadlineTx) {
                    Thread.sleep(10);
                }
                assertThat(model.counters(0).txPackets() - before).isEqualTo(2560);
            }
        } finally {
            Peers.run(List.of("ip", "netns", "del", ns), dir.resolve("ip-del.log"), 10);
        }
    }
}
