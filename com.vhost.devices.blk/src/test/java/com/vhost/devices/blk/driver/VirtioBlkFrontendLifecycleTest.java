package com.vhost.devices.blk.driver;

import com.vhost.api.blk.VirtioBlk;
import com.vhost.api.virtio.VirtioDevice;
import com.vhost.spi.testing.TestRingDriver;
import com.vhost.spi.testing.TestRingDriver.Buf;
import com.vhost.spi.testing.VirtioDeviceLifecycleTest;
import com.vhost.spi.vhost.GenericVhostDevice;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.IdentityHashMap;
import java.util.Map;

/**
 * {@link VirtioBlkFrontend} passes the shared life-cycle test: its queues run in a vhost back-end
 * (here {@link EmulatedBlkBackend}, which maps the test's guest memory a second time), and sleep/wake
 * go through GET_VRING_BASE / SET_VRING_BASE.
 */
class VirtioBlkFrontendLifecycleTest extends VirtioDeviceLifecycleTest {
    private final Map<VirtioDevice, GenericVhostDevice> vhosts = new IdentityHashMap<>();
    private final Map<VirtioDevice, EmulatedBlkBackend> backends = new IdentityHashMap<>();

    @Override
    protected VirtioDevice createDevice() throws Exception {
        EmulatedBlkBackend b = new EmulatedBlkBackend(VirtioBlkDriverTest.BASE_FEATURES, 1 << 20, 65536, 32, 2);
        GenericVhostDevice vhost = new GenericVhostDevice(b, 2);
        VirtioBlkFrontend fe = new VirtioBlkFrontend(vhost, 2, 64);
        vhosts.put(fe, vhost);
        backends.put(fe, b);
        return fe;
    }

    @Override
    protected void releaseDevice(VirtioDevice device) {
        vhosts.get(device).close();
        backends.get(device).release();
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
