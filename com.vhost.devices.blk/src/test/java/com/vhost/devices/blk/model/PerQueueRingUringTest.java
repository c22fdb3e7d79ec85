package com.vhost.devices.blk.model;

import org.junit.jupiter.api.BeforeAll;

/** Per-ring stop and start over vhost-user with the blk model on {@code aio=io_uring}: bases stay exact. */
class PerQueueRingUringTest extends PerQueueRingTest {
    @BeforeAll
    static void ioUringAvailable() {
        UringAvailable.require();
    }

    @Override
    FileBlockModel.Aio aio() {
        return FileBlockModel.Aio.IO_URING;
    }
}
