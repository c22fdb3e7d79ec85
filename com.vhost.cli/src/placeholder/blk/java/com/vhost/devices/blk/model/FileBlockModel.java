package com.vhost.devices.blk.model;

import com.vhost.api.virtio.VirtioDevice;
import java.nio.file.Path;

/** COMPILE-ONLY placeholder of the agreed signature (see src/placeholder/README.md). */
public abstract class FileBlockModel implements VirtioDevice {
    public static FileBlockModel open(Path image, boolean readOnly, int numQueues, int queueSize) throws Exception {
        throw new UnsupportedOperationException("compile-only placeholder");
    }

    public static FileBlockModel inMemory(long capacityBytes, int numQueues, int queueSize) throws Exception {
        throw new UnsupportedOperationException("compile-only placeholder");
    }
}
