package com.vhost.devices.blk.driver;


import com.vhost.api.VhostBackend;
import com.vhost.api.VhostTarget;
import com.vhost.api.blk.VirtioBlk;
import com.vhost.api.virtio.VirtioDevice;
import com.vhost.spi.testing.KGuest;
import com.vhost.spi.testing.TestRingDriver;
import com.vhost.spi.testing.TestRingDriver.Buf;
import com.vhost.spi.testing.VirtioDeviceLifecycleTest;
import com.vhost.spi.vhost.GenericVhostDevice;
import com.vhost.vdpa.VhostVdpaOps;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.IdentityHashMap;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;

/**
 * The shared device life-cycle suite for the virtio-blk front-end on the real vhost-vdpa driver
 * (vdpa_sim_blk, {@code /dev/vhost-vdpa-1}): activate, sleep (rings stopped, bases read), snapshot,
 * wake, restore, snapshot equality, reset and re-activation. Runs inside the 6.12 kernel guest.
 */
class VdpaBlkLifecycleIT extends VirtioDeviceLifecycleTest {
    private static final String BLK = "/dev/vhost-vdpa-1";
    private final Map<VirtioDevice, GenericVhostDevice> vhosts = new IdentityHashMap<>();

    @BeforeEach
    void requireDevice() {
        KGuest.require("vhost_vdpa + vdpa_sim_blk (scripts/kguest)", BLK);
    }

    /**
     * The vDPA node can be open once at a time (EBUSY): a new device closes the ones made before,
     * which the suite no longer uses once it asks for another.
     */
    @Override
    protected VirtioDevice createDevice() throws Exception {
        vhosts.values().forEach(GenericVhostDevice::close);
        VhostBackend b = new VhostVdpaOps().open(VhostTarget.of(BLK));
        GenericVhostDevice vhost = new GenericVhostDevice(b, 1);
        VirtioBlkFrontend fe = new VirtioBlkFrontend(vhost, 1, 256);
        vhosts.put(fe, vhost);
        return fe;
    }

    @Override
    protected void releaseDevice(VirtioDevice device) {
        vhosts.get(device).close();
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
