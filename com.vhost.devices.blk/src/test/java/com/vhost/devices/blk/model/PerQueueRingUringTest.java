package com.vhost.devices.blk.model;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.vhost.spi.nativeio.IoUring;
import org.junit.jupiter.api.BeforeAll;

/** Per-ring stop and start over vhost-user with the blk model on {@code aio=io_uring}: bases stay exact. */
class PerQueueRingUringTest extends PerQueueRingTest {
    @BeforeAll
    static void ioUringAvailable() {
        String why = IoUring.unavailableReason();
        if (why != null && "true".equals(System.getenv("CI"))) {
            throw new AssertionError("io_uring is needed with CI=true: " + why);
        }
        assumeTrue(why == null, "io_uring unavailable: " + why);
    }

    @Override
    FileBlockModel.Aio aio() {
        return FileBlockModel.Aio.IO_URING;
    }
}
