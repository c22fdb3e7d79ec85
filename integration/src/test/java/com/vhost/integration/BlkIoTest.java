package com.vhost.integration;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;
import static org.ops4j.pax.exam.CoreOptions.options;

import com.vhost.api.backend.ServedBackend;
import com.vhost.api.blk.BlockDevice;
import com.vhost.api.registry.DeviceInfo;
import com.vhost.api.registry.DeviceRegistry;
import com.vhost.api.registry.VirtioDriverFactory;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Dictionary;
import java.util.Hashtable;
import java.util.concurrent.TimeUnit;
import javax.inject.Inject;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.ops4j.pax.exam.Configuration;
import org.ops4j.pax.exam.Option;
import org.ops4j.pax.exam.junit.PaxExam;
import org.ops4j.pax.exam.spi.reactors.ExamReactorStrategy;
import org.ops4j.pax.exam.spi.reactors.PerClass;
import org.osgi.framework.BundleContext;
import org.osgi.service.cm.ConfigurationAdmin;
import org.osgi.util.tracker.ServiceTracker;

/**
 * The whole path inside Felix: a file-backed virtio-blk model served by the embedded vhost-user
 * back-end, a device configured through Configuration Admin, the registry binding it to the
 * {@code user} VhostOps and the blk driver factory, and block I/O through the resulting
 * {@link BlockDevice}. Needs the virtio-blk driver ({@code com.vhost.devices.blk.driver}): the
 * integration pom leaves this class out while that package's source is absent.
 */
@RunWith(PaxExam.class)
@ExamReactorStrategy(PerClass.class)
public class BlkIoTest {
    static final long WAIT_MS = 15_000;

    @Inject
    private BundleContext context;

    @Inject
    private ConfigurationAdmin cm;

    @Inject
    private DeviceRegistry registry;

    @Configuration
    public Option[] config() {
        return options(PlatformOptions.platform());
    }

    @Test
    public void blkDeviceDoesIoThroughTheEmbeddedBackend() throws Exception {
        ServiceTracker<VirtioDriverFactory, VirtioDriverFactory> factories = new ServiceTracker<>(context,
                context.createFilter("(&(objectClass=" + VirtioDriverFactory.class.getName() + ")(vhost.device.type=blk))"), null);
        factories.open();
        try {
            assertNotNull("the blk bundle registers a VirtioDriverFactory for blk", factories.waitForService(WAIT_MS));
        } finally {
            factories.close();
        }
        Path dir = Files.createTempDirectory("vhost-itest");
        Path socket = dir.resolve("blk.sock");
        try (ServedBackend server = Served.blkMemory(context, socket, 4L << 20, 1, 256)) {
            Dictionary<String, Object> p = new Hashtable<>();
            p.put("device.type", "blk");
            p.put("backend.type", "user");
            p.put("target", socket.toString());
            org.osgi.service.cm.Configuration cfg = cm.getFactoryConfiguration(DeviceRegistry.DEVICE_FACTORY_PID, "io", "?");
            cfg.update(p);
            try {
                DeviceInfo d = Await.until(WAIT_MS,
                        () -> registry.device("io").filter(i -> i.status() != DeviceInfo.Status.WAITING).orElse(null));
                assertNotNull("device io settled; last " + registry.device("io"), d);
                assertEquals(d.toString(), DeviceInfo.Status.BOUND, d.status());
                BlockDevice dev = registry.deviceApi("io", BlockDevice.class).orElseThrow();
                assertEquals(4L << 20, dev.info().capacityBytes());
                try (Arena arena = Arena.ofShared()) {
                    MemorySegment out = arena.allocate(64 * 1024, 4096);
                    for (long o = 0; o < out.byteSize(); o += 8) {
                        out.set(ValueLayout.JAVA_LONG_UNALIGNED, o, o * 31 + 7);
                    }
                    dev.write(0, 128 * 1024, out).get(10, TimeUnit.SECONDS);
                    dev.flush(0).get(10, TimeUnit.SECONDS);
                    MemorySegment in = arena.allocate(64 * 1024, 4096);
                    dev.read(0, 128 * 1024, in).get(10, TimeUnit.SECONDS);
                    assertArrayEquals(out.toArray(ValueLayout.JAVA_BYTE), in.toArray(ValueLayout.JAVA_BYTE));

                    // vhost:snapshot / vhost:restore through the registry: a snapshot taken right
                    // after restoring one equals it, the data stays, and refusals name the reason.
                    byte[] s1 = registry.snapshot("io");
                    for (int i = 0; i < 40; i++) {
                        dev.write(0, (1L << 20) + (long) i * 4096, out.asSlice(0, 4096)).get(10, TimeUnit.SECONDS);
                    }
                    String restored = registry.restore("io", s1);
                    assertTrue(restored, restored.startsWith("io restored on "));
                    assertArrayEquals("snapshot after restore equals the one restored", s1, registry.snapshot("io"));
                    dev.read(0, 128 * 1024, in).get(10, TimeUnit.SECONDS);
                    assertArrayEquals(out.toArray(ValueLayout.JAVA_BYTE), in.toArray(ValueLayout.JAVA_BYTE));
                    try {
                        registry.restore("io", new byte[] {1, 2, 3});
                        fail("a garbage snapshot was accepted");
                    } catch (com.vhost.api.VirtioDeviceException e) {
                        assertTrue(e.getMessage(), e.getMessage().contains("truncated snapshot of 3 bytes"));
                    }
                    try {
                        registry.snapshot("nosuch");
                        fail("snapshot of an unknown device");
                    } catch (com.vhost.api.VirtioDeviceException e) {
                        assertTrue(e.getMessage(), e.getMessage().contains("no device 'nosuch'"));
                    }
                    assertEquals(Long.valueOf(2), registry.counters("io").get("registry.snapshots"));
                    assertEquals(Long.valueOf(1), registry.counters("io").get("registry.restores"));
                }
            } finally {
                cfg.delete();
                Await.until(WAIT_MS, () -> registry.device("io").isEmpty() ? Boolean.TRUE : null);
            }
        }
        assertFalse("socket removed when the server closed", Files.exists(socket));
        Files.deleteIfExists(dir);
    }
}
