package com.vhost.devices.blk.model;

import org.junit.jupiter.api.BeforeAll;

/** The dirty-log pages (data, status, used ring) with the blk model on {@code aio=io_uring}: marked when each CQE completes its chain. */
class DirtyLogOverVhostUserUringTest extends DirtyLogOverVhostUserTest {
    @BeforeAll
    static void ioUringAvailable() {
        UringAvailable.require();
    }

    @Override
    FileBlockModel.Aio aio() {
        return FileBlockModel.Aio.IO_URING;
    }
}
