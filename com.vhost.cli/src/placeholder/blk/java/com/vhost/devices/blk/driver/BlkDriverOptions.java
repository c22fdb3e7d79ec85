package com.vhost.devices.blk.driver;

/** COMPILE-ONLY placeholder of the agreed signature (see src/placeholder/README.md). */
public record BlkDriverOptions(int queues, int queueSize, boolean poll, long bufferPoolBytes) {
    public static BlkDriverOptions defaults() {
        throw new UnsupportedOperationException("compile-only placeholder");
    }
}
