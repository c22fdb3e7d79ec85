package com.vhost.spi.testing;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.jar.Manifest;

/**
 * For device bundles: their manifest declares the snapshot format their models write and read
 * (Vhost-Snapshot-Writes and Vhost-Snapshot-Reads, which the daemon's bundle_update checks before
 * a live upgrade) as the version the model writes: a format change without a header change would
 * let an update through that the new model then refuses.
 */
public final class SnapshotFormats {
    private SnapshotFormats() {}

    /**
     * Checks the module's {@code target/classes/META-INF/MANIFEST.MF} (written by bnd before the
     * tests run).
     *
     * @param format what the model writes, {@code name:version}, e.g. {@code blk.model:1}
     */
    public static void assertDeclared(String format) throws IOException {
        Path mf = Path.of("target/classes/META-INF/MANIFEST.MF");
        assertThat(mf).as("bnd wrote the manifest before the tests").exists();
        try (InputStream in = Files.newInputStream(mf)) {
            Manifest m = new Manifest(in);
            assertThat(m.getMainAttributes().getValue("Vhost-Snapshot-Writes")).isEqualTo(format);
            assertThat(m.getMainAttributes().getValue("Vhost-Snapshot-Reads")).contains(format);
        }
    }
}
