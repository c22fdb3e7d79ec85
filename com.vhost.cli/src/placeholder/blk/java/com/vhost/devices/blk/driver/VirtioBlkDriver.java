package com.vhost.devices.blk.driver;

import com.vhost.api.blk.BlockDevice;

/** COMPILE-ONLY placeholder of the agreed signature (see src/placeholder/README.md). */
public abstract class VirtioBlkDriver implements BlockDevice {
    public BlkRequestQueue queue(int index) {
        throw new UnsupportedOperationException("compile-only placeholder");
    }
}
