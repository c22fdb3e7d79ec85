package com.vhost.devices.blk.driver;

import java.lang.foreign.MemorySegment;

/** COMPILE-ONLY placeholder of the agreed signature (see src/placeholder/README.md). */
public final class BlkRequestQueue {
    public boolean submit(int type, long offset, MemorySegment buffer, long tag) throws Exception {
        throw new UnsupportedOperationException("compile-only placeholder");
    }

    public void kick() throws Exception {
        throw new UnsupportedOperationException("compile-only placeholder");
    }

    public int poll(BlkCompletion h) throws Exception {
        throw new UnsupportedOperationException("compile-only placeholder");
    }

    public int await(BlkCompletion h, long timeoutNanos) throws Exception {
        throw new UnsupportedOperationException("compile-only placeholder");
    }
}
