package com.vhost.devices.blk.model;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.vhost.spi.nativeio.IoUring;

/** Test guard for the io_uring variants: with {@code CI=true} a host without io_uring fails, elsewhere the test skips saying why. */
public final class UringAvailable {
    private UringAvailable() {}

    /** Fails (CI) or aborts (elsewhere) the calling test when this process cannot set up an io_uring. */
    public static void require() {
        String why = IoUring.unavailableReason();
        if (why != null && "true".equals(System.getenv("CI"))) {
            throw new AssertionError("io_uring is needed with CI=true: " + why);
        }
        assumeTrue(why == null, "io_uring unavailable: " + why);
    }
}
