package com.vhost.integration;

import static org.ops4j.pax.exam.CoreOptions.bundle;
import static org.ops4j.pax.exam.CoreOptions.cleanCaches;
import static org.ops4j.pax.exam.CoreOptions.composite;
import static org.ops4j.pax.exam.CoreOptions.frameworkStartLevel;
import static org.ops4j.pax.exam.CoreOptions.junitBundles;
import static org.ops4j.pax.exam.CoreOptions.mavenBundle;
import static org.ops4j.pax.exam.CoreOptions.systemProperty;

import java.io.File;
import java.util.List;
import org.ops4j.pax.exam.Option;

/**
 * The platform as the tests run it: the same runtime bundles as {@code platform/vhost.bndrun}
 * (SCR, Configuration Admin, Gogo runtime, picocli, slf4j through SPI Fly) from the local Maven
 * repository, and the reactor's own bundles from their {@code target/} jars of this build.
 */
final class PlatformOptions {
    private PlatformOptions() {}

    /** The reactor's bundles, in start order. */
    static final List<String> VHOST_BUNDLES = List.of(
            "com.vhost.api", "com.vhost.runtime", "com.vhost.user", "com.vhost.kernel", "com.vhost.vdpa", "com.vhost.devices.blk",
            "com.vhost.devices.net", "com.vhost.registry", "com.vhost.cli");

    static Option platform() {
        return platformWithout(List.of());
    }

    /** @return the reactor jar of bundle {@code name} from this build */
    static File reactorJar(String name) {
        String reactor = System.getProperty("vhost.reactor.dir", "..");
        String version = System.getProperty("vhost.version", "0.1.0-SNAPSHOT");
        return new File(reactor, name + "/target/" + name + "-" + version + ".jar");
    }

    /**
     * The platform without some of the reactor's bundles (installed later by a test, e.g. through
     * FileInstall's deploy folder).
     */
    static Option platformWithout(List<String> left) {
        String reactor = System.getProperty("vhost.reactor.dir", "..");
        String version = System.getProperty("vhost.version", "0.1.0-SNAPSHOT");
        String slf4j = System.getProperty("vhost.slf4j.version", "2.0.20");
        List<String> names = VHOST_BUNDLES.stream().filter(n -> !left.contains(n)).toList();
        Option[] own = new Option[names.size()];
        for (int i = 0; i < own.length; i++) {
            String name = names.get(i);
            File jar = new File(reactor, name + "/target/" + name + "-" + version + ".jar");
            own[i] = bundle(jar.toURI().toString()).startLevel(4);
        }
        return composite(
                cleanCaches(),
                frameworkStartLevel(10),
                systemProperty("org.slf4j.simpleLogger.defaultLogLevel").value("info"),
                // System.out looked up per line (not cached), so LogCapture can tee it.
                systemProperty("org.slf4j.simpleLogger.logFile").value("System.out"),
                systemProperty("org.slf4j.simpleLogger.cacheOutputStream").value("false"),
                systemProperty("org.slf4j.simpleLogger.showDateTime").value("true"),
                systemProperty("org.slf4j.simpleLogger.dateTimeFormat").value("HH:mm:ss.SSS"),
                // slf4j-api 2 finds its provider through SPI Fly, which must be active before any
                // bundle calls LoggerFactory: Pax Exam's own bundles (extender, inject, invoker) do at
                // start level 2, so the logging bundles start at level 1, in this order (SPI Fly,
                // then the API it weaves, then the provider it registers). pax.exam.logging=none
                // (integration/pom.xml) keeps Pax Exam's pax-logging-api out (a second org.slf4j
                // exporter), and no slf4j provider may be on the test class path (see the pom).
                mavenBundle("org.ow2.asm", "asm").versionAsInProject().startLevel(1),
                mavenBundle("org.ow2.asm", "asm-commons").versionAsInProject().startLevel(1),
                mavenBundle("org.ow2.asm", "asm-util").versionAsInProject().startLevel(1),
                mavenBundle("org.ow2.asm", "asm-tree").versionAsInProject().startLevel(1),
                mavenBundle("org.ow2.asm", "asm-analysis").versionAsInProject().startLevel(1),
                mavenBundle("org.apache.aries.spifly", "org.apache.aries.spifly.dynamic.bundle").versionAsInProject().startLevel(1),
                mavenBundle("org.slf4j", "slf4j-api").version(slf4j).startLevel(1),
                mavenBundle("org.slf4j", "slf4j-simple").version(slf4j).startLevel(1),
                mavenBundle("org.osgi", "org.osgi.util.function").versionAsInProject().startLevel(3),
                mavenBundle("org.osgi", "org.osgi.util.promise").versionAsInProject().startLevel(3),
                mavenBundle("org.osgi", "org.osgi.service.component").versionAsInProject().startLevel(3),
                mavenBundle("org.apache.felix", "org.apache.felix.scr").versionAsInProject().startLevel(3),
                mavenBundle("org.apache.felix", "org.apache.felix.configadmin").versionAsInProject().startLevel(3),
                mavenBundle("org.apache.felix", "org.apache.felix.gogo.runtime").versionAsInProject().startLevel(3),
                mavenBundle("info.picocli", "picocli").versionAsInProject().startLevel(3),
                composite(own),
                junitBundles());
    }
}
