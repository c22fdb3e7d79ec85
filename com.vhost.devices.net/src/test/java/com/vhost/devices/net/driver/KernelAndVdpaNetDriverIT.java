package com.vhost.devices.net.driver;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import com.vhost.api.VhostTarget;
import com.vhost.api.net.NetQueueStats;
import com.vhost.api.net.VirtioNet;
import com.vhost.api.registry.DeviceConfigKeys;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.kernel.VhostKernelOps;
import com.vhost.spi.testing.KGuest;
import com.vhost.vdpa.VhostVdpaOps;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The application's {@link com.vhost.api.net.NetDevice} on the Linux kernel's own data paths, with
 * the same driver that runs over vhost-user: vhost-net into the guest's TAP {@code ktap0}
 * (10.77.0.1/24, made by scripts/kguest), and vhost-vdpa with vdpa_sim_net ({@code /dev/vhost-vdpa-0},
 * which loops every transmitted frame back to receive). Runs inside the 6.12 kernel guest; skipped
 * elsewhere unless {@code CI=true} and {@code KGUEST=1}.
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class KernelAndVdpaNetDriverIT {
    private static final byte[] OUR_MAC = {0x52, 0x54, 0x00, (byte) 0xaa, (byte) 0xbb, (byte) 0xcc};
    private static final byte[] SIM_MAC = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};

    private static long sysfs(String iface, String counter) throws Exception {
        return Long.parseLong(Files.readString(Path.of("/sys/class/net", iface, "statistics", counter)).trim());
    }

    /** An ARP request (60 bytes with padding) asking who has {@code 10.77.0.1}, from 10.77.0.2. */
    private static byte[] arpRequest() {
        byte[] f = new byte[60];
        for (int i = 0; i < 6; i++) {
            f[i] = (byte) 0xff;
            f[6 + i] = OUR_MAC[i];
            f[22 + i] = OUR_MAC[i];
        }
        f[12] = 0x08; f[13] = 0x06;           // ethertype ARP
        f[14] = 0; f[15] = 1;                 // hardware Ethernet
        f[16] = 0x08; f[17] = 0x00;           // protocol IPv4
        f[18] = 6; f[19] = 4; f[20] = 0; f[21] = 1; // sizes, opcode request
        f[28] = 10; f[29] = 77; f[30] = 0; f[31] = 2;    // sender IP
        f[38] = 10; f[39] = 77; f[40] = 0; f[41] = 1;    // target IP
        return f;
    }

    @Test
    void vhostNetCarriesFramesToTheTapAndTheKernelsArpReplyBack() throws Exception {
        KGuest.require("vhost_net and tun modules, TAP ktap0 (scripts/kguest)", "/dev/vhost-net");
        long rxBefore = sysfs("ktap0", "rx_packets");
        try (VirtioNetDriver net = VirtioNetDriver.open(new VhostKernelOps().open(
                        new VhostTarget("/dev/vhost-net", Map.of(DeviceConfigKeys.OPTION_TAP, "ktap0"))),
                NetDriverOptions.defaults().withMergeableRxBuffers(false));
                Arena a = Arena.ofConfined()) {
            byte[] arp = arpRequest();
            MemorySegment frame = a.allocate(arp.length);
            MemorySegment.copy(arp, 0, frame, ValueLayout.JAVA_BYTE, 0, arp.length);
            assertThat(net.transmit(0, new MemorySegment[] {frame}, new int[] {arp.length}, 1)).isEqualTo(1);
            // the kernel counts the frame on the TAP and answers the ARP request through it
            MemorySegment[] into = {a.allocate(2048)};
            int[] lens = new int[1];
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            boolean reply = false;
            while (!reply && System.nanoTime() < deadline) {
                net.awaitReceive(0, TimeUnit.MILLISECONDS.toNanos(200));
                while (net.receive(0, into, lens, 1) == 1) {
                    byte[] got = into[0].asSlice(0, lens[0]).toArray(ValueLayout.JAVA_BYTE);
                    if (got.length >= 42 && got[12] == 0x08 && got[13] == 0x06 && got[21] == 2) {
                        reply = true;
                        assertThat(java.util.Arrays.copyOfRange(got, 0, 6)).as("reply to our MAC").isEqualTo(OUR_MAC);
                        assertThat(java.util.Arrays.copyOfRange(got, 28, 32)).as("sender 10.77.0.1")
                                .isEqualTo(new byte[] {10, 77, 0, 1});
                    }
                }
            }
            assertThat(reply).as("ARP reply from the kernel through vhost-net").isTrue();
            assertThat(sysfs("ktap0", "rx_packets") - rxBefore).as("frames the TAP received from vhost-net").isGreaterThanOrEqualTo(1);
        }
    }

    /** Test frame ethertype (IEEE 802 local experimental 1), sequence number at 14, pattern after. */
    private static final int ETHERTYPE = 0x88B5;

    private static byte[] testFrame(byte[] dst, byte[] src, int seq, int len) {
        byte[] f = new byte[len];
        System.arraycopy(dst, 0, f, 0, 6);
        System.arraycopy(src, 0, f, 6, 6);
        f[12] = (byte) (ETHERTYPE >>> 8);
        f[13] = (byte) ETHERTYPE;
        f[14] = (byte) (seq >>> 24); f[15] = (byte) (seq >>> 16); f[16] = (byte) (seq >>> 8); f[17] = (byte) seq;
        for (int i = 18; i < len; i++) {
            f[i] = (byte) (seq * 31 + i);
        }
        return f;
    }

    /** @return the sequence number of a test frame with intact pattern, -1 for any other frame */
    private static int checkFrame(byte[] f) {
        if (f.length < 18 || (f[12] & 0xFF) != ETHERTYPE >>> 8 || (f[13] & 0xFF) != (ETHERTYPE & 0xFF)) {
            return -1;
        }
        int seq = (f[14] & 0xFF) << 24 | (f[15] & 0xFF) << 16 | (f[16] & 0xFF) << 8 | (f[17] & 0xFF);
        for (int i = 18; i < f.length; i++) {
            if (f[i] != (byte) (seq * 31 + i)) {
                fail("test frame " + seq + " of " + f.length + " bytes corrupted at byte " + i);
            }
        }
        return seq;
    }

    @Test
    void vhostNetInATestNamespaceCarriesFramesBothWaysBetweenNetDeviceAndTheTapsWire() throws Exception {
        KGuest.require("vhost_net and tun modules (scripts/kguest)", "/dev/vhost-net", "/dev/net/tun");
        String tap = "vtns0";
        try (TapNamespace ns = TapNamespace.create()) {
            // the TAP is created inside the namespace: VhostKernelOps opens it on the namespace's thread
            var backend = ns.call(() -> new VhostKernelOps().open(new VhostTarget("/dev/vhost-net", Map.of(DeviceConfigKeys.OPTION_TAP, tap))));
            TapNamespace.PacketSocket wire;
            try {
                // sysfs here is the initial namespace's: the TAP is not in it
                assertThat(Path.of("/sys/class/net", tap)).as("TAP outside the test's namespace").doesNotExist();
                ns.up(tap);
                wire = ns.packetSocket(tap);
            } catch (Exception | AssertionError e) {
                backend.close();
                throw e;
            }
            try (VirtioNetDriver net = VirtioNetDriver.open(backend, NetDriverOptions.defaults()); Arena a = Arena.ofConfined()) {
                byte[] mac = net.mac();
                byte[] peer = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
                int n = 64;
                // TAP wire -> vhost-net rx ring -> NetDevice.receive, in order and intact
                MemorySegment[] into = {a.allocate(2048)};
                int[] lens = new int[1];
                int got = 0;
                for (int i = 0; i < n; i++) {
                    wire.send(testFrame(i % 2 == 0 ? mac : BROADCAST, peer, i, 60 + (i * 97) % (1514 - 60)));
                }
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
                while (got < n && System.nanoTime() < deadline) {
                    net.awaitReceive(0, TimeUnit.MILLISECONDS.toNanos(200));
                    while (net.receive(0, into, lens, 1) == 1) {
                        int seq = checkFrame(into[0].asSlice(0, lens[0]).toArray(ValueLayout.JAVA_BYTE));
                        if (seq >= 0) {
                            assertThat(seq).as("frame from the TAP's wire, in order").isEqualTo(got);
                            assertThat(lens[0]).as("length of frame %d", seq).isEqualTo(60 + (seq * 97) % (1514 - 60));
                            got++;
                        }
                    }
                }
                assertThat(got).as("frames written on the TAP's wire received through NetDevice").isEqualTo(n);
                // NetDevice.transmit -> vhost-net tx ring -> TAP, read back from the wire
                MemorySegment frame = a.allocate(1514);
                for (int i = 0; i < n; i++) {
                    byte[] f = testFrame(peer, mac, 1000 + i, 60 + (i * 53) % (1514 - 60));
                    MemorySegment.copy(f, 0, frame, ValueLayout.JAVA_BYTE, 0, f.length);
                    assertThat(net.transmit(0, new MemorySegment[] {frame}, new int[] {f.length}, 1)).isEqualTo(1);
                }
                int read = 0;
                deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
                while (read < n && System.nanoTime() < deadline) {
                    byte[] f = wire.receive(200);
                    int seq = f == null ? -1 : checkFrame(f);
                    if (seq >= 0) {
                        assertThat(seq).as("frame read from the TAP's wire, in order").isEqualTo(1000 + read);
                        assertThat(f.length).isEqualTo(60 + (read * 53) % (1514 - 60));
                        read++;
                    }
                }
                assertThat(read).as("frames NetDevice transmitted, read back from the TAP's wire").isEqualTo(n);
            }
        }
    }

    /** A UDP/IPv4 frame to {@code dst} from 10.78.0.2:{@code srcPort} to 10.78.0.1:9999 carrying {@code seq}: one flow per port. */
    private static byte[] udpFrame(byte[] dst, byte[] src, int srcPort, int seq) {
        byte[] f = new byte[64];
        System.arraycopy(dst, 0, f, 0, 6);
        System.arraycopy(src, 0, f, 6, 6);
        f[12] = 0x08; f[13] = 0x00;
        f[14] = 0x45; f[16] = 0; f[17] = 50;          // IPv4, IHL 5, total length 50
        f[22] = 64; f[23] = 17;                        // TTL, UDP
        f[26] = 10; f[27] = 78; f[28] = 0; f[29] = 2; // source
        f[30] = 10; f[31] = 78; f[32] = 0; f[33] = 1; // destination
        f[34] = (byte) (srcPort >>> 8); f[35] = (byte) srcPort;
        f[36] = (byte) (9999 >>> 8); f[37] = (byte) 9999;
        f[38] = 0; f[39] = 30;                         // UDP length
        f[42] = 'V'; f[43] = 'H'; f[44] = 'M'; f[45] = 'Q';
        f[46] = (byte) (seq >>> 8); f[47] = (byte) seq;
        return f;
    }

    /** @return the {@code seq} of a frame made by {@link #udpFrame}, or -1 */
    private static int udpSeq(MemorySegment f, int len) {
        if (len < 48 || f.get(ValueLayout.JAVA_BYTE, 12) != 0x08 || f.get(ValueLayout.JAVA_BYTE, 13) != 0 || f.get(ValueLayout.JAVA_BYTE, 23) != 17
                || f.get(ValueLayout.JAVA_BYTE, 42) != 'V' || f.get(ValueLayout.JAVA_BYTE, 45) != 'Q') {
            return -1;
        }
        return (f.get(ValueLayout.JAVA_BYTE, 46) & 0xFF) << 8 | (f.get(ValueLayout.JAVA_BYTE, 47) & 0xFF);
    }

    @Test
    void vhostNetMultiqueueCarriesTrafficOnTwoPairsThroughOneVhostNetFdAndTapQueueEach() throws Exception {
        KGuest.require("vhost_net and tun modules (scripts/kguest)", "/dev/vhost-net", "/dev/net/tun");
        String tap = "vtmq0";
        try (TapNamespace ns = TapNamespace.create()) {
            var backend = ns.call(() -> new VhostKernelOps().open(new VhostTarget("/dev/vhost-net",
                    Map.of(DeviceConfigKeys.OPTION_TAP, tap, DeviceConfigKeys.OPTION_QUEUE_PAIRS, "2"))));
            TapNamespace.PacketSocket wire;
            try {
                assertThat(backend.describe()).contains("x2 pairs");
                ns.up(tap);
                wire = ns.packetSocket(tap);
            } catch (Exception | AssertionError e) {
                backend.close();
                throw e;
            }
            try (VirtioNetDriver net = VirtioNetDriver.open(backend, NetDriverOptions.defaults().withQueuePairs(2));
                    Arena a = Arena.ofConfined()) {
                assertThat(VirtioFeatures.has(net.info().features(), VirtioNet.F_MQ)).as("VIRTIO_NET_F_MQ negotiated").isTrue();
                assertThat(net.queuePairs()).as("pairs enabled by VQ_PAIRS_SET").isEqualTo(2);
                byte[] mac = net.mac();
                byte[] peer = {0x02, 0x00, 0x00, 0x00, 0x00, 0x02};
                // transmit on each pair: every frame is read back from the TAP's wire, tagged by pair
                int n = 40;
                MemorySegment frame = a.allocate(1514);
                for (int i = 0; i < n; i++) {
                    for (int p = 0; p < 2; p++) {
                        byte[] f = testFrame(peer, mac, p * 100_000 + i, 60 + (i * 41) % 900);
                        MemorySegment.copy(f, 0, frame, ValueLayout.JAVA_BYTE, 0, f.length);
                        assertThat(net.transmit(p, new MemorySegment[] {frame}, new int[] {f.length}, 1)).isEqualTo(1);
                    }
                }
                int[] fromPair = new int[2];
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
                while (fromPair[0] + fromPair[1] < 2 * n && System.nanoTime() < deadline) {
                    byte[] f = wire.receive(200);
                    int seq = f == null ? -1 : checkFrame(f);
                    if (seq >= 0) {
                        int p = seq / 100_000;
                        assertThat(seq % 100_000).as("frame of pair %d in order", p).isEqualTo(fromPair[p]);
                        fromPair[p]++;
                    }
                }
                assertThat(fromPair).as("frames transmitted on pairs 0 and 1, read from the TAP's wire").containsExactly(n, n);
                assertThat(net.stats(1).txPackets()).as("pair 1 tx counter").isGreaterThanOrEqualTo(n);
                // frames of 64 UDP flows written on the wire: the TAP spreads them over its two
                // queues by flow hash, so both pairs' rx rings receive some
                int flows = 64;
                for (int i = 0; i < flows; i++) {
                    wire.send(udpFrame(mac, peer, 20_000 + i * 7, i));
                }
                int[] toPair = new int[2];
                boolean[] seen = new boolean[flows];
                MemorySegment[] into = {a.allocate(2048)};
                int[] lens = new int[1];
                deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
                while (toPair[0] + toPair[1] < flows && System.nanoTime() < deadline) {
                    for (int p = 0; p < 2; p++) {
                        net.awaitReceive(p, TimeUnit.MILLISECONDS.toNanos(50));
                        while (net.receive(p, into, lens, 1) == 1) {
                            int seq = udpSeq(into[0], lens[0]);
                            if (seq >= 0 && seq < flows) {
                                assertThat(seen[seq]).as("flow %d received once", seq).isFalse();
                                seen[seq] = true;
                                toPair[p]++;
                            }
                        }
                    }
                }
                System.out.printf("vhost-net 2 pairs: %d + %d frames read back from the TAP's wire; %d UDP flows received as %s over pairs 0 and 1%n",
                        fromPair[0], fromPair[1], flows, java.util.Arrays.toString(toPair));
                assertThat(toPair[0] + toPair[1]).as("UDP frames written on the wire, received over both pairs (%s)",
                        java.util.Arrays.toString(toPair)).isEqualTo(flows);
                assertThat(toPair[0]).as("frames received on pair 0 (%s)", java.util.Arrays.toString(toPair)).isPositive();
                assertThat(toPair[1]).as("frames received on pair 1 (%s)", java.util.Arrays.toString(toPair)).isPositive();
            }
        }
    }

    private static final byte[] BROADCAST = {-1, -1, -1, -1, -1, -1};

    @Test
    void aVdpaBlockDeviceIsRefusedByNameAsANetDevice() throws Exception {
        KGuest.require("vhost_vdpa + vdpa_sim_blk with vdpa1 (scripts/kguest)", "/dev/vhost-vdpa-1");
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> VirtioNetDriver.open(
                new VhostVdpaOps().open(VhostTarget.of("/dev/vhost-vdpa-1")), NetDriverOptions.defaults()))
                .isInstanceOf(com.vhost.api.VhostFeatureException.class)
                .hasMessageContaining("/dev/vhost-vdpa-1")
                .hasMessageContaining("is a virtio-blk device (VirtIO device ID 2), not virtio-net (ID 1)");
        new VhostVdpaOps().open(VhostTarget.of("/dev/vhost-vdpa-1")).close();
    }

    @Test
    void vdpaSimNetLoopsFramesBackIntactAndInOrder() throws Exception {
        KGuest.require("vhost_vdpa + vdpa_sim_net with vdpa0 (scripts/kguest)", "/dev/vhost-vdpa-0");
        try (VirtioNetDriver net = VirtioNetDriver.open(new VhostVdpaOps().open(VhostTarget.of("/dev/vhost-vdpa-0")),
                NetDriverOptions.defaults()); Arena a = Arena.ofConfined()) {
            assertThat(net.mac()).as("MAC from the vDPA config space").isEqualTo(SIM_MAC);
            int n = 200;
            MemorySegment frame = a.allocate(1514);
            MemorySegment[] into = {a.allocate(2048)};
            int[] lens = new int[1];
            int received = 0;
            for (int i = 0; i < n; i++) {
                int len = 60 + (i * 37) % (1514 - 60);
                for (int b = 0; b < len; b++) {
                    frame.set(ValueLayout.JAVA_BYTE, b, (byte) (i + b));
                }
                MemorySegment.copy(SIM_MAC, 0, frame, ValueLayout.JAVA_BYTE, 0, 6); // to the device's MAC
                MemorySegment.copy(OUR_MAC, 0, frame, ValueLayout.JAVA_BYTE, 6, 6);
                frame.set(ValueLayout.JAVA_INT_UNALIGNED, 14, Integer.reverseBytes(i)); // sequence number
                assertThat(net.transmit(0, new MemorySegment[] {frame}, new int[] {len}, 1)).isEqualTo(1);
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
                while (net.receive(0, into, lens, 1) == 0) {
                    assertThat(System.nanoTime()).as("frame %d looped back", i).isLessThan(deadline);
                    net.awaitReceive(0, TimeUnit.MILLISECONDS.toNanos(100));
                }
                assertThat(lens[0]).isEqualTo(len);
                assertThat(Integer.reverseBytes(into[0].get(ValueLayout.JAVA_INT_UNALIGNED, 14))).as("in order").isEqualTo(i);
                for (int b = 18; b < len; b++) {
                    if (into[0].get(ValueLayout.JAVA_BYTE, b) != (byte) (i + b)) {
                        fail("frame " + i + " byte " + b + " corrupted");
                    }
                }
                received++;
            }
            assertThat(received).isEqualTo(n);
            NetQueueStats st = net.stats(0);
            assertThat(st).isNotNull();
        }
    }
}
