package com.vhost.devices.blk.model;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.vhost.spi.nativeio.IoUring;
import org.junit.jupiter.api.BeforeAll;

/** The hostile-driver suite against the blk model with {@code aio=io_uring}. */
class HostileDriverSuiteUringTest extends HostileDriverSuiteTest {
    @BeforeAll
    void ioUringAvailable() {
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
