package com.vhost.integration;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertSame;
import static org.junit.Assert.assertTrue;
import static org.ops4j.pax.exam.CoreOptions.mavenBundle;
import static org.ops4j.pax.exam.CoreOptions.options;
import static org.ops4j.pax.exam.CoreOptions.systemProperty;

import com.vhost.api.blk.BlockDevice;
import com.vhost.api.registry.DeviceInfo;
import com.vhost.api.registry.DeviceRegistry;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
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

/**
 * The platform's folders, watched by Felix FileInstall: a device configuration file in
 * {@code conf/} ({@code com.vhost.device-disk0.cfg}) is loaded at start; the vhost-user backend
 * bundle ({@code com.vhost.user}, left out of the initial bundles) dropped into {@code deploy/} is
 * installed and started, the device binds to it and does I/O; removing the jar uninstalls the
 * bundle and the device is detached, its {@link BlockDevice} handle kept. The back-end is this
 * project's own, served by {@code vhost.jar serve blk} in a separate process (stopped by PID).
 */
@RunWith(PaxExam.class)
@ExamReactorStrategy(PerClass.class)
public class DeployFolderTest {
    static final long WAIT_MS = 20_000;
    /** Fixed (in this module's target/, private to this build) so that the configuration (test JVM) and the test (inside Felix) agree on it. */
    static final Path BASE = Path.of(System.getProperty("user.dir"), "target", "vhost-deploy-itest");
    static final Path CONF = BASE.resolve("conf");
    static final Path DEPLOY = BASE.resolve("deploy");
    static final Path SOCKET = BASE.resolve("blk.sock");

    @Inject
    private BundleContext context;

    @Inject
    private DeviceRegistry registry;

    @Configuration
    public Option[] config() throws IOException {
        if (Files.exists(BASE)) {
            try (Stream<Path> s = Files.walk(BASE)) {
                s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
        Files.createDirectories(CONF);
        Files.createDirectories(DEPLOY);
        Files.writeString(CONF.resolve("com.vhost.device-disk0.cfg"), String.join("\n",
                "# a virtio-blk device on the own back-end's socket",
                "device.type = blk",
                "backend.type = user",
                "target = " + SOCKET,
                "queues = 1",
                "queue.size = 128",
                "swap.wait.ms = 5000",
                ""));
        return options(
                PlatformOptions.platformWithout(List.of("com.vhost.user")),
                mavenBundle("org.apache.felix", "org.apache.felix.fileinstall").versionAsInProject().startLevel(4),
                systemProperty("felix.fileinstall.dir").value(CONF + "," + DEPLOY),
                systemProperty("felix.fileinstall.poll").value("200"),
                systemProperty("felix.fileinstall.noInitialDelay").value("true"),
                // as platform/vhost.bndrun: FileInstall never writes configurations back into conf/
                systemProperty("felix.fileinstall.enableConfigSave").value("false"),
                systemProperty("felix.fileinstall.filter").value(".*\\.(cfg|config|jar)"));
    }

    private Bundle userBundle() {
        for (Bundle b : context.getBundles()) {
            if ("com.vhost.user".equals(b.getSymbolicName()) && b.getState() != Bundle.UNINSTALLED) {
                return b;
            }
        }
        return null;
    }

    @Test
    public void confAndDeployFoldersBringUpADeviceAndABackendBundle() throws Exception {
        // While the framework settles (FileInstall, SCR, the driver factory) the device may pass
        // through another state; it must reach WAITING for a user backend within the bound.
        DeviceInfo waiting = Await.until(WAIT_MS, () -> registry.device("disk0")
                .filter(d -> d.status() == DeviceInfo.Status.WAITING).orElse(null));
        assertNotNull("device disk0 from conf/com.vhost.device-disk0.cfg never WAITING; devices " + registry.devices(), waiting);
        assertTrue(waiting.detail(), waiting.detail().startsWith("no user backend"));

        Process serve = startOwnBackEnd();
        try {
            Files.copy(PlatformOptions.reactorJar("com.vhost.user").toPath(), DEPLOY.resolve("com.vhost.user.jar"),
                    StandardCopyOption.REPLACE_EXISTING);
            assertNotNull("com.vhost.user installed from deploy/",
                    Await.until(WAIT_MS, () -> userBundle() != null && userBundle().getState() == Bundle.ACTIVE ? Boolean.TRUE : null));
            DeviceInfo bound = Await.until(WAIT_MS,
                    () -> registry.device("disk0").filter(d -> d.status() == DeviceInfo.Status.BOUND).orElse(null));
            assertNotNull("disk0 bound to the deployed backend; last " + registry.device("disk0"), bound);
            assertEquals("user", bound.backendName());

            BlockDevice dev = registry.deviceApi("disk0", BlockDevice.class).orElseThrow();
            try (Arena arena = Arena.ofShared()) {
                MemorySegment out = arena.allocate(16 * 1024, 4096);
                for (long o = 0; o < out.byteSize(); o += 8) {
                    out.set(ValueLayout.JAVA_LONG_UNALIGNED, o, o * 131 + 5);
                }
                dev.write(0, 64 * 1024, out).get(10, TimeUnit.SECONDS);
                MemorySegment in = arena.allocate(16 * 1024, 4096);
                dev.read(0, 64 * 1024, in).get(10, TimeUnit.SECONDS);
                assertEquals(-1, in.mismatch(out));
            }

            Files.delete(DEPLOY.resolve("com.vhost.user.jar"));
            assertNotNull("com.vhost.user uninstalled when its jar left deploy/",
                    Await.until(WAIT_MS, () -> userBundle() == null ? Boolean.TRUE : null));
            DeviceInfo detached = Await.until(WAIT_MS,
                    () -> registry.device("disk0").filter(d -> d.status() == DeviceInfo.Status.WAITING).orElse(null));
            assertNotNull("disk0 waiting for a backend; last " + registry.device("disk0"), detached);
            assertTrue(detached.detail(), detached.detail().startsWith("detached from user"));
            assertSame("the application's handle is kept while detached", dev,
                    registry.deviceApi("disk0", BlockDevice.class).orElseThrow());
        } finally {
            serve.toHandle().destroy();
            if (!serve.waitFor(5, TimeUnit.SECONDS)) {
                serve.toHandle().destroyForcibly();
                serve.waitFor(5, TimeUnit.SECONDS);
            }
        }
    }

    /** {@code vhost.jar serve blk --memory 4m --socket SOCKET} in its own JVM; waits (bounded) for the socket. */
    private static Process startOwnBackEnd() throws Exception {
        Path jar = Path.of(System.getProperty("vhost.reactor.dir", ".."), "platform", "target", "vhost.jar").toAbsolutePath();
        assertTrue("the platform module exported " + jar, Files.exists(jar));
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-Dfelix.fileinstall.dir=" + BASE.resolve("serve-fileinstall"),
                "-jar", jar.toString(), "serve", "blk", "--memory", "4m", "--socket", SOCKET.toString()));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(BASE.resolve("serve.log").toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!Files.exists(SOCKET)) {
            if (!p.isAlive() || System.nanoTime() > deadline) {
                p.toHandle().destroyForcibly();
                p.waitFor(5, TimeUnit.SECONDS);
                throw new AssertionError("vhost serve blk did not create " + SOCKET + ": " + Files.readString(BASE.resolve("serve.log")));
            }
            Thread.sleep(50);
        }
        return p;
    }
}
