package com.vhost.integration;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNotEquals;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertTrue;
import static org.ops4j.pax.exam.CoreOptions.options;

import com.vhost.api.VhostBackend;
import com.vhost.api.VhostOps;
import com.vhost.api.VhostTarget;
import com.vhost.api.backend.ServedBackend;
import com.vhost.api.registry.BackendInfo;
import com.vhost.api.registry.DeviceInfo;
import com.vhost.api.registry.DeviceRegistry;
import com.vhost.api.registry.VirtioDriverFactory;
import com.vhost.api.virtio.VirtioFeatures;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Dictionary;
import java.util.Hashtable;
import java.util.List;
import java.util.Optional;
import javax.inject.Inject;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.ops4j.pax.exam.Configuration;
import org.ops4j.pax.exam.Option;
import org.ops4j.pax.exam.junit.PaxExam;
import org.ops4j.pax.exam.spi.reactors.ExamReactorStrategy;
import org.ops4j.pax.exam.spi.reactors.PerClass;
import org.osgi.framework.Bundle;
import org.osgi.framework.BundleContext;
import org.osgi.framework.Constants;
import org.osgi.framework.ServiceRegistration;
import org.osgi.service.cm.ConfigurationAdmin;
import org.osgi.util.tracker.ServiceTracker;

/**
 * The platform inside Felix: every bundle starts, the registry binds devices configured through
 * Configuration Admin to VhostOps services and follows them as they come and go, bad
 * configurations are reported, and the embedded vhost-user back-end negotiates with the vhost-user
 * front-end. {@link BlkIoTest} adds real block I/O once the virtio-blk driver exists.
 */
@RunWith(PaxExam.class)
@ExamReactorStrategy(PerClass.class)
public class PlatformTest {
    static final long WAIT_MS = 10_000;

    @Inject
    private BundleContext context;

    /** Injected (and held for the whole class) by Pax Exam: Felix's is a ServiceFactory, so a tracker closed early would invalidate it. */
    @Inject
    private ConfigurationAdmin cm;

    @Inject
    private DeviceRegistry registry;

    @Configuration
    public Option[] config() {
        return options(PlatformOptions.platform());
    }

    private <T> T service(Class<T> type) throws InterruptedException {
        ServiceTracker<T, T> t = new ServiceTracker<>(context, type, null);
        t.open();
        try {
            T s = t.waitForService(WAIT_MS);
            assertNotNull("no " + type.getName() + " service within " + WAIT_MS + " ms", s);
            return s;
        } finally {
            t.close();
        }
    }

    private Bundle bundle(String bsn) {
        for (Bundle b : context.getBundles()) {
            if (bsn.equals(b.getSymbolicName())) {
                return b;
            }
        }
        return null;
    }

    org.osgi.service.cm.Configuration device(String name, Dictionary<String, Object> props) throws Exception {
        org.osgi.service.cm.Configuration c = cm.getFactoryConfiguration(DeviceRegistry.DEVICE_FACTORY_PID, name, "?");
        c.update(props);
        return c;
    }

    static Dictionary<String, Object> blk(String target) {
        Dictionary<String, Object> p = new Hashtable<>();
        p.put("device.type", "blk");
        p.put("backend.type", "user");
        p.put("target", target);
        return p;
    }

    /** Waits until the device's info satisfies {@code test}; fails with its last state otherwise. */
    DeviceInfo awaitDevice(String id, java.util.function.Predicate<DeviceInfo> test,
            String what) throws InterruptedException {
        DeviceInfo d = Await.until(WAIT_MS, () -> registry.device(id).filter(test).orElse(null));
        assertNotNull("device " + id + " never became " + what + "; last: " + registry.device(id), d);
        return d;
    }

    @Test
    public void everyBundleResolvesAndStarts() throws Exception {
        String notActive = Await.until(WAIT_MS, () -> {
            List<String> bad = new ArrayList<>();
            for (Bundle b : context.getBundles()) {
                boolean fragment = b.getHeaders().get(Constants.FRAGMENT_HOST) != null;
                int want = fragment ? Bundle.RESOLVED : Bundle.ACTIVE;
                if (b.getState() != want) {
                    bad.add(b.getSymbolicName() + " state " + b.getState());
                }
            }
            return bad.isEmpty() ? "" : null;
        });
        List<String> states = new ArrayList<>();
        for (Bundle b : context.getBundles()) {
            states.add(b.getSymbolicName() + "=" + b.getState());
        }
        assertEquals("bundles not active: " + states, "", notActive);
        for (String bsn : PlatformOptions.VHOST_BUNDLES) {
            Bundle b = bundle(bsn);
            assertNotNull(bsn + " is installed", b);
            assertEquals(bsn + " is ACTIVE", Bundle.ACTIVE, b.getState());
        }
    }

    /**
     * Implementation packages stay private: a vhost bundle exports only API packages
     * ({@code com.vhost.api*}) or the SPI for backend and device bundle authors
     * ({@code com.vhost.spi.*}), each with a version; the others reach implementations through
     * services.
     */
    @Test
    public void vhostBundlesExportOnlyApiAndSpiPackages() throws Exception {
        List<String> wrong = new ArrayList<>();
        for (String bsn : PlatformOptions.VHOST_BUNDLES) {
            Bundle b = bundle(bsn);
            assertNotNull(bsn + " is installed", b);
            org.osgi.framework.wiring.BundleRevision rev = b.adapt(org.osgi.framework.wiring.BundleRevision.class);
            for (org.osgi.framework.wiring.BundleCapability c
                    : rev.getDeclaredCapabilities(org.osgi.framework.namespace.PackageNamespace.PACKAGE_NAMESPACE)) {
                String pkg = (String) c.getAttributes().get(org.osgi.framework.namespace.PackageNamespace.PACKAGE_NAMESPACE);
                Object version = c.getAttributes().get(org.osgi.framework.namespace.PackageNamespace.CAPABILITY_VERSION_ATTRIBUTE);
                boolean apiOrSpi = pkg.equals("com.vhost.api") || pkg.startsWith("com.vhost.api.") || pkg.startsWith("com.vhost.spi.");
                if (!apiOrSpi || org.osgi.framework.Version.emptyVersion.equals(version)) {
                    wrong.add(bsn + " exports " + pkg + ";version=" + version);
                }
            }
        }
        assertEquals("exports other than versioned API/SPI packages: " + wrong, List.of(), wrong);
    }

    @Test
    public void registryAndShellCommandsAreServices() throws Exception {
        assertNotNull(registry.devices());
        ServiceTracker<Object, Object> gogo = new ServiceTracker<>(context,
                context.createFilter("(&(osgi.command.scope=vhost)(osgi.command.function=devices))"), null);
        gogo.open();
        try {
            assertNotNull("Gogo commands vhost:devices registered", gogo.waitForService(WAIT_MS));
        } finally {
            gogo.close();
        }
    }

    @Test
    public void registryBindsConfiguredDeviceAndFollowsItsBackend() throws Exception {
        Doubles.FakeOps a = new Doubles.FakeOps("itest-a", "/tmp/itest");
        Doubles.FakeOps b = new Doubles.FakeOps("itest-b", "/tmp/itest");
        Doubles.FakeFactory factory = new Doubles.FakeFactory();
        ServiceRegistration<VhostOps> regA = context.registerService(VhostOps.class, a, ops("itest-a", 0));
        ServiceRegistration<VhostOps> regB = null;
        Dictionary<String, Object> fp = new Hashtable<>();
        fp.put(VirtioDriverFactory.DEVICE_TYPE, "blk");
        fp.put("itest", "true");
        ServiceRegistration<VirtioDriverFactory> regF = context.registerService(VirtioDriverFactory.class, factory, fp);
        Dictionary<String, Object> p = blk("/tmp/itest-1.sock");
        p.put("queues", 2);
        p.put("backend.target", "(vhost.backend.name=itest-*)");
        p.put("factory.target", "(&(vhost.device.type=blk)(itest=true))");
        org.osgi.service.cm.Configuration cfg = device("itest1", p);
        try {
            DeviceInfo d = awaitDevice("itest1", i -> i.status() == DeviceInfo.Status.BOUND, "BOUND");
            assertEquals("itest-a", d.backendName());
            assertEquals("/tmp/itest-1.sock", d.target());
            assertTrue(d.detail(), d.detail().contains("fake blk, 2 queue(s)"));
            assertEquals(1, a.opened.size());
            assertEquals("/tmp/itest-1.sock", a.opened.get(0).path);
            assertEquals(Optional.of("handle:fake:/tmp/itest-1.sock"),
                    registry.deviceApi("itest1", CharSequence.class).map(Object::toString));
            assertTrue(registry.backends().stream().map(BackendInfo::name).anyMatch("itest-a"::equals));

            // A better-ranked backend arrives: greedy rebinding closes the old driver and its backend.
            regB = context.registerService(VhostOps.class, b, ops("itest-b", 10));
            awaitDevice("itest1", i -> "itest-b".equals(i.backendName()) && i.status() == DeviceInfo.Status.BOUND,
                    "BOUND to itest-b");
            assertTrue("first driver closed", factory.created.get(0).closed.get());
            assertTrue("first backend closed", a.opened.get(0).closed.get());

            // It leaves again: back to itest-a.
            regB.unregister();
            regB = null;
            awaitDevice("itest1", i -> "itest-a".equals(i.backendName()) && i.status() == DeviceInfo.Status.BOUND,
                    "BOUND to itest-a again");
            assertTrue("itest-b's connection closed", b.opened.get(0).closed.get());

            // No backend left: WAITING, and the driver is closed before unbind returns.
            regA.unregister();
            regA = null;
            DeviceInfo w = awaitDevice("itest1",
                    i -> i.status() == DeviceInfo.Status.WAITING && i.detail().contains("no user backend"), "WAITING");
            assertEquals(null, w.backendName());
            assertTrue(factory.created.get(factory.created.size() - 1).closed.get());
        } finally {
            cfg.delete();
            if (regA != null) {
                regA.unregister();
            }
            if (regB != null) {
                regB.unregister();
            }
            regF.unregister();
        }
        assertNotNull("device removed with its configuration",
                Await.until(WAIT_MS, () -> registry.device("itest1").isEmpty() ? Boolean.TRUE : null));
    }

    @Test
    public void badConfigurationsFailAloneWithTheirReason() throws Exception {
        Doubles.FakeOps a = new Doubles.FakeOps("itest-c", "/tmp/itest");
        Doubles.FakeFactory factory = new Doubles.FakeFactory();
        ServiceRegistration<VhostOps> regA = context.registerService(VhostOps.class, a, ops("itest-c", 0));
        Dictionary<String, Object> fp = new Hashtable<>();
        fp.put(VirtioDriverFactory.DEVICE_TYPE, "blk");
        fp.put("itest", "true");
        ServiceRegistration<VirtioDriverFactory> regF = context.registerService(VirtioDriverFactory.class, factory, fp);
        List<org.osgi.service.cm.Configuration> cfgs = new ArrayList<>();
        try {
            Dictionary<String, Object> ok = scoped(blk("/tmp/itest-ok.sock"));
            cfgs.add(device("good", ok));
            Dictionary<String, Object> badSize = scoped(blk("/tmp/itest-2.sock"));
            badSize.put("queue.size", "100");
            cfgs.add(device("badsize", badSize));
            Dictionary<String, Object> badNumber = scoped(blk("/tmp/itest-3.sock"));
            badNumber.put("queues", "two");
            cfgs.add(device("badnumber", badNumber));
            Dictionary<String, Object> badType = scoped(blk("/tmp/itest-4.sock"));
            badType.put("backend.type", "floppy");
            cfgs.add(device("badtype", badType));
            Dictionary<String, Object> missing = scoped(blk("/nonexistent/vhost.sock"));
            cfgs.add(device("missing", missing));
            Dictionary<String, Object> kernel = blk("/tmp/itest-5.sock");
            kernel.put("backend.type", "kernel");
            cfgs.add(device("kernelonly", kernel));

            awaitDevice("good", i -> i.status() == DeviceInfo.Status.BOUND, "BOUND");
            DeviceInfo s = awaitDevice("badsize", i -> i.status() == DeviceInfo.Status.FAILED, "FAILED");
            assertTrue(s.detail(), s.detail().contains("queue.size") && s.detail().contains("power of two"));
            DeviceInfo n = awaitDevice("badnumber", i -> i.status() == DeviceInfo.Status.FAILED, "FAILED");
            assertTrue(n.detail(), n.detail().contains("queues") && n.detail().contains("'two'"));
            DeviceInfo t = awaitDevice("badtype", i -> i.status() == DeviceInfo.Status.FAILED, "FAILED");
            assertTrue(t.detail(), t.detail().contains("backend.type") && t.detail().contains("floppy"));
            DeviceInfo m = awaitDevice("missing", i -> i.status() == DeviceInfo.Status.FAILED, "FAILED");
            assertTrue(m.detail(), m.detail().contains("/nonexistent/vhost.sock") && m.detail().contains("No such file"));
            assertEquals("an unusable target is never opened", 1, a.opened.size());
            // backend.type=kernel must never bind the user backend, whatever its ranking.
            Thread.sleep(200);
            DeviceInfo k = registry.device("kernelonly").orElseThrow();
            assertNotEquals(DeviceInfo.Status.BOUND, k.status());
            assertNotEquals("itest-c", k.backendName());
            // The good device kept working through all of that.
            assertEquals(DeviceInfo.Status.BOUND, registry.device("good").orElseThrow().status());
        } finally {
            for (org.osgi.service.cm.Configuration c : cfgs) {
                c.delete();
            }
            regA.unregister();
            regF.unregister();
        }
    }

    @Test
    public void userBackendIsRegistered() throws Exception {
        VhostOps ops = userOps();
        assertEquals("user", ops.type().id());
        assertTrue(registry.backends().stream()
                .anyMatch(b -> b.type().id().equals("user") && "com.vhost.user".equals(b.bundle())));
    }

    @Test
    public void embeddedBackendNegotiatesWithTheUserFrontEnd() throws Exception {
        Path dir = Files.createTempDirectory("vhost-itest");
        Path socket = dir.resolve("blk.sock");
        try (ServedBackend server = Served.blkMemory(context, socket, 4L << 20, 1, 256)) {
            VhostOps ops = userOps();
            assertEquals(Optional.empty(), ops.unusableReason(VhostTarget.of(socket.toString())));
            try (VhostBackend backend = ops.open(VhostTarget.of(socket.toString()))) {
                backend.setOwner();
                long features = backend.getFeatures();
                assertTrue("VERSION_1 offered: 0x" + Long.toHexString(features),
                        (features & (1L << VirtioFeatures.F_VERSION_1)) != 0);
                assertEquals("the server offers what the model offers (plus vhost-user bits)",
                        server.model().device().features(), features & server.model().device().features());
                assertTrue(backend.describe(), backend.isConnected());
            }
            assertTrue("server saw the connection", server.acceptedConnections() >= 1);
        }
        assertFalse("socket removed when the server closed", Files.exists(socket));
        Files.deleteIfExists(dir);
    }

    VhostOps userOps() throws Exception {
        ServiceTracker<VhostOps, VhostOps> t = new ServiceTracker<>(context,
                context.createFilter("(&(objectClass=" + VhostOps.class.getName() + ")(vhost.backend.type=user)(!(vhost.backend.name=itest-*)))"),
                null);
        t.open();
        try {
            VhostOps ops = t.waitForService(WAIT_MS);
            assertNotNull("a VhostOps with vhost.backend.type=user from com.vhost.user", ops);
            return ops;
        } finally {
            t.close();
        }
    }

    private static Dictionary<String, Object> scoped(Dictionary<String, Object> p) {
        p.put("backend.target", "(vhost.backend.name=itest-*)");
        p.put("factory.target", "(&(vhost.device.type=blk)(itest=true))");
        return p;
    }

    private static Dictionary<String, Object> ops(String name, int ranking) {
        Dictionary<String, Object> p = new Hashtable<>();
        p.put(VhostOps.BACKEND_TYPE, "user");
        p.put(VhostOps.BACKEND_NAME, name);
        p.put(Constants.SERVICE_RANKING, ranking);
        return p;
    }
}
