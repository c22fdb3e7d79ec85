package com.vhost.cli;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Enumeration;
import java.util.List;
import java.util.Set;
import java.util.jar.JarInputStream;
import java.util.jar.Manifest;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import org.osgi.framework.Bundle;
import org.osgi.framework.BundleContext;
import org.osgi.framework.BundleException;
import org.osgi.framework.Constants;
import org.osgi.framework.startlevel.BundleStartLevel;

/**
 * Installs the bundle jars a bnd-exported jar embeds ({@code jar/*.jar}, e.g. platform/target/web.jar)
 * that the framework does not have yet (by symbolic name), at a start level, marked to start when
 * the framework reaches it.
 */
final class EmbeddedBundles {
    /** System property naming the web bundles' jar; default {@code web.jar} beside {@code vhost.jar}. */
    static final String WEB_JAR_PROPERTY = "vhost.web.jar";

    private EmbeddedBundles() {}

    /**
     * @return the web bundles' jar: {@value #WEB_JAR_PROPERTY}, else {@code web.jar} in the folder of
     *     the {@code vhost.jar} on the class path (fast start and {@code java -jar} both have it)
     * @throws IllegalStateException when neither names an existing file
     */
    static Path webJar() {
        String given = System.getProperty(WEB_JAR_PROPERTY);
        if (given != null) {
            return existing(Path.of(given));
        }
        for (String e : System.getProperty("java.class.path", "").split(File.pathSeparator)) {
            Path p = Path.of(e);
            if (p.getFileName() != null && p.getFileName().toString().equals("vhost.jar")) {
                return existing(p.toAbsolutePath().resolveSibling("web.jar"));
            }
        }
        throw new IllegalStateException("no vhost.jar on the class path to find web.jar beside: set -D" + WEB_JAR_PROPERTY + "=PATH");
    }

    private static Path existing(Path p) {
        if (!Files.isRegularFile(p)) {
            throw new IllegalStateException("the web bundles' jar " + p + " is missing: build the platform module (it exports web.bndrun)");
        }
        return p;
    }

    /** @return the jars of the export's {@code Embedded-Runpath} (the framework and the launcher: not bundles to install) */
    private static Set<String> runpath(ZipFile zip) throws IOException {
        Set<String> r = new HashSet<>();
        ZipEntry mf = zip.getEntry("META-INF/MANIFEST.MF");
        if (mf != null) {
            try (InputStream in = zip.getInputStream(mf)) {
                String v = new Manifest(in).getMainAttributes().getValue("Embedded-Runpath");
                if (v != null) {
                    for (String p : v.split(",")) {
                        r.add(p.split(";")[0].trim());
                    }
                }
            }
        }
        return r;
    }

    /**
     * Installs every {@code jar/*.jar} but the {@code Embedded-Runpath} ones of {@code jar} whose symbolic name no installed bundle has,
     * at {@code startLevel}, and marks it (fragments aside) to start at that level.
     *
     * @return the symbolic names installed
     * @throws IOException when the jar cannot be read
     * @throws BundleException when the framework refuses a bundle
     */
    static List<String> install(BundleContext context, Path jar, int startLevel) throws IOException, BundleException {
        Set<String> present = new HashSet<>();
        for (Bundle b : context.getBundles()) {
            present.add(b.getSymbolicName());
        }
        List<String> installed = new ArrayList<>();
        try (ZipFile zip = new ZipFile(jar.toFile())) {
            Set<String> runpath = runpath(zip);
            Enumeration<? extends ZipEntry> entries = zip.entries();
            while (entries.hasMoreElements()) {
                ZipEntry e = entries.nextElement();
                if (!e.getName().startsWith("jar/") || !e.getName().endsWith(".jar") || runpath.contains(e.getName())) {
                    continue;
                }
                Manifest m;
                try (JarInputStream in = new JarInputStream(zip.getInputStream(e))) {
                    m = in.getManifest();
                }
                String bsn = m == null ? null : m.getMainAttributes().getValue(Constants.BUNDLE_SYMBOLICNAME);
                if (bsn == null) {
                    continue;
                }
                bsn = bsn.split(";")[0].trim();
                if (!present.add(bsn)) {
                    continue;
                }
                Bundle b;
                try (InputStream in = zip.getInputStream(e)) {
                    b = context.installBundle("vhost-web:" + e.getName(), in);
                }
                b.adapt(BundleStartLevel.class).setStartLevel(startLevel);
                if (m.getMainAttributes().getValue(Constants.FRAGMENT_HOST) == null) {
                    b.start();
                }
                installed.add(bsn);
            }
        }
        return installed;
    }
}
