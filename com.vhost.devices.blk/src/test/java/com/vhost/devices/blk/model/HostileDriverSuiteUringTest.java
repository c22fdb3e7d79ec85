package com.vhost.devices.blk.model;

import org.junit.jupiter.api.BeforeAll;

/** The hostile-driver suite against the blk model with {@code aio=io_uring}. */
class HostileDriverSuiteUringTest extends HostileDriverSuiteTest {
    @BeforeAll
    void ioUringAvailable() {
        UringAvailable.require();
    }

    @Override
    FileBlockModel.Aio aio() {
        return FileBlockModel.Aio.IO_URING;
    }
}
