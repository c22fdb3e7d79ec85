package com.vhost.devices.blk.driver;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.vhost.devices.blk.model.FileBlockModel;
import com.vhost.spi.nativeio.IoUring;
import org.junit.jupiter.api.BeforeAll;

/**
 * The blk driver contract again with every own back-end on {@code aio=io_uring}: rebinds, held
 * requests, snapshots, a SIGKILLed back-end process, all under a verified workload, so requests in
 * flight in an io_uring when a ring stops (GET_VRING_BASE) are completed once and none is lost.
 */
class BlkDriverContractUringTest extends BlkDriverContractTest {
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
