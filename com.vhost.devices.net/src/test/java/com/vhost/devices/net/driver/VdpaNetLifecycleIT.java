package com.vhost.devices.net.driver;

import com.vhost.api.VhostBackend;
import com.vhost.api.VhostTarget;
import com.vhost.api.virtio.VirtioDevice;
import com.vhost.spi.testing.KGuest;
import com.vhost.spi.testing.TestRingDriver;
import com.vhost.spi.vhost.GenericVhostDevice;
import com.vhost.vdpa.VhostVdpaOps;
import java.util.IdentityHashMap;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;

/**
 * The shared device life-cycle suite for the virtio-net front-end on vhost-vdpa with vdpa_sim_net
 * ({@code /dev/vhost-vdpa-0}), which loops each transmitted frame into the next receive buffer: a
 * receive request is fed by one broadcast frame put on the transmit ring beside it (and its kick).
 * vdpa_sim_net serves neither ring unless both are ready, so the partial activation of the suite
 * starts receive and transmit together. Sleep suspends the device (VHOST_VDPA_SUSPEND) before
 * reading the bases. Runs inside the 6.12 kernel guest.
 */
class VdpaNetLifecycleIT extends NetFrontendLifecycleSupport {
    private static final String NET = "/dev/vhost-vdpa-0";
    private final Map<VirtioDevice, GenericVhostDevice> vhosts = new IdentityHashMap<>();

    @BeforeEach
    void requireDevice() {
        KGuest.require("vhost_vdpa + vdpa_sim_net (scripts/kguest)", NET);
    }

    /** The vDPA node can be open once at a time (EBUSY): a new device closes the ones made before. */
    @Override
    protected VirtioDevice createDevice() throws Exception {
        vhosts.values().forEach(GenericVhostDevice::close);
        VhostBackend b = new VhostVdpaOps().open(VhostTarget.of(NET));
        GenericVhostDevice vhost;
        try {
            vhost = new GenericVhostDevice(b, 2);
        } catch (Exception e) {
            b.close();
            throw e;
        }
        VirtioNetFrontend fe = new VirtioNetFrontend(vhost, 1, 256, new byte[] {0x02, 0, 0, 0, 0, 0x11});
        vhosts.put(fe, vhost);
        return fe;
    }

    @Override
    protected void releaseDevice(VirtioDevice device) {
        vhosts.get(device).close();
    }

    @Override
    protected void feedReceive(TestRingDriver rx) throws Exception {
        submitTxFrame(txBeside(rx));
        kick(txKickFd());
    }

    @Override
    protected int queuesActivatedFirst() {
        return 2;
    }
}
