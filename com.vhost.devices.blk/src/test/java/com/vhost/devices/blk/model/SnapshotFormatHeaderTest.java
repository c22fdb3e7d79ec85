package com.vhost.devices.blk.model;

import com.vhost.spi.testing.SnapshotFormats;
import org.junit.jupiter.api.Test;

/** The bundle's snapshot format headers name the version {@link BlkModelSnapshot} writes. */
class SnapshotFormatHeaderTest {
    @Test
    void theManifestDeclaresTheFormatTheModelWrites() throws Exception {
        SnapshotFormats.assertDeclared("blk.model:" + BlkModelSnapshot.VERSION);
    }
}
