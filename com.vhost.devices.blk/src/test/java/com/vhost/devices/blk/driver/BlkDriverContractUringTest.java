package com.vhost.devices.blk.driver;

import com.vhost.devices.blk.model.FileBlockModel;
import com.vhost.devices.blk.model.UringAvailable;
import org.junit.jupiter.api.BeforeAll;

/**
 * The blk driver contract again with every own back-end on {@code aio=io_uring}: rebinds, held
 * requests, snapshots, a SIGKILLed back-end process, all under a verified workload, so requests in
 * flight in an io_uring when a ring stops (GET_VRING_BASE) are completed once and none is lost.
 */
class BlkDriverContractUringTest extends BlkDriverContractTest {
    @BeforeAll
    static void ioUringAvailable() {
        UringAvailable.require();
    }

    @Override
    FileBlockModel.Aio aio() {
        return FileBlockModel.Aio.IO_URING;
    }
}
