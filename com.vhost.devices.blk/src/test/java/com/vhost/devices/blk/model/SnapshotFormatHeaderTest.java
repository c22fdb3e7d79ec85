package com.vhost.devices.blk.model;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.jar.Manifest;
import org.junit.jupiter.api.Test;

/**
 * The bundle declares the snapshot format its models write and read (Vhost-Snapshot-Writes and
 * Vhost-Snapshot-Reads, which the daemon's bundle_update checks before a live upgrade) as the
 * version {@link FileBlockModel} writes: a format change without a header change would let an update
 * through that the new model then refuses.
 */
class SnapshotFormatHeaderTest {
    @Test
    void theManifestDeclaresTheFormatTheModelWrites() throws Exception {
        Path mf = Path.of("target/classes/META-INF/MANIFEST.MF");
        assertThat(mf).as("bnd wrote the manifest before the tests").exists();
        try (InputStream in = Files.newInputStream(mf)) {
            Manifest m = new Manifest(in);
            String format = "blk.model:" + FileBlockModel.SNAPSHOT_VERSION;
            assertThat(m.getMainAttributes().getValue("Vhost-Snapshot-Writes")).isEqualTo(format);
            assertThat(m.getMainAttributes().getValue("Vhost-Snapshot-Reads")).contains(format);
        }
    }
}
