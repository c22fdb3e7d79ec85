package com.vhost.devices.blk.driver;

import com.vhost.api.VhostBackend;

/** COMPILE-ONLY placeholder of the agreed signature (see src/placeholder/README.md). */
public final class BlockDevices {
    private BlockDevices() {}

    public static VirtioBlkDriver open(VhostBackend backend, BlkDriverOptions options) throws Exception {
        throw new UnsupportedOperationException("compile-only placeholder");
    }
}
