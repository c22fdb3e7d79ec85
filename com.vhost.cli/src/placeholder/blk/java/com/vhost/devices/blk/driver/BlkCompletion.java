package com.vhost.devices.blk.driver;

/** COMPILE-ONLY placeholder of the agreed signature (see src/placeholder/README.md). */
@FunctionalInterface
public interface BlkCompletion {
    void complete(long tag, int status);
}
