package com.vhost.devices.net.driver;

import com.vhost.api.VhostBackend;
import com.vhost.api.VhostTarget;
import com.vhost.api.registry.DeviceConfigKeys;
import com.vhost.api.virtio.VirtioDevice;
import com.vhost.kernel.VhostKernelOps;
import com.vhost.spi.testing.KGuest;
import com.vhost.spi.testing.TestRingDriver;
import com.vhost.spi.vhost.GenericVhostDevice;
import java.util.IdentityHashMap;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;

/**
 * The shared device life-cycle suite for the virtio-net front-end on the kernel's vhost-net
 * ({@code /dev/vhost-net}) serving a TAP in a network namespace the test creates: activate,
 * sleep (rings detached from the TAP, bases read), snapshot, wake, restore, reset and
 * re-activation. A receive request is fed by a frame written on the TAP's wire (an AF_PACKET
 * socket); written while the device sleeps, it waits in the TAP's queue until wake. Runs inside
 * the 6.12 kernel guest.
 */
class VhostNetLifecycleIT extends NetFrontendLifecycleSupport {
    private static final String TAP = "vtlc0";
    private final Map<VirtioDevice, GenericVhostDevice> vhosts = new IdentityHashMap<>();
    private TapNamespace ns;
    private TapNamespace.PacketSocket wire;

    @BeforeEach
    void requireDevice() throws Exception {
        KGuest.require("vhost_net and tun modules (scripts/kguest)", "/dev/vhost-net", "/dev/net/tun");
        ns = TapNamespace.create();
    }

    @AfterEach
    void closeNamespace() {
        if (ns != null) {
            ns.close();
        }
    }

    /**
     * One TAP queue takes one vhost-net attach at a time, and the TAP goes with its fd: a new
     * device closes the ones made before (the suite no longer uses them once it asks for another)
     * and gets a fresh TAP, brought up, and a fresh wire socket.
     */
    @Override
    protected VirtioDevice createDevice() throws Exception {
        vhosts.values().forEach(GenericVhostDevice::close);
        if (wire != null) {
            wire.close();
            wire = null;
        }
        VhostBackend b = ns.call(() -> new VhostKernelOps().open(new VhostTarget("/dev/vhost-net", Map.of(DeviceConfigKeys.OPTION_TAP, TAP))));
        GenericVhostDevice vhost;
        try {
            ns.up(TAP);
            wire = ns.packetSocket(TAP);
            vhost = new GenericVhostDevice(b, 2);
        } catch (Exception e) {
            b.close();
            throw e;
        }
        VirtioNetFrontend fe = new VirtioNetFrontend(vhost, 1, 256, new byte[] {0x02, 0, 0, 0, 0, 0x10});
        vhosts.put(fe, vhost);
        return fe;
    }

    @Override
    protected void releaseDevice(VirtioDevice device) {
        vhosts.get(device).close();
    }

    @Override
    protected void feedReceive(TestRingDriver rx) throws Exception {
        wire.send(frame());
    }
}
