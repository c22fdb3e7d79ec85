package com.vhost.devices.net.model;

import com.vhost.api.net.VirtioNet;
import com.vhost.api.virtio.VirtioDevice;
import com.vhost.spi.testing.TestRingDriver;
import com.vhost.spi.testing.TestRingDriver.Buf;
import com.vhost.spi.testing.VirtioDeviceLifecycleTest;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * {@link LoopbackNetModel} passes the shared life-cycle test. A request on the transmit queue is
 * one frame (header + 60 bytes), completed whether or not a receive buffer waits; a request on
 * the receive queue is one posted buffer, filled by a frame injected from the host side
 * ({@link LoopbackNetModel#inject}), since a receive buffer completes only when a frame arrives.
 */
class LoopbackNetModelLifecycleTest extends VirtioDeviceLifecycleTest {
    private LoopbackNetModel current;

    @Override
    protected VirtioDevice createDevice() {
        current = LoopbackNetModel.withDefaults(1);
        return current;
    }

    @Override
    protected void submitRequest(TestRingDriver driver) {
        int index = driver.config(-1, -1).index();
        if (index == VirtioNet.rxQueue(0)) {
            byte[] frame = new byte[60];
            java.util.Arrays.fill(frame, 0, 6, (byte) 0xFF);
            frame[12] = (byte) 0x88;
            frame[13] = (byte) 0xB5;
            if (!current.inject(0, frame)) {
                throw new IllegalStateException("inject refused");
            }
            long buf = driver.alloc(2048);
            driver.submit(new Buf(buf, 2048, true));
        } else {
            long buf = driver.alloc(VirtioNet.HDR_SIZE + 60);
            MemorySegment m = driver.at(buf, VirtioNet.HDR_SIZE + 60);
            m.fill((byte) 0);
            m.set(ValueLayout.JAVA_BYTE, VirtioNet.HDR_SIZE + 12, (byte) 0x88);
            driver.submit(new Buf(buf, VirtioNet.HDR_SIZE + 60, false));
        }
    }
}
