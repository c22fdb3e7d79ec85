package com.vhost.devices.blk.model;

import com.vhost.api.blk.VirtioBlk;
import com.vhost.api.virtio.VirtioDevice;
import com.vhost.spi.testing.TestRingDriver;
import com.vhost.spi.testing.TestRingDriver.Buf;
import com.vhost.spi.testing.VirtioDeviceLifecycleTest;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/** {@link FileBlockModel} passes the shared life-cycle test (memfd disk, 2 queues of 64). */
class FileBlockModelLifecycleTest extends VirtioDeviceLifecycleTest {
    @Override
    protected VirtioDevice createDevice() throws Exception {
        return FileBlockModel.inMemory(1 << 20, 2, 64);
    }

    /** A GET_ID request: header, 20-byte id buffer, status. */
    @Override
    protected void submitRequest(TestRingDriver driver) {
        long hdr = driver.alloc(16);
        MemorySegment h = driver.at(hdr, 16);
        h.set(ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0, VirtioBlk.T_GET_ID);
        h.set(ValueLayout.JAVA_LONG_UNALIGNED, 8, 0L);
        long id = driver.alloc(VirtioBlk.ID_BYTES);
        long status = driver.alloc(1);
        driver.submit(new Buf(hdr, 16, false), new Buf(id, VirtioBlk.ID_BYTES, true), new Buf(status, 1, true));
    }
}
