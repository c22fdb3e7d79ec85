package com.vhost.integration;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertNotSame;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;
import static org.ops4j.pax.exam.CoreOptions.options;

import com.vhost.api.VhostDisconnectedException;
import com.vhost.api.blk.BlockDevice;
import com.vhost.api.net.NetDevice;
import com.vhost.api.registry.DeviceInfo;
import com.vhost.api.registry.DeviceRegistry;
import com.vhost.api.registry.VirtioDriverFactory;
import com.vhost.spi.workload.VerifiedWorkload;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.Dictionary;
import java.util.HashSet;
import java.util.Hashtable;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.stream.Stream;
import javax.inject.Inject;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.ops4j.pax.exam.Configuration;
import org.ops4j.pax.exam.Option;
import org.ops4j.pax.exam.junit.PaxExam;
import org.ops4j.pax.exam.spi.reactors.ExamReactorStrategy;
import org.ops4j.pax.exam.spi.reactors.PerMethod;
import org.osgi.framework.Bundle;
import org.osgi.framework.BundleContext;
import org.osgi.service.cm.ConfigurationAdmin;
import org.osgi.util.tracker.ServiceTracker;

/**
 * Device types come and go with their bundles (issue 4, "device types discovered dynamically"):
 * the container starts without {@code com.vhost.devices.net}; a net device configured through
 * Configuration Admin waits for its device type and says so; installing the net bundle (its
 * reactor jar) makes the type usable without a restart, the device binds and echoes frames
 * through this project's loopback back-end; uninstalling the bundle closes the device (WAITING
 * again, the old {@link NetDevice} handle gives {@link VhostDisconnectedException}, no thread left
 * behind) while a blk device configured alongside keeps doing checksummed I/O throughout;
 * reinstalling binds it again.
 * The same for {@code com.vhost.devices.blk} with a net device alongside.
 *
 * <p>The back-ends are {@code vhost.jar serve net --loopback} and {@code vhost.jar serve blk} in
 * their own JVMs ({@link ServeProcess}): the probe must not load classes of a device bundle it
 * uninstalls (it would keep the old revision wired), so it reaches those devices through the API
 * only ({@link NetDevice}, {@link BlockDevice}); each method gets its own container (PerMethod).
 */
@RunWith(PaxExam.class)
@ExamReactorStrategy(PerMethod.class)
public class DeviceBundleDynamicsTest {
    static final long WAIT_MS = 20_000;
    static final String NET_BUNDLE = "com.vhost.devices.net";
    static final String BLK_BUNDLE = "com.vhost.devices.blk";
    private static final ValueLayout.OfInt BE32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);

    @Inject
    private BundleContext context;

    @Inject
    private ConfigurationAdmin cm;

    @Inject
    private DeviceRegistry registry;

    @Configuration
    public Option[] config() {
        return options(PlatformOptions.platformWithout(List.of(NET_BUNDLE)));
    }

    @Test
    public void netDeviceBundleInstalledUninstalledAndReinstalledWhileABlkDeviceRuns() throws Exception {
        assertEquals("the container starts without " + NET_BUNDLE, null, bundle(NET_BUNDLE));
        awaitFactory("blk");
        Path dir = Files.createTempDirectory("vhost-dyn-net-itest");
        Path netSock = dir.resolve("net.sock");
        Path blkSock = dir.resolve("blk.sock");
        try (ServeProcess net = ServeProcess.start(dir, "serve-net", netSock, "net", "--loopback", "--socket", netSock.toString());
                ServeProcess blk = ServeProcess.start(dir, "serve-blk", blkSock, "blk", "--memory", "4m", "--socket",
                        blkSock.toString())) {
            org.osgi.service.cm.Configuration disk = configure("disk", "blk", blkSock);
            org.osgi.service.cm.Configuration nic = configure("nic", "net", netSock);
            try {
                awaitDevice("disk", d -> d.status() == DeviceInfo.Status.BOUND, "BOUND");
                BlockDevice bd = registry.deviceApi("disk", BlockDevice.class).orElseThrow();
                writeAndVerify(bd, 1);
                // A checksummed write-then-verify workload (first MiB) runs through all that follows.
                VerifiedWorkload load = new VerifiedWorkload(bd, 1 << 20, 4096, 1, 4, 11, null);
                load.start();
                DeviceInfo waiting = awaitDevice("nic", d -> d.status() == DeviceInfo.Status.WAITING
                        && d.detail().startsWith("no driver factory for device type net"), "WAITING for its device type");
                assertTrue(waiting.detail(), waiting.detail().contains("(vhost.device.type=net)"));
                assertEquals(null, waiting.backendName());
                assertTrue(registry.deviceApi("nic", NetDevice.class).isEmpty());
                Set<Thread> before = liveThreads();


                // 1. install: the type becomes usable, the device binds and echoes frames
                Bundle b = install(NET_BUNDLE);
                DeviceInfo bound = awaitDevice("nic", d -> d.status() == DeviceInfo.Status.BOUND, "BOUND");
                assertEquals("user", bound.backendName());
                assertTrue(bound.detail(), bound.detail().startsWith("net 52:54:00:12:34:56"));
                NetDevice first = registry.deviceApi("nic", NetDevice.class).orElseThrow();
                echo(first, 0, 500);

                // 2. uninstall: the net device stops, the blk device keeps going
                b.uninstall();
                DeviceInfo gone = awaitDevice("nic", d -> d.status() == DeviceInfo.Status.WAITING
                        && d.detail().startsWith("no driver factory for device type net"), "WAITING again");
                assertEquals(null, gone.backendName());
                assertTrue("no NetDevice while the type is missing", registry.deviceApi("nic", NetDevice.class).isEmpty());
                assertClosed(first);
                assertNoThreadLeft(before);
                writeAndVerify(bd, 2);
                assertEquals(DeviceInfo.Status.BOUND, registry.device("disk").orElseThrow().status());

                // 3. reinstall: binds again, a new handle works
                install(NET_BUNDLE);
                awaitDevice("nic", d -> d.status() == DeviceInfo.Status.BOUND, "BOUND after reinstall");
                NetDevice second = registry.deviceApi("nic", NetDevice.class).orElseThrow();
                assertNotSame("a new driver after reinstall", first, second);
                echo(second, 1000, 500);
                VerifiedWorkload.Result r = load.stop();
                assertEquals("first error: " + r.firstError(), null, r.firstError());
                assertTrue(r.toString(), r.clean() && r.writes() > 0 && r.reads() > 0);
                writeAndVerify(bd, 3);
            } finally {
                nic.delete();
                disk.delete();
                Await.until(WAIT_MS, () -> registry.devices().isEmpty() ? Boolean.TRUE : null);
            }
        } finally {
            deleteTree(dir);
        }
    }

    @Test
    public void blkDeviceBundleUninstalledAndReinstalledWhileANetDeviceRuns() throws Exception {
        Bundle netBundle = install(NET_BUNDLE);
        assertEquals(Bundle.ACTIVE, netBundle.getState());
        awaitFactory("blk");
        awaitFactory("net");
        Bundle blkBundle = bundle(BLK_BUNDLE);
        assertNotNull(BLK_BUNDLE + " installed", blkBundle);
        Path dir = Files.createTempDirectory("vhost-dyn-blk-itest");
        Path netSock = dir.resolve("net.sock");
        Path blkSock = dir.resolve("blk.sock");
        try (ServeProcess net = ServeProcess.start(dir, "serve-net", netSock, "net", "--loopback", "--socket", netSock.toString());
                ServeProcess blk = ServeProcess.start(dir, "serve-blk", blkSock, "blk", "--memory", "4m", "--socket",
                        blkSock.toString())) {
            org.osgi.service.cm.Configuration nic = configure("nic", "net", netSock);
            org.osgi.service.cm.Configuration disk = null;
            try {
                awaitDevice("nic", d -> d.status() == DeviceInfo.Status.BOUND, "BOUND");
                NetDevice nd = registry.deviceApi("nic", NetDevice.class).orElseThrow();
                echo(nd, 0, 200);
                // the threads the blk device starts (its completion threads) must all end with it
                Set<Thread> before = liveThreads();
                disk = configure("disk", "blk", blkSock);
                awaitDevice("disk", d -> d.status() == DeviceInfo.Status.BOUND, "BOUND");
                BlockDevice first = registry.deviceApi("disk", BlockDevice.class).orElseThrow();
                writeAndVerify(first, 1);
                assertTrue("the blk driver runs a completion thread", Thread.getAllStackTraces().keySet().stream()
                        .anyMatch(t -> !before.contains(t) && t.getName().startsWith("vhost-blk-q")));

                blkBundle.uninstall();
                DeviceInfo gone = awaitDevice("disk", d -> d.status() == DeviceInfo.Status.WAITING
                        && d.detail().startsWith("no driver factory for device type blk"), "WAITING for its device type");
                assertTrue(gone.detail(), gone.detail().contains("(vhost.device.type=blk)"));
                assertTrue(registry.deviceApi("disk", BlockDevice.class).isEmpty());
                try (Arena arena = Arena.ofShared()) {
                    MemorySegment buf = arena.allocate(4096, 4096);
                    assertDisconnected("read on the closed BlockDevice", () -> first.read(0, 0, buf).get(10, TimeUnit.SECONDS));
                }
                assertNoThreadLeft(before);
                echo(nd, 200, 200);

                install(BLK_BUNDLE);
                awaitDevice("disk", d -> d.status() == DeviceInfo.Status.BOUND, "BOUND after reinstall");
                BlockDevice second = registry.deviceApi("disk", BlockDevice.class).orElseThrow();
                assertNotSame(first, second);
                writeAndVerify(second, 2);
                echo(nd, 400, 200);
                assertEquals(DeviceInfo.Status.BOUND, registry.device("nic").orElseThrow().status());
            } finally {
                nic.delete();
                if (disk != null) {
                    disk.delete();
                }
                Await.until(WAIT_MS, () -> registry.devices().isEmpty() ? Boolean.TRUE : null);
            }
        } finally {
            deleteTree(dir);
        }
    }

    private Bundle bundle(String bsn) {
        for (Bundle b : context.getBundles()) {
            if (bsn.equals(b.getSymbolicName()) && b.getState() != Bundle.UNINSTALLED) {
                return b;
            }
        }
        return null;
    }

    /** Installs and starts the reactor jar of {@code bsn}, as an operator would. */
    private Bundle install(String bsn) throws Exception {
        Bundle b = context.installBundle(PlatformOptions.reactorJar(bsn).toURI().toString());
        b.start();
        assertEquals(bsn + " ACTIVE", Bundle.ACTIVE, b.getState());
        return b;
    }

    private void awaitFactory(String type) throws Exception {
        ServiceTracker<VirtioDriverFactory, VirtioDriverFactory> t = new ServiceTracker<>(context,
                context.createFilter("(&(objectClass=" + VirtioDriverFactory.class.getName() + ")(vhost.device.type=" + type + "))"),
                null);
        t.open();
        try {
            assertNotNull("a VirtioDriverFactory for " + type, t.waitForService(WAIT_MS));
        } finally {
            t.close();
        }
    }

    private org.osgi.service.cm.Configuration configure(String id, String type, Path socket) throws Exception {
        Dictionary<String, Object> p = new Hashtable<>();
        p.put("device.type", type);
        p.put("backend.type", "user");
        p.put("target", socket.toString());
        p.put("queues", 1);
        p.put("queue.size", 128);
        org.osgi.service.cm.Configuration c = cm.getFactoryConfiguration(DeviceRegistry.DEVICE_FACTORY_PID, id, "?");
        c.update(p);
        return c;
    }

    private DeviceInfo awaitDevice(String id, Predicate<DeviceInfo> test, String what) throws InterruptedException {
        DeviceInfo d = Await.until(WAIT_MS, () -> registry.device(id).filter(test).orElse(null));
        assertNotNull("device " + id + " never " + what + "; last " + registry.device(id), d);
        return d;
    }

    /** Writes 64 KiB with a pattern derived from {@code round} at a round-dependent offset past 2 MiB and reads it back. */
    private static void writeAndVerify(BlockDevice dev, int round) throws Exception {
        long offset = (2L << 20) + (long) round * 128 * 1024; // above VerifiedWorkload's region
        // shared: the driver's completion thread copies into the read buffer
        try (Arena arena = Arena.ofShared()) {
            MemorySegment out = arena.allocate(64 * 1024, 4096);
            for (long o = 0; o < out.byteSize(); o += 8) {
                out.set(ValueLayout.JAVA_LONG_UNALIGNED, o, o * 131 + round);
            }
            dev.write(0, offset, out).get(10, TimeUnit.SECONDS);
            MemorySegment in = arena.allocate(64 * 1024, 4096);
            dev.read(0, offset, in).get(10, TimeUnit.SECONDS);
            assertEquals("round " + round + ": read back what was written", -1, in.mismatch(out));
        }
    }

    /**
     * Sends {@code n} sequence-numbered frames (first number {@code firstSeq}, 60..1514 bytes) in
     * bursts of 16 and checks each comes back from the loopback back-end intact and in order.
     */
    private static void echo(NetDevice net, int firstSeq, int n) throws Exception {
        int burst = 16;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment[] tx = new MemorySegment[burst];
            MemorySegment[] rx = new MemorySegment[burst];
            int[] txLen = new int[burst];
            int[] rxLen = new int[burst];
            for (int i = 0; i < burst; i++) {
                tx[i] = a.allocate(2048);
                rx[i] = a.allocate(2048);
            }
            int sent = 0;
            int received = 0;
            while (received < n) {
                int b = Math.min(burst, n - sent);
                for (int i = 0; i < b; i++) {
                    txLen[i] = frame(tx[i], firstSeq + sent + i);
                }
                sent += b > 0 ? net.transmit(0, tx, txLen, b) : 0;
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
                while (received < sent) {
                    if (!net.awaitReceive(0, 1_000_000_000L) && System.nanoTime() > deadline) {
                        fail("frames come back: " + received + " of " + sent + " received; " + net.stats(0));
                    }
                    int r = net.receive(0, rx, rxLen, burst);
                    for (int i = 0; i < r; i++) {
                        int seq = firstSeq + received + i;
                        assertEquals("length of frame " + seq, size(seq), rxLen[i]);
                        assertEquals("sequence number in order", seq, rx[i].get(BE32, 14));
                        for (int k = 18; k < rxLen[i]; k++) {
                            if (rx[i].get(ValueLayout.JAVA_BYTE, k) != (byte) (seq * 31 + k)) {
                                fail("frame " + seq + " corrupted at byte " + k);
                            }
                        }
                    }
                    received += r;
                }
            }
        }
        assertEquals("no receive errors", 0, net.stats(0).rxErrors());
    }

    private static int size(int seq) {
        return 60 + (seq * 97) % (1514 - 60 + 1);
    }

    /** Broadcast destination, source 02:07:08:09:0a:0b, ethertype 0x88b5, big-endian seq, pattern. */
    private static int frame(MemorySegment f, int seq) {
        int len = size(seq);
        for (int i = 0; i < 6; i++) {
            f.set(ValueLayout.JAVA_BYTE, i, (byte) 0xFF);
            f.set(ValueLayout.JAVA_BYTE, 6 + i, (byte) (i == 0 ? 0x02 : 6 + i));
        }
        f.set(ValueLayout.JAVA_BYTE, 12, (byte) 0x88);
        f.set(ValueLayout.JAVA_BYTE, 13, (byte) 0xB5);
        f.set(BE32, 14, seq);
        for (int i = 18; i < len; i++) {
            f.set(ValueLayout.JAVA_BYTE, i, (byte) (seq * 31 + i));
        }
        return len;
    }

    private static void assertClosed(NetDevice net) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment[] tx = {a.allocate(2048)};
            int[] len = {frame(tx[0], 0)};
            assertDisconnected("transmit on the closed NetDevice", () -> net.transmit(0, tx, len, 1));
            assertDisconnected("receive on the closed NetDevice", () -> net.receive(0, tx, len, 1));
        }
    }

    interface Call {
        void run() throws Exception;
    }

    /** {@code call} fails with VhostDisconnectedException, thrown or as the cause of a failed future. */
    private static void assertDisconnected(String what, Call call) {
        try {
            call.run();
        } catch (ExecutionException e) {
            assertTrue(what + ": " + e.getCause(), e.getCause() instanceof VhostDisconnectedException);
            return;
        } catch (VhostDisconnectedException e) {
            assertTrue(what + ": " + e.getMessage(), e.getMessage().contains("closed"));
            return;
        } catch (Exception e) {
            throw new AssertionError(what + ": expected VhostDisconnectedException, got " + e, e);
        }
        fail(what + " did not fail");
    }

    private static Set<Thread> liveThreads() {
        return new HashSet<>(Thread.getAllStackTraces().keySet());
    }

    /**
     * Every thread started since {@code before} has ended (bounded wait): the closed driver left
     * nothing running. The registry's worker of a configured device ({@code vhost-device}) is not
     * the driver's: it lives as long as the device's configuration, which stays.
     */
    private static void assertNoThreadLeft(Set<Thread> before) throws InterruptedException {
        Predicate<Thread> left = t -> !before.contains(t) && t.isAlive() && !"vhost-device".equals(t.getName());
        List<String> none = Await.until(WAIT_MS, () -> {
            List<String> extra = Thread.getAllStackTraces().keySet().stream().filter(left).map(Thread::getName).toList();
            return extra.isEmpty() ? extra : null;
        });
        assertNotNull("threads started while the device ran are still alive: "
                + Thread.getAllStackTraces().keySet().stream().filter(left).map(Thread::getName).toList(), none);
    }

    private static void deleteTree(Path dir) throws Exception {
        if (Files.exists(dir)) {
            try (Stream<Path> s = Files.walk(dir)) {
                s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }
}
