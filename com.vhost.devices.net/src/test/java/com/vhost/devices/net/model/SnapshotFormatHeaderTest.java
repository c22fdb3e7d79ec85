package com.vhost.devices.net.model;

import com.vhost.spi.testing.SnapshotFormats;
import org.junit.jupiter.api.Test;

/** The bundle's snapshot format headers name the version {@link AbstractNetModel} writes. */
class SnapshotFormatHeaderTest {
    @Test
    void theManifestDeclaresTheFormatTheModelWrites() throws Exception {
        SnapshotFormats.assertDeclared("net.model:" + AbstractNetModel.SNAPSHOT_VERSION);
    }
}
