package com.vhost.devices.blk.model;

import org.junit.jupiter.api.BeforeAll;

/** DEVICE_STATE save/load/check between blk models on {@code aio=io_uring}. */
class DeviceStateUringTest extends DeviceStateTest {
    @BeforeAll
    static void ioUringAvailable() {
        UringAvailable.require();
    }

    @Override
    FileBlockModel.Aio aio() {
        return FileBlockModel.Aio.IO_URING;
    }
}
